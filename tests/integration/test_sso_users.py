"""People of the company's OpenID Connect provider (the local stand-in: realm corp of the same Keycloak,
localenv/identity_provider.py): they have no Keycloak password, sign in through the realm's identity provider and
mint app passwords for `docker login` (components/single_sign_on.py, the extension's apppasswords package).

sam is in the provider group the stack maps to team-a; tess is in a group it maps to nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
import time

import pytest
import requests

from clients import tokens
from components.single_sign_on import SELF_SERVICE_CLIENT_ID
from localenv.stack import ROOT
from tests.integration.clients import (
    granted,
    refresh_refused,
    registry_host,
    request_token,
    user_events,
    write_oci_image,
)
from tests.integration.sso import app_passwords, approve_device, mint, realm_url, sign_in

TEAM_APP, PLATFORM_BASE = "team-a/app", "platform/base"
APP_PASSWORD_TYPE = "keycloak-registry-app-password"  # AppPasswords.TYPE


def person(env: dict, name: str) -> tuple[str, str]:
    return name, env["sso"]["users"][name]


@pytest.fixture
def sam_token(sso_env) -> str:
    return sign_in(sso_env, *person(sso_env, "sam"))


@pytest.fixture
def image(tmp_path) -> str:
    path = tmp_path / "image"
    write_oci_image(path, "v1", f"sso user {time.time()}\n".encode())
    return str(path)


def test_a_brokered_user_has_no_password_for_docker_login_but_an_app_password_pushes_on_both_lines(
        sso_env, sam_token, skopeo, image):
    assert request_token(sso_env, *person(sso_env, "sam")).status_code == 401  # the provider's password
    minted = mint(sso_env, sam_token, f"laptop-{time.time_ns()}")
    assert minted["password"].startswith("kcrp_") and minted["expiresAt"] - minted["createdAt"] == 30 * 86400
    response = request_token(sso_env, "sam", minted["password"],
                             scope=[f"repository:{TEAM_APP}:pull,push", f"repository:{PLATFORM_BASE}:pull,push"])
    assert response.status_code == 200, response.text[:300]
    assert granted(response.json()["token"]) == {f"repository:{TEAM_APP}": ["pull", "push"],
                                                 f"repository:{PLATFORM_BASE}": ["pull"]}  # team-a's rules
    for registry in sso_env["registries"]:
        pushed = skopeo.push(registry, ("sam", minted["password"]), image, TEAM_APP)
        assert pushed.returncode == 0, (registry["line"], pushed.stderr)
        refused = skopeo.copy(f"oci:{image}:v1", f"docker://{registry_host(registry)}/{PLATFORM_BASE}:sam")
        assert refused.returncode != 0 and "denied" in refused.stderr.lower(), (registry["line"], refused.stderr)
    listed = {p["id"]: p for p in app_passwords(sso_env, sam_token).json()}
    assert listed[minted["id"]]["lastUsedAt"] >= minted["createdAt"] and "password" not in listed[minted["id"]]


def test_a_revoked_and_an_expired_app_password_get_401(sso_env, sam_token):
    revoked = mint(sso_env, sam_token, f"revoked-{time.time_ns()}")
    short = mint(sso_env, sam_token, f"short-{time.time_ns()}", expiresInSeconds=60)
    for minted in (revoked, short):
        assert request_token(sso_env, "sam", minted["password"]).status_code == 200
    assert app_passwords(sso_env, sam_token, "DELETE", f"/{revoked['id']}").status_code == 204
    assert request_token(sso_env, "sam", revoked["password"]).status_code == 401
    time.sleep(max(0.0, short["expiresAt"] - time.time()) + 1)
    assert request_token(sso_env, "sam", short["password"]).status_code == 401
    assert request_token(sso_env, "sam", short["password"][:-1] + "x").status_code == 401


def test_mint_and_revoke_are_user_events_and_a_disabled_users_right_app_password_records_no_use(
        local_env, admin, sso_env, sam_token):
    """The identity team's audit: UPDATE_CREDENTIAL and REMOVE_CREDENTIAL events at the self-service client (counted
    in keycloak_user_events_total, logged by the jboss-logging listener). The last use is written only for a login
    that passed every check."""
    realm = sso_env["realm"]

    def events(event: str) -> float:
        return user_events(local_env, realm, SELF_SERVICE_CLIENT_ID, event)

    minted_before, removed_before = events("update_credential"), events("remove_credential")
    minted = mint(sso_env, sam_token, f"audited-{time.time_ns()}")
    assert events("update_credential") == minted_before + 1
    sam = admin.call("GET", f"/{realm}/users", params={"username": "sam", "exact": "true"}).json()[0]
    sam_path = f"/{realm}/users/{sam['id']}"
    admin.call("PUT", sam_path, json={"enabled": False})
    try:
        assert request_token(sso_env, "sam", minted["password"]).status_code == 401
    finally:
        admin.call("PUT", sam_path, json={"enabled": True})

    def last_use() -> int:
        return {p["id"]: p for p in app_passwords(sso_env, sam_token).json()}[minted["id"]]["lastUsedAt"]

    assert last_use() == 0
    assert request_token(sso_env, "sam", minted["password"]).status_code == 200
    assert last_use() >= minted["createdAt"]
    assert app_passwords(sso_env, sam_token, "DELETE", f"/{minted['id']}").status_code == 204
    assert events("remove_credential") == removed_before + 1


def test_an_app_passwords_refresh_token_ends_with_the_app_password(sso_env, sam_token):
    """`docker login` with an app password gets a refresh token resting on that app password: revoking it (or its
    expiry) ends the refresh token too, while another app password's token keeps working."""
    kept, revoked = (mint(sso_env, sam_token, f"{name}-{time.time_ns()}") for name in ("kept", "revoked"))
    scope = f"repository:{TEAM_APP}:pull"
    refresh_tokens = {}
    for minted in (kept, revoked):
        answer = tokens.request_token(sso_env["token_realm"], sso_env["service"], "sam", minted["password"], scope,
                                      offline=True)
        assert answer.status_code == 200, answer.text[:300]
        refresh_tokens[minted["id"]] = answer.json()["refresh_token"]
    for refresh_token in refresh_tokens.values():
        refreshed = tokens.refresh(sso_env["token_realm"], sso_env["service"], refresh_token, scope)
        assert granted(refreshed.json()["access_token"]) == {f"repository:{TEAM_APP}": ["pull"]}
    assert app_passwords(sso_env, sam_token, "DELETE", f"/{revoked['id']}").status_code == 204
    assert refresh_refused(tokens.refresh(sso_env["token_realm"], sso_env["service"], refresh_tokens[revoked["id"]],
                                          scope))
    assert tokens.refresh(sso_env["token_realm"], sso_env["service"], refresh_tokens[kept["id"]],
                          scope).status_code == 200


