"""Refresh (identity) tokens on the registry's token endpoint, on the local stack's real Keycloak and registries:
what `docker login` gets, what a refresh re-checks, how it is revoked, what it refuses, and the real clients
(skopeo with an identitytoken, the docker daemon's own code) pushing and pulling with no password."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from contextlib import contextmanager

import pytest

from clients import docker_token_client, tokens
from lib.keycloak_extension import TOKEN_ENDPOINT
from providers.docker_client import REFRESH_IDLE_ATTRIBUTE, REFRESH_MAX_AGE_ATTRIBUTE
from tests.integration.clients import (
    Skopeo,
    add_realm_user,
    granted,
    group_id,
    jwt_parts,
    refresh_refused,
    registry_get,
    registry_host,
    write_oci_image,
)
from tests.integration.test_repository_access import account

PULL = "repository:test/refresh:pull"  # the group may pull and push test/*
REFRESH_TOKEN_TYPE = "keycloak-registry-refresh-token"  # RefreshTokens.TYPE


def login(env: dict, username: str, password: str, scope=PULL) -> dict:
    """`docker login`'s request: Basic credentials with offline_token=true; the answer's JSON."""
    response = tokens.request_token(env["token_realm"], env["service"], username, password, scope, offline=True)
    assert response.status_code == 200, response.text[:300]
    assert "no-store" in response.headers["Cache-Control"]
    return response.json()


def refresh(env: dict, refresh_token: str, scope=PULL, service: str = ""):
    return tokens.refresh(env["token_realm"], service or env["service"], refresh_token, scope)


@pytest.fixture
def member(local_env, admin, env_json):
    """A fresh member of the group (the tests change and delete it): username, password, id."""
    realm = local_env.settings.realm
    username, password = f"refresh-{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    user_id = add_realm_user(admin, realm.name, username, password, group_id=group_id(admin, realm.name, realm.group))
    yield {"username": username, "password": password, "id": user_id}
    admin.call("DELETE", f"/{realm.name}/users/{user_id}", expect=(204, 404))


@contextmanager
def client_attributes(admin, realm: str, client_id: str, **changes: str):
    """The docker client's attributes changed for a test and put back after (the stack owns them)."""
    client = admin.call("GET", f"/{realm}/clients", params={"clientId": client_id}).json()[0]
    before = dict(client.get("attributes") or {})
    admin.call("PUT", f"/{realm}/clients/{client['id']}", json={**client, "attributes": {**before, **changes}})
    try:
        yield
    finally:
        current = admin.call("GET", f"/{realm}/clients/{client['id']}").json()
        admin.call("PUT", f"/{realm}/clients/{client['id']}", json={**current, "attributes": before})


def test_docker_login_gets_a_refresh_token_that_yields_the_same_tokens_as_the_password(env_json, user):
    """The endpoint answers docker-v2's GET as before (no refresh token unless asked), and a refresh gives the token
    the password gives: same signer, issuer, audience, subject and the access the rules decide, scope by scope."""
    plain = tokens.request_token(env_json["token_realm"], env_json["service"], user["username"], user["password"], PULL)
    assert plain.status_code == 200 and "refresh_token" not in plain.json()
    answer = login(env_json, user["username"], user["password"])
    assert answer["refresh_token"].startswith("kcrt.") and answer["access_token"] == answer["token"]
    scopes = ["repository:test/refresh:pull,push", "repository:platform/base:pull"]
    by_password = tokens.request_token(env_json["token_realm"], env_json["service"], user["username"],
                                       user["password"], scopes).json()["token"]
    by_refresh = refresh(env_json, answer["refresh_token"], scopes)
    assert by_refresh.status_code == 200, by_refresh.text
    assert "refresh_token" not in by_refresh.json()  # no rotation: a fleet may share one identity token
    assert by_refresh.json()["expires_in"] == plain.json()["expires_in"]
    (header_p, claims_p), (header_r, claims_r) = jwt_parts(by_password), jwt_parts(by_refresh.json()["access_token"])
    assert header_r == header_p
    assert {k: claims_r[k] for k in ("iss", "aud", "sub")} == {k: claims_p[k] for k in ("iss", "aud", "sub")}
    assert granted(by_refresh.json()["access_token"]) == granted(by_password)
    # docker joins its scopes with spaces in one field: the same grant
    joined = refresh(env_json, answer["refresh_token"], " ".join(scopes))
    assert granted(joined.json()["access_token"]) == granted(by_password) == {
        "repository:test/refresh": ["pull", "push"]}
    # a team's rules, through its member's refresh token
    team_member = account(env_json, "team-a")
    team_token = login(env_json, *team_member)["refresh_token"]
    team_scopes = ["repository:team-a/app:pull,push", "repository:platform/base:pull,push", "repository:team-b/x:pull"]
    assert granted(refresh(env_json, team_token, team_scopes).json()["access_token"]) == granted(
        tokens.request_token(env_json["token_realm"], env_json["service"], *team_member, team_scopes).json()["token"]) \
        == {"repository:team-a/app": ["pull", "push"], "repository:platform/base": ["pull"]}


