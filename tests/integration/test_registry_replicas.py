"""Registry replicas on S3, as the local stack declares them: two registry pods share a bucket on a real S3 server
(versitygw, localenv/s3.py) and the http secret. 8 clients log in, push (a layer in chunks, then a manifest) and
pull, continuously, through a staged key rotation (both pods roll) and then the deletion of one pod. Neither may
cost an auth failure, a 5xx or a refused connection: readiness gates the new pods, maxUnavailable 0 keeps the
old ones until then, and a terminating pod serves through its preStop pause."""

import time
from collections import Counter

import pytest

from tests.integration.clients import jwt_parts, registry_host, token_for, write_oci_layout
from tests.integration.load import AUTH, CONNECTION, OK, SERVER, Load, login_push_and_pull, report
from tests.integration.test_faults import wait_until
from tests.integration.test_key_rotation import active_rsa_providers, staged_rotation

pytestmark = pytest.mark.changes_stack  # rotates the realm's keys and deletes a registry pod

CLIENTS = 8
REPOSITORY = "test/replicas"


def test_eight_clients_pushing_and_pulling_lose_nothing_to_a_rotation_or_a_deleted_pod(
        local_env, stack, kube, admin, env_json, user, skopeo, tmp_path):
    settings = local_env.settings
    assert settings.registry.storage == "s3" and settings.registry.replicas == 2, \
        "the local stack declares two registry replicas on S3"
    namespace, realm = env_json["namespace"], env_json["realm"]
    registry = next(r for r in env_json["registries"] if r["line"] == settings.registry.line)
    seed = write_oci_layout(tmp_path / "seed", "seed", [("seed.txt", b"the config every pushed manifest names\n")])
    assert skopeo.login(registry_host(registry), user["username"], user["password"]).returncode == 0
    copied = skopeo.copy(f"oci:{tmp_path / 'seed'}:seed", f"docker://{registry_host(registry)}/{REPOSITORY}:seed")
    assert copied.returncode == 0, copied.stderr
    config_digest = seed["blobs"][-1]
    config = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
              "size": (tmp_path / "seed" / "blobs" / "sha256" / config_digest.split(":")[1]).stat().st_size}

    old_kid = jwt_parts(token_for(env_json, user["username"], user["password"]))[0]["kid"]
    errors: list[str] = []
    load = Load(login_push_and_pull(env_json, user, registry, REPOSITORY, config, errors), workers=CLIENTS,
                max_seconds=900)
    with load:
        time.sleep(5)
        started, rolled, switched = staged_rotation(local_env, stack, admin, realm, active_rsa_providers(admin, realm),
                                                    name="replicas-rsa")
        time.sleep(10)  # pushes and pulls with tokens of the new key
        deleted_at = time.monotonic()
        victim = local_env.pods("registry")[-1]["metadata"]["name"]
        kube.call("DELETE", f"/api/v1/namespaces/{namespace}/pods/{victim}", expect=(200, 202))
        replaced = wait_until(lambda: len(local_env.pods("registry", include_terminating=True)) == 2 and
                              kube.deployment_available(namespace, "registry"), 180,
                              "the deleted registry pod replaced and gone")
        time.sleep(10)
    new_kid = jwt_parts(token_for(env_json, user["username"], user["password"]))[0]["kid"]

    phases = {"rotation": load.counts(until=deleted_at), "pod deletion": load.counts(since=deleted_at)}
    report("registry-replicas-under-load", {
        "clients": CLIENTS, "round_trips": {name: dict(counts) for name, counts in phases.items()},
        "pulumi_up_s": round(rolled - started, 1), "replaced_s": round(replaced, 1),
        "errors": errors[:20], "connection_errors": load.failures[:20], "resent": len(load.resent)})
    for name, counts in phases.items():
        assert counts[OK] > 0 and counts[AUTH] == counts[SERVER] == counts[CONNECTION] == 0, (name, counts, errors[:10],
                                                                                              load.failures[:10])
    assert load.counts(since=switched)[OK] > 0 and new_kid != old_kid  # round trips with the new key's tokens
    assert Counter(kind for _, kind in load.outcomes)[OK] == len(load.outcomes)
