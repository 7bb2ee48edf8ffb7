"""The certificate Secret the program wrote matches what Keycloak really signs with, and is what the
registries run on."""

import json
from pathlib import Path

from components.registry import CERT_DIR
from components.signing_keys import BUNDLE_FILE, JWKS_FILE, RealmKey, signing_material
from tests.integration.clients import jwt_parts, signing_secret, token_for


def test_the_secret_is_the_derivation_of_the_live_realm_keys(admin, env_json, kube):
    keys = admin.call("GET", f"/{env_json['realm']}/keys").json()["keys"]
    assert signing_secret(kube, env_json["namespace"]) == signing_material(RealmKey.from_api(k) for k in keys)


def test_bundle_holds_the_realms_active_rs256_certificate(admin, env_json, kube):
    keys = admin.call("GET", f"/{env_json['realm']}/keys").json()
    active = next(k for k in keys["keys"] if k["kid"] == keys["active"]["RS256"])
    assert active["certificate"] in signing_secret(kube, env_json["namespace"])[BUNDLE_FILE].replace("\n", "")


def test_jwks_kid_is_the_kid_of_a_token_keycloak_issued(env_json, user, kube):
    header, _ = jwt_parts(token_for(env_json, user["username"], user["password"]))
    kids = [k["kid"] for k in json.loads(signing_secret(kube, env_json["namespace"])[JWKS_FILE])["keys"]]
    assert header["kid"] in kids


def test_the_running_registry_pod_mounts_the_secret(local_env, env_json, kube):
    """Read through the container's own root, as the registry process sees it."""
    registry = local_env.workload("registry")
    mounted = Path(f"/proc/{registry['pids'][0]}/root{CERT_DIR}")
    files = {f.name: f.read_text() for f in mounted.iterdir() if not f.name.startswith("..")}
    assert files == signing_secret(kube, env_json["namespace"])