def test_keycloaks_own_docker_v2_endpoint_and_ours_sign_alike(env_json, user):
    """The extension builds its tokens as Keycloak 26.7 does: the same header and claims, key for key."""
    ours = jwt_parts(tokens.request_token(env_json["token_realm"], env_json["service"], user["username"],
                                          user["password"], PULL).json()["token"])
    keycloak = jwt_parts(tokens.request_token(f"{env_json['issuer']}/protocol/docker-v2/auth", env_json["service"],
                                              user["username"], user["password"], PULL).json()["token"])
    assert ours[0] == keycloak[0]
    assert set(ours[1]) == set(keycloak[1])
    assert {k: ours[1][k] for k in ("iss", "aud", "sub", "typ", "azp")} == \
        {k: keycloak[1][k] for k in ("iss", "aud", "sub", "typ", "azp")}


def test_the_password_grant_runs_the_docker_flow(env_json, user, strangers):
    grant = tokens.password_grant(env_json["token_realm"], env_json["service"], user["username"], user["password"],
                                  PULL, offline=True)
    assert grant.status_code == 200 and grant.json()["refresh_token"].startswith("kcrt.")
    assert granted(grant.json()["access_token"]) == {"repository:test/refresh": ["pull"]}
    online = tokens.password_grant(env_json["token_realm"], env_json["service"], user["username"], user["password"],
                                   PULL)
    assert online.status_code == 200 and "refresh_token" not in online.json()
    wrong = tokens.password_grant(env_json["token_realm"], env_json["service"], user["username"], "wrong", PULL,
                                   offline=True)
    assert wrong.status_code == 401 and "token" not in wrong.text
    for username, password in strangers.values():
        denied = tokens.password_grant(env_json["token_realm"], env_json["service"], username, password, PULL,
                                       offline=True)
        assert denied.status_code == 401, (username, denied.text[:200])
    unsupported = tokens.refresh(env_json["token_realm"], env_json["service"], "x", PULL)
    assert unsupported.status_code == 400
    other_grant = tokens.requests.post(env_json["token_realm"], data={"grant_type": "client_credentials",
                                                                      "service": env_json["service"]}, timeout=30)
    assert other_grant.status_code == 400 and other_grant.json()["error"] == "unsupported_grant_type"


def test_a_refresh_token_is_stored_as_a_sha256_hash_only(local_env, env_json, member):
    refresh_token = login(env_json, member["username"], member["password"])["refresh_token"]
    credential_id, secret = refresh_token.split(".")[2:]
    rows = local_env.database_query(f"SELECT SECRET_DATA, CREDENTIAL_DATA, USER_LABEL, USER_ID FROM CREDENTIAL "
                                    f"WHERE ID = '{credential_id}' AND TYPE = '{REFRESH_TOKEN_TYPE}'")
    assert len(rows) == 1, rows
    secret_data, credential_data, label, user_id = rows[0].split("\t")
    assert json.loads(secret_data) == {"sha256": base64.b64encode(hashlib.sha256(secret.encode()).digest()).decode()}
    assert secret not in rows[0] and refresh_token not in rows[0]
    assert label.startswith(f"{env_json['service']} login ") and user_id == member["id"]
    assert json.loads(credential_data)["binding"].startswith("password:")


@pytest.mark.parametrize("change", ["removed from the group", "disabled", "deleted", "password changed",
                                    "password reset to the same value", "signed out by an admin",
                                    "given a required action"])
def test_a_refresh_token_ends_at_its_next_use_when_its_user_changes(local_env, admin, env_json, member, change):
    realm = local_env.settings.realm
    refresh_token = login(env_json, member["username"], member["password"])["refresh_token"]
    assert refresh(env_json, refresh_token).status_code == 200
    user_path = f"/{realm.name}/users/{member['id']}"
    if change == "removed from the group":
        admin.call("DELETE", f"{user_path}/groups/{group_id(admin, realm.name, realm.group)}")
    elif change == "disabled":
        admin.call("PUT", user_path, json={"enabled": False})
    elif change == "deleted":
        admin.call("DELETE", user_path, expect=(204,))
    elif change == "signed out by an admin":
        admin.call("POST", f"{user_path}/logout", expect=(204,))
    elif change == "given a required action":  # an admin asks for a new password: docker login gets 401 until then
        admin.call("PUT", user_path, json={"requiredActions": ["UPDATE_PASSWORD"]})
    else:
        new = member["password"] if change == "password reset to the same value" else f"new-{uuid.uuid4().hex}"
        admin.call("PUT", f"{user_path}/reset-password", json={"type": "password", "value": new, "temporary": False})
    assert refresh_refused(refresh(env_json, refresh_token)), change


