"""Garbage collection on the real node: the program's CronJob (started by hand, as `kubectl create job --from`
does) puts the registry in read-only maintenance, collects with --delete-untagged and leaves maintenance. The blobs
only an untagged image held are gone from the volume, the image that shared layers with it pulls bit-identical,
pushes are refused during the job and pulls are served throughout."""

import os
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from clients.oci import write_oci_layout
from components.garbage_collection import NAME as JOB
from components.garbage_collection import READ_ONLY_ENV
from localenv import s3
from tests.integration.clients import finished_job, job_log, registry_host, start_job, token_for
from tests.integration.load import MANIFEST_TYPES, closed_before_response, report

pytestmark = pytest.mark.changes_stack  # rolls the registry twice

REPOSITORY = "test/gc"
MiB = 1024 * 1024


def copy(skopeo, source: str, destination: str) -> None:
    copied = skopeo.copy(source, destination)
    assert copied.returncode == 0, f"skopeo copy {source} {destination}: {copied.stderr}"


def blobs_dir(local_env, kube, namespace: str) -> Path:
    """Where the registry's blobs are on this host: the S3 bucket's directory on versitygw's volume, or the claim's
    (local-path volumes are host directories)."""
    layout = Path("docker") / "registry" / "v2" / "blobs" / "sha256"
    if local_env.settings.registry.storage == "s3":
        return s3.data_directory(kube, local_env.settings.registry.s3.bucket) / layout
    return kube.claim_directory(namespace, "registry-data") / layout


def blob_file(blobs: Path, digest: str) -> Path:
    hex_digest = digest.split(":", 1)[1]
    return blobs / hex_digest[:2] / hex_digest / "data"


def tree_bytes(directory: Path) -> int:
    return sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())


class Traffic:
    """While the job runs: one client pulls the kept image (manifest and every blob), one starts pushes (a blob
    upload); every answer is counted by operation and status."""

    def __init__(self, registry: dict, pull_token: str, push_token: str, manifest_ref: str, blobs: list[str]):
        self.url, self.pull_token, self.push_token = registry["url"], pull_token, push_token
        self.manifest_ref, self.blobs = manifest_ref, blobs
        self.counts: Counter = Counter()
        self.first_refusal = threading.Event()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._loop, args=(op,), daemon=True) for op in (self._pull, self._push)]

    def _loop(self, operation) -> None:
        """A request on a kept-alive connection a terminating pod closed is sent again once, as docker does."""
        session = requests.Session()
        name = operation.__name__.strip("_")
        while not self.stopping.is_set():
            for attempt in (1, 2):
                try:
                    operation(session)
                    break
                except requests.RequestException as error:
                    if attempt == 1 and isinstance(error, requests.ConnectionError) and closed_before_response(error):
                        self.counts[(name, "resent")] += 1
                        continue
                    self.counts[(name, type(error).__name__)] += 1
            time.sleep(0.2)

    def _pull(self, session: requests.Session) -> None:
        headers = {"Authorization": f"Bearer {self.pull_token}", "Accept": MANIFEST_TYPES}
        status = session.get(f"{self.url}/v2/{REPOSITORY}/manifests/{self.manifest_ref}", headers=headers,
                             timeout=10).status_code
        for digest in self.blobs:
            if status == 200:
                status = session.get(f"{self.url}/v2/{REPOSITORY}/blobs/{digest}", headers=headers,
                                     timeout=10).status_code
        self.counts[("pull", status)] += 1

    def _push(self, session: requests.Session) -> None:
        response = session.post(f"{self.url}/v2/{REPOSITORY}/blobs/uploads/", timeout=10,
                                headers={"Authorization": f"Bearer {self.push_token}"})
        self.counts[("push", response.status_code)] += 1
        if response.status_code == 405:
            self.first_refusal.set()

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)


