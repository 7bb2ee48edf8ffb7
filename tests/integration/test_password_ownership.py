"""The stack owns the realm users' passwords (review item 14): UserPassword.read cannot see a password changed in
Keycloak, so a realm user must not be able to change theirs. Against the real Keycloak of the deployed local stack
(it needs a stack deployed with the UPDATE_PASSWORD required action off and manage-account out of the default roles).
The only thing the tests add to the realm is a scratch public client, deleted at the end."""

import re
import uuid
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.integration.clients import created_id, request_token

REDIRECT_URI = "http://127.0.0.1:9/callback"  # never followed


@pytest.fixture
def realm(env_json) -> str:
    return env_json["realm"]


@pytest.fixture
def scratch_client(admin, realm):
    """A public OIDC client that allows the password grant and the browser flow, so a user can get a token."""
    client_id = f"password-ownership-{uuid.uuid4().hex[:8]}"
    client_uuid = created_id(admin.call("POST", f"/{realm}/clients", expect=(201,), json={
        "clientId": client_id, "protocol": "openid-connect", "publicClient": True, "enabled": True,
        "directAccessGrantsEnabled": True, "standardFlowEnabled": True, "redirectUris": [REDIRECT_URI]}))
    try:
        yield client_id
    finally:
        admin.call("DELETE", f"/{realm}/clients/{client_uuid}", expect=(204, 404))


def user_token(env_json, realm: str, client_id: str, user: dict) -> str:
    response = requests.post(f"{env_json['keycloak_url']}/realms/{realm}/protocol/openid-connect/token", timeout=30,
                             data={"grant_type": "password", "client_id": client_id, "scope": "openid",
                                   "username": user["username"], "password": user["password"]})
    assert response.status_code == 200, response.text[:300]
    return response.json()["access_token"]


def test_the_update_password_required_action_is_disabled(admin, realm):
    action = admin.call("GET", f"/{realm}/authentication/required-actions/UPDATE_PASSWORD").json()
    assert action["enabled"] is False


def test_users_hold_no_account_management_role(admin, realm, user):
    """Neither through the realm's default roles (new users) nor effectively (existing users hold the composite)."""
    composites = admin.call("GET", f"/{realm}/roles/default-roles-{realm}/composites").json()
    names = {(r["containerId"] if r.get("clientRole") else "", r["name"]) for r in composites}
    assert not {name for _, name in names} & {"manage-account", "manage-account-links"}, names
    assert {"offline_access", "uma_authorization", "view-profile"} <= {name for _, name in names}

    account = admin.call("GET", f"/{realm}/clients", params={"clientId": "account"}).json()[0]["id"]
    users = admin.call("GET", f"/{realm}/users", params={"username": user["username"], "exact": "true"}).json()
    user_id = users[0]["id"]
    effective = {r["name"] for r in
                 admin.call("GET", f"/{realm}/users/{user_id}/role-mappings/clients/{account}/composite").json()}
    assert not effective & {"manage-account", "manage-account-links"}, effective


def test_the_account_api_refuses_the_user(env_json, realm, user, scratch_client):
    """The account REST API with the user's own token: changing the account needs manage-account (403).
    Reading it (GET) stays allowed: view-profile, kept in the default roles, grants exactly that."""
    token = user_token(env_json, realm, scratch_client, user)
    account = f"{env_json['keycloak_url']}/realms/{realm}/account/"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    profile = requests.get(account, headers=headers, timeout=30)
    body = profile.json() if profile.status_code == 200 else {"username": user["username"]}
    update = requests.post(account, headers=headers, timeout=30, json={**body, "firstName": "Changed"})
    assert update.status_code == 403, update.text[:300]
    removal = requests.delete(f"{account}credentials/no-such-credential", headers=headers, timeout=30)
    assert removal.status_code == 403, removal.text[:300]


def test_an_application_cannot_start_a_password_change(env_json, realm, user, scratch_client):
    """kc_action=UPDATE_PASSWORD (what the account console and applications send): the user logs in and is
    sent straight back to the application, the action refused (kc_action_status=error), instead of being shown
    the update-password form."""
    browser = requests.Session()
    auth = f"{env_json['keycloak_url']}/realms/{realm}/protocol/openid-connect/auth"
    page = browser.get(auth, timeout=30, params={"client_id": scratch_client, "redirect_uri": REDIRECT_URI,
                                                 "response_type": "code", "scope": "openid",
                                                 "kc_action": "UPDATE_PASSWORD"})
    assert page.status_code == 200, page.text[:300]
    for cookie in browser.cookies:  # Keycloak marks its login cookies Secure; this Keycloak is plain http on loopback
        cookie.secure = False
    form = re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', page.text)
    assert form, page.text[:500]
    answer = browser.post(unescape(form.group(1)), timeout=30, allow_redirects=False,
                          data={"username": user["username"], "password": user["password"], "credentialId": ""})
    assert answer.status_code == 302, (answer.status_code, answer.text[:500])
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT_URI), location
    assert parse_qs(urlsplit(location).query).get("kc_action_status") == ["error"], location


def test_the_password_still_opens_the_registry(env_json, user):
    """After all of the above, the stack's password is still the one Keycloak has: a docker-v2 token (HTTP Basic)."""
    response = request_token(env_json, user["username"], user["password"])
    assert response.status_code == 200, response.text[:300]
    assert response.json()["token"]
