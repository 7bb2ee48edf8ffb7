"""A realm key rotation through the engine: `pulumi up` re-derives the certificate Secret, the registry rolls
(its Deployment updated, never replaced) and accepts tokens signed before and after the rotation."""

import json

import pytest

from tests.integration.clients import jwt_parts, registry_get, signing_secret, token_for

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
        "config": {"priority": ["500"], "keySize": ["2048"], "active": ["true"], "enabled": ["true"], "algorithm": ["RS256"]}})
    for component in old_providers:  # the old key stops signing but stays valid for verification (passive)
        component["config"]["active"] = ["false"]
        admin.call("PUT", f"/{realm}/components/{component['id']}", json=component)

    after = token_for(env_json, user["username"], user["password"])
    assert jwt_parts(after)[0]["kid"] != jwt_parts(before)[0]["kid"]
    # the registries never reload their certificates: until the rollout the new key is unknown to them
    assert all(registry_get(r, after).status_code == 401 for r in registries)

    result = stack.up()
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
