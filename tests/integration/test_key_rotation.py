"""A rotated realm key: tokens from before and after the rotation both verify once the registry restarts."""

from tests.integration.clients import jwt_parts, registry_get, token_for


def realm_components(admin, realm):
    return admin.call("GET", f"/{realm}/components", params={"type": "org.keycloak.keys.KeyProvider"}).json()


def test_tokens_from_before_and_after_a_rotation_both_work(local_env, admin, env_json, user):
    realm = env_json["realm"]
    registries = env_json["registries"]
    before = token_for(env_json, user["username"], user["password"])
    assert all(registry_get(r, before).status_code == 200 for r in registries)
    old_providers = [c for c in realm_components(admin, realm) if c["providerId"] == "rsa-generated"]

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

    local_env.refresh_signing_certs()
    for registry in registries:
        assert registry_get(registry, before).status_code == 200, registry["line"]
        assert registry_get(registry, after).status_code == 200, registry["line"]
