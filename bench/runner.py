"""scripts/bench: what users wait for, measured on the local environment.

Every figure that matters is a ratio or a distribution measured side by side in the same run (docker-v2 tokens
vs Keycloak's OIDC password grant, token-auth registries vs the same binaries without auth), because the
machines are shared and absolute times drift. One table on stdout; the same figures as JSON under
.localenv/bench/; progress on stderr. No password is ever printed or written.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import functools
import http.client
import http.cookiejar
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import requests
import yaml

from clients.oci import write_oci_layout
from clients.skopeo import Skopeo
from clients.tokens import refresh_form, request_token, token_query
from components.registry import CONFIG_FILE, CONFIG_SECRET
from localenv import pods, processes
from localenv.environment import OTHER_LINE_NAME, ROOT, LocalEnvironment, node_port_service, registry_copy
from localenv.processes import ServerError
from localenv.stack import EngineError
from settings import Resources
from support.mock_program import run_program, stack_file_config

SECTIONS = ("tokens", "refresh", "throughput", "engine", "program", "memory")
ENVIRONMENT_SECTIONS = {"tokens", "refresh", "throughput", "engine", "memory"}  # `program` needs no running servers
CONCURRENCY_LEVELS = (1, 8, 32)
TOKEN_KINDS = ("docker-v2", "oidc")
REFRESH_KINDS = ("password", "refresh")  # docker login's GET with the password, and the refresh grant after it
TOKEN_SCOPE = "repository:bench/image:pull,push"
REQUEST_TIMEOUT = 30
STACKS = ("dev", "staging", "prod", "local")
# Registries without auth, beside the environment's token-auth ones: their NodePorts.
NO_AUTH_PORTS = {"3": 31600, "2.8": 31628}
BENCH_REPOSITORY = "bench/image"
BENCH_TAG = "bench"
# Targets: what a user should not notice (token auth costs almost no throughput; the program stays quick).
THROUGHPUT_TARGET = 0.97  # token auth >= 97% of the no-auth MB/s
REFRESH_P50_TARGET_MS = 5.0  # a refresh grant's median at concurrency 1
REFRESH_RATE_TARGET = 10.0  # refresh grants per second >= 10x password tokens per second at the highest concurrency
MOCK_PREVIEW_TARGET_S = 3.0
UNIT_SUITE_TARGET_S = 30.0


class BenchError(RuntimeError):
    """A measurement could not be taken; the message says which and why."""


@dataclass(frozen=True)
class Plan:
    """How much to measure: the full run, or a quick smoke run."""

    token_requests: int  # per kind and concurrency level
    token_deadline_s: float  # per concurrency level
    warmup_requests: int  # per kind, before the first level
    layers: int
    layer_bytes: int
    rounds: int  # push/pull rounds per registry line and mode
    program_rounds: int  # mock previews per stack

    @classmethod
    def of(cls, quick: bool) -> "Plan":
        if quick:
            return cls(token_requests=64, token_deadline_s=60, warmup_requests=3, layers=10, layer_bytes=2_000_000,
                       rounds=1, program_rounds=1)
        return cls(token_requests=200, token_deadline_s=180, warmup_requests=20, layers=10, layer_bytes=20_000_000,
                   rounds=3, program_rounds=3)


def log(message: str) -> None:
    print(f"{datetime.datetime.now(datetime.timezone.utc):%H:%M:%S} bench: {message}", file=sys.stderr, flush=True)


# ===================================================================================== pure: statistics
def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linearly interpolated between the closest ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def ratio(numerator: Optional[float], denominator: Optional[float]) -> Optional[float]:
    """numerator / denominator, or None when either is missing or the denominator is zero."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def latency_summary(latencies_s: Sequence[float], errors: int, concurrency: int) -> dict[str, Any]:
    """p50/p95/p99 in ms and tokens/s of one kind of request at one concurrency.

    The kinds are interleaved, so they share the wall clock; each one's rate is what ``concurrency`` clients
    would get asking only for it at the latency it showed: concurrency / mean latency."""
    summary: dict[str, Any] = {"ok": len(latencies_s), "errors": errors}
    if latencies_s:
        summary.update({f"p{q}_ms": round(percentile(latencies_s, q) * 1000, 2) for q in (50, 95, 99)})
        summary["tokens_per_s"] = round(concurrency * len(latencies_s) / sum(latencies_s), 1)
    else:
        summary.update({"p50_ms": None, "p95_ms": None, "p99_ms": None, "tokens_per_s": None})
    return summary


def token_ratios(docker: dict[str, Any], oidc: dict[str, Any]) -> dict[str, Optional[float]]:
    """docker-v2 / OIDC of each latency percentile and of the rate: docker-v2 is no slower where the latency
    ratios are <= 1 and the rate's is >= 1."""
    return {key: _rounded(ratio(docker.get(key), oidc.get(key)), 3)
            for key in ("p50_ms", "p95_ms", "p99_ms", "tokens_per_s")}


def megabytes_per_s(size_bytes: int, seconds: float) -> float:
    return round(size_bytes / 1e6 / seconds, 1)