def test_garbage_collection_frees_the_untagged_blobs_and_keeps_the_shared_ones(
        local_env, kube, env_json, user, skopeo, tmp_path):
    namespace = env_json["namespace"]
    registry = next(r for r in env_json["registries"] if r["line"] == local_env.settings.registry.line)
    host, credentials = registry_host(registry), (user["username"], user["password"])
    blobs = blobs_dir(local_env, kube, namespace)

    shared = os.urandom(4 * MiB)  # random: no other image on the volume has these layers
    kept = write_oci_layout(tmp_path / "kept", "kept", [("base.bin", shared), ("kept.bin", os.urandom(2 * MiB))],
                            compresslevel=1)
    dropped = write_oci_layout(tmp_path / "dropped", "dropped",
                               [("base.bin", shared), ("dropped.bin", os.urandom(3 * MiB))], compresslevel=1)
    assert skopeo.login(host, *credentials).returncode == 0
    for image in ("kept", "dropped"):
        copy(skopeo, f"oci:{tmp_path / image}:{image}", f"docker://{host}/{REPOSITORY}:{image}")
    only_dropped = [d for d in [dropped["manifest"], *dropped["blobs"]] if d not in kept["blobs"]]
    shared_blobs = [d for d in kept["blobs"] if d in dropped["blobs"]]
    assert len(only_dropped) == 3 and len(shared_blobs) == 1  # manifest, config, own layer; the base layer
    assert all(blob_file(blobs, d).is_file() for d in only_dropped + kept["blobs"])

    # Untag (distribution 3 deletes a tag alone): the manifest stays, unreferenced, for --delete-untagged to find.
    delete_token = token_for(env_json, *credentials, scope=f"repository:{REPOSITORY}:delete")
    untagged = requests.delete(f"{registry['url']}/v2/{REPOSITORY}/manifests/dropped", timeout=10,
                               headers={"Authorization": f"Bearer {delete_token}"})
    assert untagged.status_code == 202, untagged.text
    assert blob_file(blobs, dropped["manifest"]).is_file()
    size_before = tree_bytes(blobs)
    dropped_bytes = sum(blob_file(blobs, d).stat().st_size for d in only_dropped)

    pull_token = token_for(env_json, *credentials, scope=f"repository:{REPOSITORY}:pull")
    push_token = token_for(env_json, *credentials, scope=f"repository:{REPOSITORY}:pull,push")
    started = time.monotonic()
    job = start_job(kube, namespace, JOB)
    with Traffic(registry, pull_token, push_token, "kept", kept["blobs"]) as traffic:
        assert traffic.first_refusal.wait(timeout=180), f"no push refused in 180 s; job log:\n" \
                                                        f"{job_log(kube, namespace, job)}"
        refused = skopeo.copy(f"oci:{tmp_path / 'kept'}:kept", f"docker://{host}/{REPOSITORY}:during-maintenance")
        in_maintenance = time.monotonic() - started
        status = finished_job(kube, namespace, job, timeout=300)
    log = job_log(kube, namespace, job)
    assert status.get("succeeded") == 1, log
    job_seconds = time.monotonic() - started

    assert refused.returncode != 0, "a push during maintenance went through"
    assert "405" in refused.stderr or "Method Not Allowed" in refused.stderr, refused.stderr
    statuses = dict(traffic.counts)
    # every pull served, all the job long; pushes taken or refused, nothing else
    assert {k for k in statuses if k[0] == "pull"} <= {("pull", 200), ("pull", "resent")}, statuses
    assert statuses.get(("pull", 200), 0) > 0
    assert {k for k in statuses if k[0] == "push"} <= {("push", 202), ("push", 405), ("push", "resent")}, statuses

    missing = [d for d in only_dropped if blob_file(blobs, d).exists()]
    assert not missing, f"still on the volume after collection: {missing}\n{log}"
    freed = size_before - tree_bytes(blobs)
    assert freed >= dropped_bytes, (freed, dropped_bytes)  # earlier tests' deleted images may go too

    pulled = tmp_path / "pulled"
    copy(skopeo, f"docker://{host}/{REPOSITORY}:kept", f"oci:{pulled}:kept")
    for digest in kept["blobs"]:
        hex_digest = digest.split(":", 1)[1]
        assert (pulled / "blobs" / "sha256" / hex_digest).read_bytes() == \
            (tmp_path / "kept" / "blobs" / "sha256" / hex_digest).read_bytes(), digest

    deployment = kube.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/registry")
    env_names = [e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0].get("env") or []]
    assert READ_ONLY_ENV not in env_names  # maintenance left
    copy(skopeo, f"oci:{tmp_path / 'dropped'}:dropped", f"docker://{host}/{REPOSITORY}:dropped")
    report("garbage-collection", {
        "job_s": round(job_seconds, 1), "first_refused_push_after_s": round(in_maintenance, 1),
        "freed_mib": round(freed / MiB, 1), "blobs_before_mib": round(size_before / MiB, 1),
        "only_untagged_mib": round(dropped_bytes / MiB, 1),
        "traffic": {f"{op} {status}": count for (op, status), count in sorted(statuses.items(), key=str)}})
