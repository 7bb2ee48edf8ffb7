"""A realm key rotation through the engine: `pulumi up` re-derives the certificate Secret, the registry rolls
(its Deployment updated, never replaced) and accepts tokens signed before and after the rotation; staged, it
fails no pull under load."""

import contextlib
import json
import time
from collections import Counter

import pytest

from tests.integration.clients import jwt_parts, registry_get, signing_secret, token_for, write_oci_image
from tests.integration.load import AUTH, OK, SERVER, Load, login_and_pull, report

pytestmark = pytest.mark.changes_stack


def key_providers(admin, realm):
    return admin.call("GET", f"/{realm}/components", params={"type": "org.keycloak.keys.KeyProvider"}).json()


def registry_deployment(kube, namespace):
    return kube.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/registry")


def test_tokens_from_before_and_after_a_rotation_both_work(local_env, stack, kube, admin, env_json, user):
    realm, namespace = env_json["realm"], env_json["namespace"]
    registries = env_json["registries"]
    before = token_for(env_json, user["username"], user["password"])
    assert all(registry_get(r, before).status_code == 200 for r in registries)
    deployment_before = registry_deployment(kube, namespace)
    secret_before = signing_secret(kube, namespace)
    old_providers = [c for c in key_providers(admin, realm) if c["providerId"] == "rsa-generated"]

    admin.call("POST", f"/{realm}/components", json={
        "name": "rotated-rsa", "providerId": "rsa-generated", "providerType": "org.keycloak.keys.KeyProvider",
        "parentId": admin.call("GET", f"/{realm}").json()["id"],
        "config": {"priority": ["500"], "keySize": ["2048"], "active": ["true"], "enabled": ["true"],
                   "algorithm": ["RS256"]}})
    for component in old_providers:  # the old key stops signing but stays valid for verification (passive)
        component["config"]["active"] = ["false"]
        admin.call("PUT", f"/{realm}/components/{component['id']}", json=component)

    after = token_for(env_json, user["username"], user["password"])
    assert jwt_parts(after)[0]["kid"] != jwt_parts(before)[0]["kid"]
    # the registries never reload their certificates: until the rollout the new key is unknown to them
    assert all(registry_get(r, after).status_code == 401 for r in registries)

    result = stack.up()
    local_env.wait_for_registries()
    summary = json.loads(stack.run("stack", "history", "--json").stdout)[0]["resourceChanges"]
    assert "replace" not in summary and "delete" not in summary, (summary, result.stdout[-3000:])
    deployment_after = registry_deployment(kube, namespace)
    assert deployment_after["metadata"]["uid"] == deployment_before["metadata"]["uid"]  # updated, not replaced
    checksum = "checksum/signing-certs"
    assert deployment_after["spec"]["template"]["metadata"]["annotations"][checksum] != \
        deployment_before["spec"]["template"]["metadata"]["annotations"][checksum]
    assert signing_secret(kube, namespace) != secret_before
    for registry in registries:  # restarted by the rollout, from the new Secret
        assert registry_get(registry, before).status_code == 200, registry["line"]
        assert registry_get(registry, after).status_code == 200, registry["line"]


def staged_rotation(local_env, stack, admin, realm: str, old_providers: list[dict],
                    name: str = "staged-rsa") -> tuple[float, float, float]:
    """The rotation the README prescribes: a new key added passive, `pulumi up` (the registries roll and trust it),
    then made active with the old ones passive. Returns when it started, when the registries had rolled and when
    Keycloak switched (time.monotonic())."""
    admin.call("POST", f"/{realm}/components", json={
        "name": name, "providerId": "rsa-generated", "providerType": "org.keycloak.keys.KeyProvider",
        "parentId": admin.call("GET", f"/{realm}").json()["id"],
        "config": {"priority": ["600"], "keySize": ["2048"], "active": ["false"], "enabled": ["true"],
                   "algorithm": ["RS256"]}})
    started = time.monotonic()
    stack.up()  # stage 1: the registries roll with the new certificate beside the old ones
    local_env.wait_for_registries()
    rolled = time.monotonic()
    staged = next(c for c in key_providers(admin, realm) if c["name"] == name)
    staged["config"]["active"] = ["true"]
    admin.call("PUT", f"/{realm}/components/{staged['id']}", json=staged)
    for component in old_providers:
        component["config"]["active"] = ["false"]
        admin.call("PUT", f"/{realm}/components/{component['id']}", json=component)
    return started, rolled, time.monotonic()


def active_rsa_providers(admin, realm: str) -> list[dict]:
    return [c for c in key_providers(admin, realm) if c["providerId"] == "rsa-generated"
            and c["config"].get("active", ["true"]) == ["true"]]


def test_a_staged_rotation_under_pull_load_fails_no_pull_for_auth(local_env, stack, admin, env_json, user, skopeo,
                                                                   tmp_path):
    """The rotation the README prescribes, while 4 clients keep logging in and pulling from both lines:
    1. add the new key passive (published, not signing) and `pulumi up`: the registries roll and trust it;
    2. make it active and the old keys passive: Keycloak signs with it, the registries already know it.
    No pull may fail for auth; connection errors while the registry pods roll are counted apart."""
    realm = env_json["realm"]
    repository = "test/rotation"
    write_oci_image(tmp_path / "image", "v1", b"rotation under load\n")
    for registry in env_json["registries"]:
        pushed = skopeo.push(registry, (user["username"], user["password"]), tmp_path / "image", repository)
        assert pushed.returncode == 0, pushed.stderr
    old_providers = active_rsa_providers(admin, realm)
    old_kid = jwt_parts(token_for(env_json, user["username"], user["password"]))[0]["kid"]
    loads = [Load(login_and_pull(env_json, user, registry, repository), workers=2, max_seconds=600)
             for registry in env_json["registries"]]
    with contextlib.ExitStack() as running:
        for load in loads:
            running.enter_context(load)
        time.sleep(3)
        started, rolled, switched = staged_rotation(local_env, stack, admin, realm, old_providers)
        time.sleep(10)  # pulls with tokens signed by the new key
    new_kid = jwt_parts(token_for(env_json, user["username"], user["password"]))[0]["kid"]
    counts = sum((load.counts() for load in loads), Counter())
    after_switch = sum((load.counts(since=switched) for load in loads), Counter())
    report("key-rotation-under-load", {"pulls": dict(counts), "after_switch": dict(after_switch),
                                       "pulumi_up_s": round(rolled - started, 1), "new_kid": new_kid})
    assert counts[AUTH] == 0 and counts[SERVER] == 0, counts
    assert after_switch[OK] > 0 and set(after_switch) == {OK}, after_switch
    assert new_kid != old_kid  # the pulls after the switch did use tokens signed by the new key
