"""Client load for the fault tests: worker threads repeat a login (and a pull) against the real servers, bounded in
time and count, and every outcome is recorded with its time and kind, so a test can count the errors inside an
outage window apart from those after recovery."""

from __future__ import annotations

import hashlib
import http.client
import itertools
import json
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import urljoin

import requests
import urllib3

from clients.oci import LAYER_MEDIA_TYPE

OK, AUTH, SERVER, CONNECTION = "ok", "auth", "server", "connection"
MANIFEST_TYPES = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
RESULTS = Path(__file__).resolve().parents[2] / ".test-reports"  # outlives .localenv (the last test removes it)


def kind_of(response: requests.Response) -> str:
    if response.status_code in (200, 201, 202):
        return OK
    return AUTH if response.status_code in (401, 403) else SERVER


def closed_before_response(error: requests.ConnectionError) -> bool:
    """The server closed a kept-alive connection before answering. Go's HTTP client (docker, skopeo) sends such
    a GET again on a new connection, so the load does the same, once; a refused or timed-out request is not this."""
    cause = error.args[0] if error.args else None
    reason = cause.args[1] if isinstance(cause, urllib3.exceptions.ProtocolError) and len(cause.args) > 1 else None
    return isinstance(reason, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError))


def login(session: requests.Session, env: dict, user: dict, scope: str) -> tuple[str, Optional[str]]:
    """A docker-v2 login (HTTP Basic, as docker and skopeo send it): its kind and the token."""
    response = session.get(env["token_realm"], params={"service": env["service"], "scope": scope},
                           auth=(user["username"], user["password"]), timeout=30)
    kind = kind_of(response)
    return kind, response.json()["token"] if kind == OK else None


def login_and_pull(env: dict, user: dict, registry: dict, repository: str) -> Callable[[requests.Session], str]:
    """One pull as a client makes it: a fresh login, then the manifest and its first layer."""
    def action(session: requests.Session) -> str:
        kind, token = login(session, env, user, f"repository:{repository}:pull")
        if kind != OK:
            return kind
        headers = {"Authorization": f"Bearer {token}", "Accept": MANIFEST_TYPES}
        manifest = session.get(f"{registry['url']}/v2/{repository}/manifests/1", headers=headers, timeout=30)
        if kind_of(manifest) != OK:
            return kind_of(manifest)
        layer = manifest.json()["layers"][0]["digest"]
        return kind_of(session.get(f"{registry['url']}/v2/{repository}/blobs/{layer}", headers=headers, timeout=30))
    return action


def login_push_and_pull(env: dict, user: dict, registry: dict, repository: str, config: dict,
                        errors: list[str]) -> Callable[[requests.Session], str]:
    """One push and pull as a client makes them: a fresh login (pull and push); a new layer uploaded in chunks
    (POST, PATCH, PUT: behind a Service each may reach another replica, which must know the upload); a manifest of
    ``config`` (a blob the repository has) and that layer under a new tag; then the manifest and the layer back.
    What failed, with its step and status, goes to ``errors``."""
    counter = itertools.count()

    def step(response: requests.Response, name: str) -> str:
        kind = kind_of(response)
        if kind != OK:
            errors.append(f"{name} {response.status_code} {response.text[:120]!r}")
        return kind

    def action(session: requests.Session) -> str:
        kind, token = login(session, env, user, f"repository:{repository}:pull,push")
        if kind != OK:
            errors.append(f"login {kind}")
            return kind
        auth = {"Authorization": f"Bearer {token}"}
        layer = os.urandom(256 * 1024)
        digest = f"sha256:{hashlib.sha256(layer).hexdigest()}"
        url = f"{registry['url']}/v2/{repository}"
        started = session.post(f"{url}/blobs/uploads/", headers=auth, timeout=30)
        if step(started, "upload start") != OK:
            return kind_of(started)
        location = urljoin(registry["url"], started.headers["Location"])
        for offset in range(0, len(layer), 128 * 1024):
            chunk = layer[offset:offset + 128 * 1024]
            patched = session.patch(location, data=chunk, timeout=30, headers={
                **auth, "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + len(chunk) - 1}"})
            if step(patched, "upload chunk") != OK:
                return kind_of(patched)
            location = urljoin(registry["url"], patched.headers["Location"])
        done = session.put(location, params={"digest": digest}, headers=auth, timeout=30)
        if step(done, "upload end") != OK:
            return kind_of(done)
        tag = f"w{threading.get_ident() % 100000}-{next(counter)}"
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": config,
                    "layers": [{"mediaType": LAYER_MEDIA_TYPE, "digest": digest, "size": len(layer)}]}
        put = session.put(f"{url}/manifests/{tag}", data=json.dumps(manifest), timeout=30, headers={
            **auth, "Content-Type": manifest["mediaType"]})
        if step(put, "manifest put") != OK:
            return kind_of(put)
        got = session.get(f"{url}/manifests/{tag}", headers={**auth, "Accept": MANIFEST_TYPES}, timeout=30)
        if step(got, "manifest get") != OK:
            return kind_of(got)
        blob = session.get(f"{url}/blobs/{digest}", headers=auth, timeout=30)
        if step(blob, "layer get") != OK:
            return kind_of(blob)
        if blob.content != layer:
            errors.append(f"layer get: {digest} came back different")
            return SERVER
        return OK
    return action


@dataclass
class Load:
    """``workers`` threads repeating ``action`` until ``stop()`` or ``max_seconds`` (never unbounded)."""

    action: Callable[[requests.Session], str]
    workers: int
    max_seconds: float
    max_per_worker: int = 100_000
    outcomes: list[tuple[float, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # what each connection error said, for the report
    resent: list[str] = field(default_factory=list)  # closed before a response, then sent again as docker would

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(self.workers)]

    def __enter__(self) -> "Load":
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _work(self) -> None:
        deadline = self.started + self.max_seconds
        with requests.Session() as session:
            for _ in range(self.max_per_worker):
                if self._stop.is_set() or time.monotonic() > deadline:
                    return
                kind = self._attempt(session, resend=True)
                with self._lock:
                    self.outcomes.append((time.monotonic(), kind))

    def _attempt(self, session: requests.Session, resend: bool) -> str:
        try:
            return self.action(session)
        except (requests.ConnectionError, requests.Timeout) as error:
            again = resend and isinstance(error, requests.ConnectionError) and closed_before_response(error)
            with self._lock:
                (self.resent if again else self.failures).append(f"{time.monotonic() - self.started:.1f}s {error!r}")
            return self._attempt(session, resend=False) if again else CONNECTION

    def counts(self, since: float = 0.0, until: float = float("inf")) -> Counter:
        with self._lock:
            return Counter(kind for at, kind in self.outcomes if since <= at < until)


def report(name: str, figures: dict) -> None:
    """What a fault test measured, printed and kept as .test-reports/<name>.json (for the closing note)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(figures, indent=2, default=str))
    print(f"{name}: {json.dumps(figures, default=str)}")