def test_a_user_revokes_one_token_or_all_of_theirs_and_an_admin_revokes_every_one(local_env, admin, env_json,
                                                                                   member, user):
    realm, service = local_env.settings.realm.name, env_json["service"]
    first, second, third = (login(env_json, member["username"], member["password"])["refresh_token"]
                            for _ in range(3))
    # RFC 7009: the token ends itself; a wrong secret with its ids ends nothing; the answer is 200 either way
    revoke = f"{env_json['token_realm']}/revoke"
    forged = first[:-4] + ("AAAA" if not first.endswith("AAAA") else "BBBB")
    assert tokens.requests.post(revoke, data={"token": forged}, timeout=30).status_code == 200
    assert refresh(env_json, first).status_code == 200
    assert tokens.requests.post(revoke, data={"token": first}, timeout=30).status_code == 200
    assert refresh_refused(refresh(env_json, first)) and refresh(env_json, second).status_code == 200
    # with their password (Basic, through the docker flow): every token of theirs at this service
    everything = tokens.requests.post(revoke, data={"service": service},
                                      auth=(member["username"], member["password"]), timeout=30)
    assert everything.status_code == 200 and everything.json() == {"revoked": 2}
    assert refresh_refused(refresh(env_json, second)) and refresh_refused(refresh(env_json, third))
    wrong = tokens.requests.post(revoke, data={"service": service}, auth=(member["username"], "wrong"), timeout=30)
    assert wrong.status_code == 401
    # an admin: the realm's not-before ("Sessions, Revocation, Set to now" in the console) ends every token
    others = login(env_json, user["username"], user["password"])["refresh_token"]
    mine = login(env_json, member["username"], member["password"])["refresh_token"]
    time.sleep(1.1)  # a token issued in the revocation's second counts as revoked
    admin.call("PUT", f"/{realm}", json={"notBefore": int(time.time())})
    try:
        assert refresh_refused(refresh(env_json, others)) and refresh_refused(refresh(env_json, mine))
        time.sleep(1.1)
        after = login(env_json, member["username"], member["password"])["refresh_token"]
        assert refresh(env_json, after).status_code == 200
    finally:
        admin.call("PUT", f"/{realm}", json={"notBefore": 0})


def test_forged_truncated_expired_cross_realm_and_cross_service_refresh_tokens_yield_nothing(
        local_env, admin, env_json, member):
    realm, service = local_env.settings.realm.name, env_json["service"]
    good = login(env_json, member["username"], member["password"])["refresh_token"]
    prefix, user_part, credential_id, secret = good.split(".")
    access_token = login(env_json, member["username"], member["password"])["access_token"]
    other_secret = base64.urlsafe_b64encode(uuid.uuid4().bytes * 2).rstrip(b"=").decode()[:43]
    for name, bad in {"forged secret": f"{prefix}.{user_part}.{credential_id}.{other_secret}",
                      "forged credential": f"{prefix}.{user_part}.{uuid.uuid4()}.{secret}",
                      "another user": f"{prefix}.{base64.urlsafe_b64encode(str(uuid.uuid4()).encode()).decode()}"
                                      f".{credential_id}.{secret}".replace("=", ""),
                      "truncated": good[:-1], "extended": good + "A", "empty": "",
                      "an access token": access_token, "garbage": "kcrt." + "A" * 200}.items():
        assert refresh_refused(refresh(env_json, bad)), name
    assert refresh(env_json, good).status_code == 200

    # another service of the realm: a second docker-v2 client
    other_service = f"other-registry-{uuid.uuid4().hex[:6]}"
    client = admin.call("POST", f"/{realm}/clients", json={
        "clientId": other_service, "protocol": "docker-v2", "enabled": True,
        "attributes": {REFRESH_IDLE_ATTRIBUTE: "600", REFRESH_MAX_AGE_ATTRIBUTE: "3600"}}, expect=(201,))
    client_path = client.headers["Location"].split("/admin/realms", 1)[1]
    try:
        assert refresh_refused(refresh(env_json, good, service=other_service))
    finally:
        admin.call("DELETE", client_path, expect=(204,))

    # another realm with the same service name: the token's user is not there
    other_realm = f"refresh-other-{uuid.uuid4().hex[:6]}"
    admin.call("POST", "", json={"realm": other_realm, "enabled": True, "clients": [{
        "clientId": service, "protocol": "docker-v2", "enabled": True,
        "attributes": {REFRESH_IDLE_ATTRIBUTE: "600", REFRESH_MAX_AGE_ATTRIBUTE: "3600"}}]}, expect=(201,))
    try:
        elsewhere = env_json["token_realm"].replace(f"/realms/{realm}/", f"/realms/{other_realm}/")
        assert refresh_refused(tokens.refresh(elsewhere, service, good, PULL))
    finally:
        admin.call("DELETE", f"/{other_realm}", expect=(204,))

    # lifetimes are the client's attributes, read at every refresh: shortened, they end tokens already issued
    with client_attributes(admin, realm, service, **{REFRESH_IDLE_ATTRIBUTE: "2"}):
        time.sleep(3)
        assert refresh_refused(refresh(env_json, good))
    in_use = login(env_json, member["username"], member["password"])["refresh_token"]
    with client_attributes(admin, realm, service, **{REFRESH_MAX_AGE_ATTRIBUTE: "2"}):
        time.sleep(3)
        assert refresh_refused(refresh(env_json, in_use))  # older than the maximum age, however recently used
    unused = login(env_json, member["username"], member["password"])["refresh_token"]
    with client_attributes(admin, realm, service, **{REFRESH_IDLE_ATTRIBUTE: "0", REFRESH_MAX_AGE_ATTRIBUTE: "0"}):
        assert refresh_refused(refresh(env_json, unused))
        assert "refresh_token" not in login(env_json, member["username"], member["password"])  # switched off
    assert refresh(env_json, unused).status_code == 200  # switched on again: what was not revoked works again