def test_another_users_token_can_neither_see_nor_revoke_and_other_clients_tokens_cannot_mint(sso_env, sam_token,
                                                                                              user):
    sams = mint(sso_env, sam_token, f"kept-{time.time_ns()}")
    tess_token = sign_in(sso_env, *person(sso_env, "tess"))
    assert sams["id"] not in {p["id"] for p in app_passwords(sso_env, tess_token).json()}
    assert app_passwords(sso_env, tess_token, "DELETE", f"/{sams['id']}").status_code == 404
    assert request_token(sso_env, "sam", sams["password"]).status_code == 200
    tess_own = mint(sso_env, tess_token, "tess")  # she may mint, but no mapped group: the docker flow refuses her
    assert request_token(sso_env, "tess", tess_own["password"]).status_code == 401
    # a token of another client of the realm (admin-cli, a local user's password grant) may not mint: 403
    other = requests.post(f"{realm_url(sso_env)}/protocol/openid-connect/token", data={
        "grant_type": "password", "client_id": "admin-cli", "username": user["username"],
        "password": user["password"]}, timeout=30)
    assert other.status_code == 200, other.text
    assert app_passwords(sso_env, other.json()["access_token"], "POST", name="x").status_code == 403
    assert app_passwords(sso_env, "not-a-token", "GET").status_code == 401


def test_app_passwords_are_stored_as_sha256_hashes_only(local_env, sso_env, sam_token):
    minted = mint(sso_env, sam_token, f"stored-{time.time_ns()}")
    # the secret is base64url, so it may itself hold "_": cut the known prefix rather than split
    secret = minted["password"].removeprefix(f"kcrp_{minted['id']}_")
    assert len(secret) == 43, minted["password"]
    rows = local_env.database_query(f"SELECT SECRET_DATA, CREDENTIAL_DATA, USER_LABEL FROM CREDENTIAL "
                                    f"WHERE ID = '{minted['id']}' AND TYPE = '{APP_PASSWORD_TYPE}'")
    assert len(rows) == 1, rows
    secret_data, credential_data, label = rows[0].split("\t")
    assert json.loads(secret_data) == {"sha256": base64.b64encode(hashlib.sha256(secret.encode()).digest()).decode()}
    assert secret not in rows[0] and minted["password"] not in rows[0]
    assert json.loads(credential_data)["expiresAt"] == minted["expiresAt"] and label == minted["name"]


def test_the_app_password_script_signs_in_with_the_device_flow_and_its_password_logs_in(sso_env):
    """scripts/app-password as a person runs it: the printed link approved in a "browser", the password piped on."""
    command = [sys.executable, str(ROOT / "scripts" / "app-password"), "--keycloak", sso_env["keycloak_url"],
               "--realm", sso_env["realm"], "create", f"script-{time.time_ns()}", "--days", "1"]
    script = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        prompt = script.stderr.readline()
        link = re.search(r"Open (\S+) and sign in", prompt)
        assert link, prompt
        page = approve_device(link.group(1), *person(sso_env, "sam"))
        password, errors = script.communicate(timeout=60)
    finally:
        script.kill()
    assert script.returncode == 0, (errors, page[:500])
    password = password.strip()
    assert "valid until" in errors and password.startswith("kcrp_"), errors
    assert request_token(sso_env, "sam", password).status_code == 200


def test_a_user_the_provider_drops_from_the_group_loses_the_team_at_the_next_sign_in(sso_env, local_env, sam_token):
    """The provider's groups are re-read at every sign-in to Keycloak (sync mode FORCE), app passwords follow."""
    minted = mint(sso_env, sam_token, f"groups-{time.time_ns()}")
    admin = local_env.admin()
    corp = sso_env["sso"]["realm"]
    sam = admin.call("GET", f"/{corp}/users", params={"username": "sam", "exact": "true"}).json()[0]
    group = next(g for g in admin.call("GET", f"/{corp}/groups").json() if g["name"] == "registry-team-a")
    membership = f"/{corp}/users/{sam['id']}/groups/{group['id']}"
    admin.call("DELETE", membership)
    try:
        assert request_token(sso_env, "sam", minted["password"]).status_code == 200  # not signed in since
        sign_in(sso_env, *person(sso_env, "sam"))
        assert request_token(sso_env, "sam", minted["password"]).status_code == 401  # no mapped group any more
    finally:
        admin.call("PUT", membership)
    sign_in(sso_env, *person(sso_env, "sam"))
    assert request_token(sso_env, "sam", minted["password"]).status_code == 200
