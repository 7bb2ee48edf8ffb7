"""Pushes that outlast their token, on both registry lines: a layer that takes three token lifespans to upload.

The registry checks a token when a request starts, so an upload request already under way is never cut off when its
token expires; the request after it needs a token that is valid then. A client that fetches a new token once its
own has expired (skopeo, docker) therefore finishes a push of any length without longer tokens; a client that keeps
its first token gets 401 on the first request after expiry, and goes on with a fresh one. Both are shown here.

The realm's token lifespan is lowered to the settings' minimum through the admin API for the test (at the stack's
300 s the test would take a quarter of an hour) and put back afterwards.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urljoin

import requests

from clients.oci import write_oci_layout
from lib.keycloak_extension import TOKEN_ENDPOINT
from settings import TOKEN_LIFESPAN
from tests.integration.clients import Skopeo, registry_host
from tests.integration.load import login, report

LIFESPAN = TOKEN_LIFESPAN[0]  # the shortest token the settings allow
REGISTRY_LEEWAY = 60  # distribution accepts a token this long after its exp (registry/auth/token, both lines)
UPLOAD_SECONDS = 3 * LIFESPAN + 20  # past three lifespans, and past the leeway of the first token too
LAYER_BYTES = 1024 * 1024
TOKEN_REQUEST = re.compile(rf'msg="GET [^"]*/{TOKEN_ENDPOINT}\?')


@contextlib.contextmanager
def realm_token_lifespan(admin, realm: str, seconds: int):
    before = admin.call("GET", f"/{realm}").json()["accessTokenLifespan"]
    admin.call("PUT", f"/{realm}", json={"accessTokenLifespan": seconds}, expect=(204,))
    try:
        yield
    finally:
        admin.call("PUT", f"/{realm}", json={"accessTokenLifespan": before}, expect=(204,))


def slowly(data: bytes, seconds: float):
    """The bytes in one-second pieces over ``seconds``: a client on a slow link."""
    step = max(1, len(data) // int(seconds))
    for offset in range(0, len(data), step):
        yield data[offset:offset + step]
        time.sleep(1)


def slow_image(directory: Path, tag: str, seconds: float) -> tuple[str, threading.Thread]:
    """An OCI layout whose layer blob is a FIFO written over ``seconds``: skopeo reads the layer as fast as a slow
    disk or link gives it. Returns the manifest digest and the writer."""
    layout = write_oci_layout(directory, tag, [("layer.bin", os.urandom(LAYER_BYTES))], compresslevel=1)
    blob = directory / "blobs" / "sha256" / layout["blobs"][0].split(":", 1)[1]
    data = blob.read_bytes()
    blob.unlink()
    os.mkfifo(blob)

    def write() -> None:
        with open(blob, "wb") as fifo:
            for piece in slowly(data, seconds):
                fifo.write(piece)
                fifo.flush()
    return layout["manifest"], threading.Thread(target=write, daemon=True)


def skopeo_push(skopeo: Skopeo, registry: dict, user: dict, directory: Path) -> dict:
    """skopeo copy of a slow layer; what it took and how many tokens it fetched (its --debug log names each)."""
    repository = f"test/long-push-skopeo-{registry['line']}"
    digest, writer = slow_image(directory, "v1", UPLOAD_SECONDS)
    assert skopeo.login(registry_host(registry), user["username"], user["password"]).returncode == 0
    writer.start()
    started = time.monotonic()
    copied = skopeo.copy(f"oci:{directory}:v1", f"docker://{registry_host(registry)}/{repository}:1", "--debug",
                         timeout=UPLOAD_SECONDS * 3)
    seconds = time.monotonic() - started
    assert copied.returncode == 0, copied.stderr[-3000:]
    inspected = skopeo.run("inspect", "--authfile", str(skopeo.authfile), "--tls-verify=false",
                           f"docker://{registry_host(registry)}/{repository}:1")
    return {"seconds": round(seconds, 1), "tokens_fetched": len(TOKEN_REQUEST.findall(copied.stderr)),
            "same_digest": f'"Digest": "{digest}"' in inspected.stdout}


def one_token_upload(env: dict, user: dict, registry: dict) -> dict:
    """A client that keeps its first token: a slow upload request started with it, then the request to finish the
    upload with it (expired by then), then again with a fresh token."""
    session, repository = requests.Session(), f"test/long-push-one-token-{registry['line']}"
    scope = f"repository:{repository}:pull,push"
    _, token = login(session, env, user, scope)
    auth = {"Authorization": f"Bearer {token}"}
    layer = os.urandom(LAYER_BYTES)
    digest = f"sha256:{hashlib.sha256(layer).hexdigest()}"
    url = f"{registry['url']}/v2/{repository}/blobs"
    started = session.post(f"{url}/uploads/", headers=auth, timeout=30)
    assert started.status_code == 202, started.text
    begun = time.monotonic()
    patched = session.patch(urljoin(registry["url"], started.headers["Location"]), data=slowly(layer, UPLOAD_SECONDS),
                            headers={**auth, "Content-Type": "application/octet-stream"}, timeout=60)
    upload_seconds = time.monotonic() - begun
    location = urljoin(registry["url"], patched.headers.get("Location", ""))
    with_first = session.put(location, params={"digest": digest}, headers=auth, timeout=30)
    _, fresh = login(session, env, user, scope)
    with_fresh = session.put(location, params={"digest": digest}, headers={"Authorization": f"Bearer {fresh}"},
                             timeout=30)
    stored = session.get(f"{url}/{digest}", headers={"Authorization": f"Bearer {fresh}"}, timeout=30)
    return {"upload_seconds": round(upload_seconds, 1), "upload_status": patched.status_code,
            "finish_with_first_token": with_first.status_code, "finish_with_fresh_token": with_fresh.status_code,
            "layer_back_intact": stored.status_code == 200 and stored.content == layer}


def test_a_push_three_token_lifespans_long_succeeds_on_both_lines(local_env, admin, env_json, user, tmp_path):
    realm = env_json["realm"]
    with realm_token_lifespan(admin, realm, LIFESPAN):
        issued = requests.get(env_json["token_realm"], params={"service": env_json["service"]},
                              auth=(user["username"], user["password"]), timeout=30).json()
        assert issued["expires_in"] == LIFESPAN, issued.get("expires_in")
        with ThreadPoolExecutor(max_workers=4) as pool:
            by_skopeo = {r["line"]: pool.submit(skopeo_push, Skopeo(tmp_path / f"auth-{r['line']}.json"), r, user,
                                                tmp_path / f"image-{r['line']}") for r in env_json["registries"]}
            by_one_token = {r["line"]: pool.submit(one_token_upload, env_json, user, r)
                            for r in env_json["registries"]}
            results = {line: {"skopeo": by_skopeo[line].result(), "one_token": by_one_token[line].result()}
                       for line in by_skopeo}
    report("long-push", {"token_lifespan_s": LIFESPAN, "upload_s": UPLOAD_SECONDS, "lines": results})
    for line, result in results.items():
        pushed, raw = result["skopeo"], result["one_token"]
        # skopeo: one push outlasting three lifespans, a second token fetched on the way, the image intact.
        assert pushed["seconds"] > 3 * LIFESPAN and pushed["tokens_fetched"] >= 2 and pushed["same_digest"], (line,
                                                                                                             pushed)
        # One token: the upload under way finished; the next request needed a token valid then.
        assert raw["upload_seconds"] > LIFESPAN + REGISTRY_LEEWAY and raw["upload_status"] == 202, (line, raw)
        assert raw["finish_with_first_token"] == 401 and raw["finish_with_fresh_token"] == 201, (line, raw)
        assert raw["layer_back_intact"], (line, raw)