def test_the_stack_hands_the_settings_lifetimes_to_the_docker_client(local_env, admin, env_json):
    refresh_tokens = local_env.settings.realm.refresh_tokens
    client = admin.call("GET", f"/{env_json['realm']}/clients", params={"clientId": env_json["service"]}).json()[0]
    assert (client["attributes"][REFRESH_IDLE_ATTRIBUTE], client["attributes"][REFRESH_MAX_AGE_ATTRIBUTE]) == \
        tuple(str(seconds) for seconds in refresh_tokens.client_lifetimes)
    assert env_json["token_realm"].endswith(f"/realms/{env_json['realm']}/{TOKEN_ENDPOINT}")


def test_skopeo_pushes_and_pulls_with_an_identity_token_and_no_password(env_json, user, registry, tmp_path):
    """containers/image's OAuth2 path: an auth file holding only `identitytoken` (as `docker login` leaves docker's
    config.json); every registry token comes from the refresh grant."""
    host, repository = registry_host(registry), f"test/identity-{registry['line'].replace('.', '-')}"
    identity_token = login(env_json, user["username"], user["password"])["refresh_token"]
    skopeo = Skopeo(tmp_path / "auth.json")
    skopeo.store_identity_token(host, user["username"], identity_token)
    assert user["password"] not in skopeo.authfile.read_text()
    digest = write_oci_image(tmp_path / "image", "v1", f"identity token {uuid.uuid4()}".encode())
    pushed = skopeo.copy(f"oci:{tmp_path / 'image'}:v1", f"docker://{host}/{repository}:1", "--debug")
    assert pushed.returncode == 0, pushed.stderr[-2000:]
    assert f'msg="POST {env_json["token_realm"]}"' in pushed.stderr  # the refresh grant
    assert f'msg="GET {env_json["token_realm"]}?' not in pushed.stderr  # never the password path
    pulled = skopeo.copy(f"docker://{host}/{repository}:1", f"oci:{tmp_path / 'pulled'}:v1")
    assert pulled.returncode == 0, pulled.stderr[-2000:]
    assert digest in (tmp_path / "pulled" / "index.json").read_text()
    # another repository of the rules: still denied with the identity token
    denied = skopeo.copy(f"oci:{tmp_path / 'image'}:v1", f"docker://{host}/platform/base:identity")
    assert denied.returncode != 0


def test_the_docker_daemons_own_code_logs_in_to_an_identity_token_then_pushes_and_pulls_with_it(env_json, user,
                                                                                                 registry):
    """moby v28.5.2's Service.Auth (what `docker login` runs) keeps the refresh token as the identity token, and the
    distribution client the daemon pulls and pushes with trades it for registry tokens: no password after login."""
    binary, host = docker_token_client.binary(), registry_host(registry)
    identity_token = docker_token_client.login(binary, host, user["username"], user["password"])
    assert identity_token.startswith("kcrt.")
    repository = f"test/daemon-{registry['line'].replace('.', '-')}"
    pushed = docker_token_client.push(binary, host, repository, "1", identity_token)
    assert pushed.returncode == 0, pushed.stderr[-2000:]
    pulled = docker_token_client.pull(binary, host, repository, "1", identity_token)
    assert pulled.returncode == 0 and pulled.stdout.strip() == pushed.stdout.strip(), pulled.stderr[-2000:]
    denied = docker_token_client.push(binary, host, "platform/base", "daemon", identity_token)
    assert denied.returncode != 0
    assert registry_get(registry, None).status_code == 401