QUANTITY_MIB = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024 ** 2,
                "k": 1e3 / 2 ** 20, "M": 1e6 / 2 ** 20, "G": 1e9 / 2 ** 20, "T": 1e12 / 2 ** 20}


def mebibytes(quantity: str) -> float:
    """A Kubernetes memory quantity (768Mi, 2Gi, 500M, bytes) in MiB, to set beside a measured RSS."""
    for suffix in sorted(QUANTITY_MIB, key=len, reverse=True):
        if quantity.endswith(suffix):
            return float(quantity[:-len(suffix)]) * QUANTITY_MIB[suffix]
    return float(quantity) / 2 ** 20


def without_auth(config: dict, public_url: str) -> dict:
    """A registry's config.yml with its auth section dropped and upload URLs naming its own address: the same
    settings minus token auth, for the throughput baseline."""
    local = json.loads(json.dumps(config))
    local.pop("auth", None)
    local["http"]["host"] = public_url
    return local


def _rounded(value: Optional[float], digits: int) -> Optional[float]:
    return None if value is None else round(value, digits)


def _text(value: Optional[float], digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


# ===================================================================================== pure: targets
def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets (above) for the sections that ran, each with the measured value and met or not."""
    targets: list[dict[str, Any]] = []

    def add(target: str, value: str, met: bool) -> None:
        targets.append({"target": target, "value": value, "met": met})

    for level in (results.get("tokens") or {}).get("levels", []):
        c = level["concurrency"]
        errors = sum(level[kind]["errors"] for kind in TOKEN_KINDS)
        add(f"tokens: zero errors at concurrency {c}", f"{errors} errors", errors == 0)
        p95 = level["ratios"]["p95_ms"]
        add(f"tokens: docker-v2 p95 <= OIDC p95 at concurrency {c}", f"ratio {_text(p95, 3)}",
            p95 is not None and p95 <= 1)
    refresh_levels = (results.get("refresh") or {}).get("levels", [])
    for level in refresh_levels:
        errors = sum(level[kind]["errors"] for kind in REFRESH_KINDS)
        add(f"refresh: zero errors at concurrency {level['concurrency']}", f"{errors} errors", errors == 0)
    if refresh_levels:
        first, last = refresh_levels[0], refresh_levels[-1]
        p50 = first["refresh"]["p50_ms"]
        add(f"refresh: refresh-grant p50 <= {REFRESH_P50_TARGET_MS:.0f} ms at concurrency {first['concurrency']}",
            f"{_text(p50, 2)} ms", p50 is not None and p50 <= REFRESH_P50_TARGET_MS)
        rate = ratio(last["refresh"]["tokens_per_s"], last["password"]["tokens_per_s"])  # unrounded
        add(f"refresh: refresh-grant tokens/s >= {REFRESH_RATE_TARGET:.0f}x the password's at concurrency "
            f"{last['concurrency']}", f"{_text(rate, 2)}x", rate is not None and rate >= REFRESH_RATE_TARGET)
    for row in (results.get("throughput") or {}).get("rows", []):
        add(f"throughput: registry {row['line']} {row['operation']} with token auth >= "
            f"{THROUGHPUT_TARGET:.0%} of no auth", f"{_text(row['ratio'], 3)}",
            row["ratio"] is not None and row["ratio"] >= THROUGHPUT_TARGET)
    program = results.get("program") or {}
    for stack, seconds in (program.get("mock_preview_s") or {}).items():
        add(f"program: mock preview of {stack} < {MOCK_PREVIEW_TARGET_S:.0f} s", f"{seconds:.2f} s",
            seconds < MOCK_PREVIEW_TARGET_S)
    suite = program.get("unit_suite")
    if suite:
        add(f"program: unit suite < {UNIT_SUITE_TARGET_S:.0f} s (and passing)",
            f"{suite['seconds']:.1f} s, exit {suite['exit_code']}",
            suite["seconds"] < UNIT_SUITE_TARGET_S and suite["exit_code"] == 0)
    return targets


# ===================================================================================== pure: the table
def aligned(rows: Sequence[Sequence[str]], align: str, indent: str = "  ") -> list[str]:
    """Rows as text columns; ``align`` has one "<" (left) or ">" (right) per column."""
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(len(align))]
    return [indent + "  ".join(cell.ljust(widths[i]) if align[i] == "<" else cell.rjust(widths[i])
                               for i, cell in enumerate(row)).rstrip() for row in rows]


def render_table(results: dict[str, Any]) -> str:
    """The whole run as one plain-text table: a block per section that ran, then the targets."""
    lines = [f"keycloak-registry bench, {results['started_at']} ({results['host']['cpus']} cores, load "
             f"{results['host']['load_start']:.2f} -> {results['host']['load_end']:.2f}; "
             f"{'quick' if results['options']['quick'] else 'full'} run)"]
    tokens = results.get("tokens")
    if tokens:
        lines += ["", f"tokens: Keycloak docker-v2 vs OIDC password grant, interleaved, one user per client for both; "
                      f"{tokens['requests_per_kind']} of each per level"]
        rows = [["conc", "kind", "ok", "errors", "p50 ms", "p95 ms", "p99 ms", "tokens/s"]]
        for level in tokens["levels"]:
            c = str(level["concurrency"])
            for kind in TOKEN_KINDS:
                s = level[kind]
                rows.append([c, kind, str(s["ok"]), str(s["errors"]), _text(s["p50_ms"]), _text(s["p95_ms"]),
                             _text(s["p99_ms"]), _text(s["tokens_per_s"])])
            r = level["ratios"]
            rows.append([c, "docker/oidc", "", "", _text(r["p50_ms"], 2), _text(r["p95_ms"], 2), _text(r["p99_ms"], 2),
                         _text(r["tokens_per_s"], 2)])
        lines += aligned(rows, "><>>>>>>")
    refresh_section = results.get("refresh")
    if refresh_section:
        lines += ["", f"refresh: docker login's password GET vs the refresh grant of its identity token, each kind "
                      f"alone, one keep-alive connection per client; {refresh_section['requests_per_kind']} of each "
                      f"per level; Keycloak CPU (all replicas, less their idle use) per token"]
        rows = [["conc", "kind", "ok", "errors", "p50 ms", "p95 ms", "p99 ms", "tokens/s", "CPU ms/token"]]
        for level in refresh_section["levels"]:
            c = str(level["concurrency"])
            for kind in REFRESH_KINDS:
                s = level[kind]
                rows.append([c, kind, str(s["ok"]), str(s["errors"]), _text(s["p50_ms"]), _text(s["p95_ms"]),
                             _text(s["p99_ms"]), _text(s["tokens_per_s"]), _text(s["keycloak_cpu_ms_per_token"], 2)])
            x = level["speedup"]
            rows.append([c, "speedup", "", "", f"{_text(x['p50_ms'], 1)}x", f"{_text(x['p95_ms'], 1)}x", "",
                         f"{_text(x['tokens_per_s'], 1)}x", f"{_text(x['keycloak_cpu_ms_per_token'], 1)}x"])
        lines += aligned(rows, "><>>>>>>>")
    throughput = results.get("throughput")
    if throughput:
        image = throughput["image"]
        lines += ["", f"throughput: skopeo, {image['bytes'] / 1e6:.0f} MB in {image['layers']} layers, token auth "
                      f"(an identity token: every registry token from the refresh grant) vs the same registry without "
                      f"auth; median of {throughput['rounds']} round(s)"]
        rows = [["registry", "op", "auth MB/s", "no-auth MB/s", "auth/no-auth"]]
        rows += [[row["line"], row["operation"], _text(row["auth_mb_s"]), _text(row["no_auth_mb_s"]),
                  _text(row["ratio"], 3)] for row in throughput["rows"]]
        lines += aligned(rows, "<<>>>")
    engine = results.get("engine")
    if engine:
        preview = engine["noop_preview"]
        up = engine["fresh_up"]
        rows = [["no-op pulumi preview (local stack)", f"{preview['seconds']:.1f} s",
                 "no changes" if preview["exit_code"] == 0 else f"exit {preview['exit_code']}: changes or an error"]]
        if up:
            rows.append([f"fresh scripts/localenv up ({'this run' if engine['fresh_up_this_run'] else 'as recorded'})",
                         f"{up['up']:.1f} s",
                         f"control plane {up['control_plane']:.1f} s, pulumi up {up['pulumi_up']:.1f} s"])
        else:
            rows.append(["fresh scripts/localenv up", "-", "not recorded by this environment"])
        lines += ["", "engine"] + aligned(rows, "<><")
    program = results.get("program")
    if program:
        lines += ["", f"program: mock preview per stack (warm, median of {program['rounds']}), unit suite (wall)"]
        rows = [[stack, f"{seconds:.2f} s", ""] for stack, seconds in program["mock_preview_s"].items()]
        suite = program["unit_suite"]
        rows.append(["unit suite", f"{suite['seconds']:.1f} s", suite["summary"]])
        lines += aligned(rows, "<><")
    memory = results.get("memory")
    if memory:
        lines += ["", "memory: peak RSS (VmHWM) at the end of the run, beside the local stack's resource profile"]
        rows = [["process", "peak MiB", "now MiB", "request MiB", "limit MiB", "peak/limit"]]
        for m in memory:
            rows.append([m["process"], _text(m["peak_mib"], 0), _text(m["current_mib"], 0), _text(m["request_mib"], 0),
                         _text(m["limit_mib"], 0), "-" if m["limit_mib"] is None or m["peak_mib"] is None
                         else f"{m['peak_mib'] / m['limit_mib']:.0%}"])
        lines += aligned(rows, "<>>>>>")
    targets = results.get("targets")
    if targets:
        lines += ["", f"targets: {sum(t['met'] for t in targets)} of {len(targets)} met"]
        lines += aligned([["met" if t["met"] else "MISSED", t["target"], t["value"]] for t in targets], "<<<")
    return "\n".join(lines) + "\n"


# ===================================================================================== the image
def write_bench_image(directory: Path, layers: int, layer_bytes: int, seed: int = 9) -> dict[str, Any]:
    """An OCI image layout of ``layers`` gzip layers, each one file of random (incompressible) bytes, so the
    bytes on the wire are the image's size. Seeded: the same image every time. Returns its digests and size;
    bench-image.json, written last, marks the layout complete."""
    generator = random.Random(seed)
    files = [(f"bench/layer-{index}.bin", generator.randbytes(layer_bytes)) for index in range(layers)]
    summary = {**write_oci_layout(directory, BENCH_TAG, files, compresslevel=1), "layers": layers}
    (directory / "bench-image.json").write_text(json.dumps(summary, indent=2))
    return summary


def bench_image(bench_dir: Path, layers: int, layer_bytes: int) -> tuple[Path, dict[str, Any]]:
    """The generated image under .localenv/bench/, made once per size and reused."""
    directory = bench_dir / f"image-{layers}x{layer_bytes}"
    marker = directory / "bench-image.json"
    if marker.exists():
        return directory, json.loads(marker.read_text())
    log(f"generating a {layers * layer_bytes / 1e6:.0f} MB image in {layers} layers (once; cached in {directory})")
    shutil.rmtree(directory, ignore_errors=True)
    return directory, write_bench_image(directory, layers, layer_bytes)


# ===================================================================================== tokens
def token_session() -> requests.Session:
    """One connection-reusing session per worker, keeping no cookies: docker and skopeo send none."""
    session = requests.Session()
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return session


def docker_token(session: requests.Session, env_json: dict, user: dict) -> None:
    """A docker-v2 token, asked for as docker and skopeo do (GET with HTTP Basic)."""
    _checked(request_token(env_json["token_realm"], env_json["service"], user["username"], user["password"],
                           TOKEN_SCOPE, session), "token")


def oidc_token(session: requests.Session, env_json: dict, user: dict) -> None:
    """The floor: the same password check and signature through OIDC's password grant (admin-cli is every
    realm's public client with direct grants)."""
    response = session.post(f"{env_json['keycloak_url']}/realms/{env_json['realm']}/protocol/openid-connect/token",
                            data={"grant_type": "password", "client_id": "admin-cli", "username": user["username"],
                                  "password": user["password"]}, timeout=REQUEST_TIMEOUT)
    _checked(response, "access_token")


def _checked(response: requests.Response, key: str) -> None:
    """Raise unless the response is a 200 whose JSON holds ``key`` (the token)."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or key not in body:
        raise BenchError(f"HTTP {response.status_code}: {response.text[:200]}")


TOKEN_REQUESTS: dict[str, Callable[..., None]] = {"docker-v2": docker_token, "oidc": oidc_token}


@dataclass
class Samples:
    """One worker's latencies and errors for one kind of token."""

    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""

    def record(self, request: Callable[[], None]) -> None:
        started = time.perf_counter()
        try:
            request()
        except (BenchError, requests.RequestException) as error:
            self.errors += 1
            self.first_error = self.first_error or str(error)[:200]
            return
        self.latencies_s.append(time.perf_counter() - started)


def token_worker(index: int, count: int, kinds: dict[str, Callable[[Any], None]], deadline: float,
                 start: threading.Barrier, session_factory: Callable[[], Any] = token_session) -> dict[str, Samples]:
    """``count`` requests of each kind, alternating; odd workers start with another kind, so at every moment
    every kind is in flight."""
    session = session_factory()
    order = list(kinds) if index % 2 == 0 else list(kinds)[::-1]
    samples = {kind: Samples() for kind in kinds}
    start.wait(timeout=60)
    with session:
        for _ in range(count):
            for kind in order:
                if time.monotonic() > deadline:
                    return samples
                samples[kind].record(functools.partial(kinds[kind], session))
    return samples


def user_requests(env_json: dict, user: dict) -> dict[str, Callable[[requests.Session], None]]:
    """The interleaved kinds of the tokens section, for one user."""
    return {kind: functools.partial(TOKEN_REQUESTS[kind], env_json=env_json, user=user) for kind in TOKEN_KINDS}


def run_level(concurrency: int, total: int, deadline_s: float, kinds_of_worker: Callable[[int], dict[str, Callable]],
              session_factory: Callable[[], Any] = token_session) -> dict[str, Any]:
    """``total`` requests of each kind spread over ``concurrency`` workers started together: each kind's summary."""
    counts = [total // concurrency + (1 if w < total % concurrency else 0) for w in range(concurrency)]
    barrier = threading.Barrier(concurrency)
    started = time.monotonic()
    deadline = started + deadline_s
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = [pool.submit(token_worker, w, counts[w], kinds_of_worker(w), deadline, barrier, session_factory)
                   for w in range(concurrency)]
        workers = [future.result() for future in futures]
    level: dict[str, Any] = {"concurrency": concurrency, "wall_s": round(time.monotonic() - started, 2),
                             "deadline_hit": time.monotonic() > deadline}
    for kind in workers[0]:
        latencies = [x for w in workers for x in w[kind].latencies_s]
        level[kind] = latency_summary(latencies, sum(w[kind].errors for w in workers), concurrency)
        level[kind]["first_error"] = next((w[kind].first_error for w in workers if w[kind].first_error), "")
    return level


def warm_up(count: int, kinds: dict[str, Callable], deadline_s: float, what: str,
            session_factory: Callable[[], Any] = token_session) -> None:
    warmup = token_worker(0, count, kinds, time.monotonic() + deadline_s, threading.Barrier(1), session_factory)
    if any(s.errors for s in warmup.values()):
        failures = "; ".join(f"{kind}: {s.first_error}" for kind, s in warmup.items() if s.errors)
        raise BenchError(f"{what}: warm-up failed: {failures}")


def measure_tokens(env_json: dict, plan: Plan) -> dict[str, Any]:
    users = env_json["users"]
    log(f"tokens: warming up ({plan.warmup_requests} of each kind)")
    warm_up(plan.warmup_requests, user_requests(env_json, users[0]), plan.token_deadline_s, "tokens")
    levels = []
    for concurrency in CONCURRENCY_LEVELS:
        log(f"tokens: concurrency {concurrency}, {plan.token_requests} of each kind")
        level = run_level(concurrency, plan.token_requests, plan.token_deadline_s,
                          lambda w: user_requests(env_json, users[w % len(users)]))
        level["ratios"] = token_ratios(level["docker-v2"], level["oidc"])
        levels.append(level)
    return {"requests_per_kind": plan.token_requests, "scope": TOKEN_SCOPE, "levels": levels}


def refresh_token_of(env_json: dict, user: dict) -> str:
    """The identity token `docker login` would keep for the user (GET with offline_token=true)."""
    response = request_token(env_json["token_realm"], env_json["service"], user["username"], user["password"],
                             TOKEN_SCOPE, offline=True)
    _checked(response, "refresh_token")
    return response.json()["refresh_token"]


class KeepAliveClient:
    """One HTTP/1.1 connection per worker through http.client, for the refresh section: at hundreds of tokens a
    second the load generator shares the 2 cores with Keycloak, and requests costs several times its CPU."""

    def __init__(self, base_url: str):
        parts = urllib.parse.urlsplit(base_url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=REQUEST_TIMEOUT)

    def __enter__(self) -> "KeepAliveClient":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.connection.close()

    def token(self, method: str, url: str, key: str, body: Optional[str] = None,
              headers: Optional[dict[str, str]] = None) -> None:
        """Raise unless the answer is a 200 whose JSON holds ``key`` (the token)."""
        try:
            self.connection.request(method, url, body=body, headers=headers or {})
            response = self.connection.getresponse()
            data = response.read()
        except (http.client.HTTPException, OSError) as error:
            self.connection.close()  # reconnects on the next request
            raise BenchError(f"{method} {url}: {error}") from None
        if response.status != 200 or key not in json.loads(data or b"{}"):
            raise BenchError(f"HTTP {response.status}: {data[:200]!r}")


def password_token_light(client: KeepAliveClient, env_json: dict, user: dict) -> None:
    """docker login's GET with HTTP Basic, as ``docker_token`` asks it, on the light client."""
    query = urllib.parse.urlencode(token_query(env_json["service"], TOKEN_SCOPE), doseq=True)
    basic = base64.b64encode(f"{user['username']}:{user['password']}".encode()).decode()
    client.token("GET", f"{env_json['token_realm']}?{query}", "token", headers={"Authorization": f"Basic {basic}"})


def refreshed_token(client: KeepAliveClient, env_json: dict, refresh_token: str) -> None:
    """A registry token from the refresh grant, as docker and skopeo ask with an identity token."""
    body = urllib.parse.urlencode(refresh_form(env_json["service"], refresh_token, TOKEN_SCOPE), doseq=True)
    client.token("POST", env_json["token_realm"], "access_token", body=body,
                 headers={"Content-Type": "application/x-www-form-urlencoded"})


def keycloak_cpu_seconds(env: LocalEnvironment) -> float:
    """CPU time all Keycloak pods have used so far, as their cgroups account it."""
    return sum(pods.container_cpu_seconds(pod, pods.container_of(pod)) for pod in env.pods("keycloak"))


def keycloak_idle_cpu_per_s(env: LocalEnvironment, seconds: float = 2.0) -> float:
    """Keycloak's CPU use with no requests (cluster heartbeats, timers, GC), per second: not part of any token."""
    before = keycloak_cpu_seconds(env)
    time.sleep(seconds)
    return (keycloak_cpu_seconds(env) - before) / seconds


def speedups(password: dict[str, Any], refreshed: dict[str, Any]) -> dict[str, Optional[float]]:
    """How many times faster (latency, CPU) or more (rate) the refresh grant is than the password."""
    return {"p50_ms": _rounded(ratio(password["p50_ms"], refreshed["p50_ms"]), 1),
            "p95_ms": _rounded(ratio(password["p95_ms"], refreshed["p95_ms"]), 1),
            "tokens_per_s": _rounded(ratio(refreshed["tokens_per_s"], password["tokens_per_s"]), 1),
            "keycloak_cpu_ms_per_token": _rounded(ratio(password["keycloak_cpu_ms_per_token"],
                                                        refreshed["keycloak_cpu_ms_per_token"]), 1)}


def measure_refresh(env: LocalEnvironment, env_json: dict, plan: Plan) -> dict[str, Any]:
    """The password path and the refresh grant, each alone at each level (so neither's latency includes the
    other's CPU), with Keycloak's CPU per token from its cgroups."""
    users = env_json["users"]
    identity_tokens = {user["username"]: refresh_token_of(env_json, user) for user in users}

    def light_client() -> KeepAliveClient:
        return KeepAliveClient(env_json["token_realm"])

    def kind_of_worker(kind: str) -> Callable[[int], dict[str, Callable[[KeepAliveClient], None]]]:
        def requests_of(worker: int) -> dict[str, Callable[[KeepAliveClient], None]]:
            user = users[worker % len(users)]
            if kind == "password":
                return {kind: functools.partial(password_token_light, env_json=env_json, user=user)}
            return {kind: functools.partial(refreshed_token, env_json=env_json,
                                            refresh_token=identity_tokens[user["username"]])}
        return requests_of

    for kind in REFRESH_KINDS:
        log(f"refresh: warming up {kind} ({plan.warmup_requests})")
        warm_up(plan.warmup_requests, kind_of_worker(kind)(0), plan.token_deadline_s, "refresh", light_client)
    levels = []
    for concurrency in CONCURRENCY_LEVELS:
        level: dict[str, Any] = {"concurrency": concurrency}
        for kind in REFRESH_KINDS:
            log(f"refresh: concurrency {concurrency}, {plan.token_requests} {kind} tokens")
            idle = keycloak_idle_cpu_per_s(env)
            cpu_before, started = keycloak_cpu_seconds(env), time.monotonic()
            measured = run_level(concurrency, plan.token_requests, plan.token_deadline_s, kind_of_worker(kind),
                                 light_client)
            cpu = keycloak_cpu_seconds(env) - cpu_before - idle * (time.monotonic() - started)
            level[kind] = {**measured[kind], "wall_s": measured["wall_s"],
                           "keycloak_cpu_ms_per_token": _rounded(ratio(cpu * 1000, measured[kind]["ok"]), 2)}
        level["speedup"] = speedups(level["password"], level["refresh"])
        levels.append(level)
    return {"requests_per_kind": plan.token_requests, "scope": TOKEN_SCOPE, "levels": levels}


# ===================================================================================== throughput
@dataclass(frozen=True)
class RegistryTarget:
    """One registry the image goes through: a line of the environment (token auth) or its no-auth twin."""

    line: str
    url: str
    auth: bool

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[1]


class NoAuthRegistries:
    """Each line's registry Deployment copied, on a copy of its config Secret minus the auth section, behind its own
    NodePort; deleted on exit, whatever happened."""

    def __init__(self, env: LocalEnvironment, bench_dir: Path):
        self.env, self.bench_dir = env, bench_dir
        self.api, self.namespace = env.kube(), env.settings.namespace
        self.names: list[str] = []

    def __enter__(self) -> dict[str, RegistryTarget]:
        try:
            return {line: self._start(line) for line in NO_AUTH_PORTS}
        except BaseException:
            self.__exit__()
            raise

    def _path(self, kind: str, name: str) -> str:
        group = "/apis/apps/v1" if kind == "deployments" else "/api/v1"
        return f"{group}/namespaces/{self.namespace}/{kind}/{name}"

    def _start(self, line: str) -> RegistryTarget:
        source_name = "registry" if line == self.env.settings.registry.line else OTHER_LINE_NAME
        source = self.api.get(self._path("deployments", source_name))
        if not source:
            raise BenchError(f"no {source_name} Deployment: is the environment up?")
        name, url = f"bench-no-auth-{line.replace('.', '-')}", f"http://127.0.0.1:{NO_AUTH_PORTS[line]}"
        config = yaml.safe_load(self.api.secret_data(self.namespace, CONFIG_SECRET)[CONFIG_FILE])
        self.names.append(name)
        self.api.apply(self._path("secrets", name), {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": self.namespace},
            "stringData": {CONFIG_FILE: yaml.safe_dump(without_auth(config, url))}})
        image = source["spec"]["template"]["spec"]["containers"][0]["image"]
        self.api.apply(self._path("deployments", name), registry_copy(source, name, image, url, config_secret=name))
        self.api.apply(self._path("services", name), node_port_service(self.namespace, name, NO_AUTH_PORTS[line]))
        deadline = time.monotonic() + 120
        while not (self.api.deployment_available(self.namespace, name) and processes.http_ok(f"{url}/v2/")()):
            if time.monotonic() > deadline:
                raise BenchError(f"the no-auth copy of registry {line} did not become ready")
            time.sleep(1)
        return RegistryTarget(line, url, auth=False)

    def memory(self) -> list[dict[str, Any]]:
        return [row for name in self.names for row in workload_memory(self.env, name, name, None)]

    def __exit__(self, *exc_info: Any) -> None:
        for name in self.names:
            for kind in ("services", "deployments", "secrets"):
                self.api.call("DELETE", self._path(kind, name), expect=(200, 202, 404))


class BenchSkopeo:
    """Timed skopeo copies between the cached OCI layout and a registry; a failure is a BenchError."""

    def __init__(self, binary: str, bench_dir: Path):
        self.skopeo, self.bench_dir = Skopeo(bench_dir / "auth.json", binary), bench_dir

    def close(self) -> None:
        """Forget the logins: the auth file holds the user's identity token."""
        self.skopeo.authfile.unlink(missing_ok=True)

    def login(self, target: RegistryTarget, user: dict, identity_token: str) -> None:
        """As `docker login` leaves it: the identity token, no password; skopeo refreshes every registry token."""
        self.skopeo.store_identity_token(target.host, user["username"], identity_token)

    def push(self, layout: Path, target: RegistryTarget) -> float:
        return self._copy(f"oci:{layout}:{BENCH_TAG}", f"docker://{target.host}/{BENCH_REPOSITORY}:{BENCH_TAG}")

    def pull(self, target: RegistryTarget) -> float:
        destination = self.bench_dir / "pulled"
        shutil.rmtree(destination, ignore_errors=True)
        try:
            return self._copy(f"docker://{target.host}/{BENCH_REPOSITORY}:{BENCH_TAG}", f"dir:{destination}")
        finally:
            shutil.rmtree(destination, ignore_errors=True)

    def _copy(self, source: str, destination: str) -> float:
        started = time.monotonic()
        result = self.skopeo.copy(source, destination, timeout=900, quiet=True)
        seconds = time.monotonic() - started
        if result.returncode != 0:
            raise BenchError(f"skopeo copy {source} {destination} failed: {result.stderr.strip()[-800:]}")
        return seconds


def unlink_blobs(target: RegistryTarget, digests: Sequence[str], env_json: dict, user: dict) -> None:
    """Remove the image's blobs from the bench repository (the blob data stays in storage), so the next push
    uploads every byte: skopeo skips blobs the repository has and mounts those its cache saw elsewhere on the
    same registry, but never retries the destination repository."""
    headers = {}
    if target.auth:
        scope = f"repository:{BENCH_REPOSITORY}:delete"
        response = request_token(env_json["token_realm"], env_json["service"], user["username"], user["password"],
                                 scope)
        _checked(response, "token")
        headers["Authorization"] = f"Bearer {response.json()['token']}"
    for digest in digests:
        response = requests.delete(f"{target.url}/v2/{BENCH_REPOSITORY}/blobs/{digest}", headers=headers,
                                   timeout=REQUEST_TIMEOUT)
        if response.status_code not in (202, 404):
            raise BenchError(f"registry {target.line} at {target.url}: DELETE blob -> HTTP {response.status_code}: "
                             f"{response.text[:200]}")


def measure_throughput(env: LocalEnvironment, env_json: dict, bench_dir: Path, plan: Plan) -> dict[str, Any]:
    """Push then pull the image through each line's token-auth registry and its no-auth twin, alternating which
    goes first each round; median MB/s of each."""
    layout, image = bench_image(bench_dir, plan.layers, plan.layer_bytes)
    user = env_json["users"][0]
    skopeo = BenchSkopeo(env.state()["tools"]["SKOPEO"], bench_dir)
    authed = {r["line"]: RegistryTarget(r["line"], r["url"], auth=True) for r in env_json["registries"]}
    seconds: dict[tuple[str, str, bool], list[float]] = {}
    no_auth_registries = NoAuthRegistries(env, bench_dir)
    with no_auth_registries as no_auth, contextlib.closing(skopeo):
        identity_token = refresh_token_of(env_json, user)
        for target in authed.values():
            skopeo.login(target, user, identity_token)
        for line in NO_AUTH_PORTS:
            for round_index in range(plan.rounds):
                pair = [authed[line], no_auth[line]]
                order = pair if round_index % 2 == 0 else pair[::-1]
                log(f"throughput: registry {line}, round {round_index + 1} of {plan.rounds}")
                for target in order:
                    unlink_blobs(target, image["blobs"], env_json, user)
                    seconds.setdefault((line, "push", target.auth), []).append(skopeo.push(layout, target))
                for target in order:
                    seconds.setdefault((line, "pull", target.auth), []).append(skopeo.pull(target))
        memory = no_auth_registries.memory()
    rows = []
    for line in NO_AUTH_PORTS:
        for operation in ("push", "pull"):
            auth_mb_s = megabytes_per_s(image["bytes"], median(seconds[line, operation, True]))
            no_auth_mb_s = megabytes_per_s(image["bytes"], median(seconds[line, operation, False]))
            rows.append({"line": line, "operation": operation, "auth_mb_s": auth_mb_s, "no_auth_mb_s": no_auth_mb_s,
                         "ratio": _rounded(ratio(auth_mb_s, no_auth_mb_s), 3),
                         "auth_seconds": [round(s, 2) for s in seconds[line, operation, True]],
                         "no_auth_seconds": [round(s, 2) for s in seconds[line, operation, False]]})
    return {"image": {"layers": image["layers"], "bytes": image["bytes"]}, "rounds": plan.rounds, "rows": rows,
            "no_auth_memory": memory}


# ===================================================================================== engine and program
def measure_engine(env: LocalEnvironment, started_here: bool) -> dict[str, Any]:
    log("engine: no-op pulumi preview of the local stack")
    started = time.monotonic()
    result = env.stack().run("preview", "--expect-no-changes", "--non-interactive", check=False)
    return {"noop_preview": {"seconds": round(time.monotonic() - started, 2), "exit_code": result.returncode},
            "fresh_up": env.state().get("timings") or {}, "fresh_up_this_run": started_here}


def measure_program(plan: Plan) -> dict[str, Any]:
    """Each stack's mock preview (warm: one untimed run first loads the program's modules), then the unit suite
    as `scripts/test tests/unit` runs it."""
    configs = {stack: stack_file_config(stack) for stack in STACKS}
    timings: dict[str, float] = {}
    with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the table
        run_program(*configs["dev"], preview=True)
        for stack, (config, secret_keys) in configs.items():
            log(f"program: mock preview of {stack}")
            runs = []
            for _ in range(plan.program_rounds):
                started = time.perf_counter()
                run_program(config, secret_keys, preview=True)
                runs.append(time.perf_counter() - started)
            timings[stack] = round(median(runs), 3)
    log("program: unit suite")
    started = time.monotonic()
    suite = subprocess.run([str(ROOT / "venv" / "bin" / "python"), "-m", "pytest", "tests/unit", "-q", "-p",
                            "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    return {"rounds": plan.program_rounds, "mock_preview_s": timings,
            "unit_suite": {"seconds": round(time.monotonic() - started, 1), "exit_code": suite.returncode,
                           "summary": pytest_summary(suite.stdout)}}


def pytest_summary(output: str) -> str:
    """pytest's closing line ("212 passed in 27.91s"), without its ===== frame."""
    lines = [line.strip("= ") for line in output.splitlines() if line.strip("= ")]
    return lines[-1] if lines else "no output"


# ===================================================================================== memory
def workload_memory(env: LocalEnvironment, component: str, label: str,
                    resources: Optional[Resources]) -> list[dict[str, Any]]:
    """Peak and current memory of each pod's container as its cgroup accounts it, beside what the stack declares."""
    rows = []
    for pod in env.pods(component):
        try:
            memory = pods.container_memory(pod, pods.container_of(pod))
        except (pods.PodNotRunning, OSError):
            continue
        rows.append({"process": label, "pod": pod["metadata"]["name"], "peak_mib": memory.peak_mib,
                     "current_mib": memory.current_mib,
                     "request_mib": _rounded(mebibytes(resources.memory_request), 1) if resources else None,
                     "limit_mib": memory.limit_mib})
    return rows


def measure_memory(env: LocalEnvironment) -> list[dict[str, Any]]:
    settings = env.settings
    return [*workload_memory(env, "keycloak", "keycloak", settings.keycloak.resources),
            *workload_memory(env, "database", settings.database.engine, settings.database.resources),
            *workload_memory(env, "registry", f"registry-{settings.registry.line}", settings.registry.resources),
            *workload_memory(env, OTHER_LINE_NAME, "registry-other-line", settings.registry.resources)]


# ===================================================================================== main
def utc_stamp() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 64 tokens of each kind per level, a 20 MB image, one round")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated subset of {','.join(SECTIONS)} (default: all)")
    options = parser.parse_args(argv)
    options.sections = [s.strip() for s in options.sections.split(",") if s.strip()]
    unknown = set(options.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    return options


def run(options: argparse.Namespace) -> dict[str, Any]:
    plan = Plan.of(options.quick)
    results: dict[str, Any] = {"started_at": utc_stamp(),
                               "options": {"quick": options.quick, "sections": options.sections},
                               "host": {"cpus": os.cpu_count(), "load_start": os.getloadavg()[0]}}
    env = LocalEnvironment()
    started_here, env_json = False, {}
    if ENVIRONMENT_SECTIONS & set(options.sections):
        started_here = not env.running()
        if started_here:
            log("the local environment is not running: starting it (about 2 minutes)")
        env_json = env.up()
        results["versions"] = env.state().get("versions") or {}
    bench_dir = env.state_dir / "bench"
    (bench_dir / "logs").mkdir(parents=True, exist_ok=True)
    if "tokens" in options.sections:
        results["tokens"] = measure_tokens(env_json, plan)
    if "refresh" in options.sections:
        results["refresh"] = measure_refresh(env, env_json, plan)
    if "throughput" in options.sections:
        results["throughput"] = measure_throughput(env, env_json, bench_dir, plan)
    if "engine" in options.sections:
        results["engine"] = measure_engine(env, started_here)
    if "program" in options.sections:
        results["program"] = measure_program(plan)
    if "memory" in options.sections:
        results["memory"] = measure_memory(env) + (results.get("throughput") or {}).get("no_auth_memory", [])
    results["host"]["load_end"] = os.getloadavg()[0]
    results["finished_at"] = utc_stamp()
    results["targets"] = evaluate_targets(results)
    document = json.dumps(results, indent=2) + "\n"
    (bench_dir / f"bench-{results['started_at'].replace(':', '')}.json").write_text(document)
    (bench_dir / "latest.json").write_text(document)
    log(f"written {bench_dir / 'latest.json'}")
    return results


def main(argv: Optional[Sequence[str]] = None) -> int:
    options = parse_args(argv)
    try:
        results = run(options)
    except (BenchError, ServerError, EngineError) as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    print(render_table(results), end="")
    return 0
