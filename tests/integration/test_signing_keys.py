"""The certificate Secret derived from the live realm matches what Keycloak really signs with."""

import json

from components.signing_keys import BUNDLE_FILE, JWKS_FILE
from localenv.realm_setup import realm_signing_files
from tests.integration.clients import jwt_parts, token_for


def test_bundle_holds_the_realms_active_rs256_certificate(admin, env_json):
    keys = admin.call("GET", f"/{env_json['realm']}/keys").json()
    active_kid = keys["active"]["RS256"]
    active = next(k for k in keys["keys"] if k["kid"] == active_kid)
    assert active["certificate"] in realm_signing_files(admin, env_json["realm"])[BUNDLE_FILE].replace("\n", "")


def test_jwks_kid_is_the_kid_of_a_token_keycloak_issued(admin, env_json, user):
    header, _ = jwt_parts(token_for(env_json, user["username"], user["password"]))
    kids = [k["kid"] for k in json.loads(realm_signing_files(admin, env_json["realm"])[JWKS_FILE])["keys"]]
    assert header["kid"] in kids


def test_the_running_registries_mount_what_the_realm_derives(local_env, admin, env_json):
    files = realm_signing_files(admin, env_json["realm"])
    for instance in local_env.registries(local_env.state()["tools"]):
        cert_dir = local_env.state_dir / instance.name / "certs"
        assert {f.name: f.read_text() for f in cert_dir.iterdir()} == files
