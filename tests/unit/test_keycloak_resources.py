"""The pure parts of keycloak_resources.py's providers; their REST calls run against a real Keycloak in
tests/integration/test_keycloak_resources.py."""

import socket

import pytest

from components import keycloak_resources
from components.keycloak_admin import KeycloakAdmin
from components.keycloak_resources import (AdminLoginError, KeycloakAdminCredentialsProvider, KeycloakRealmProvider,
                                           UserPasswordProvider, realm_attributes, wait_for_login)

NOWHERE = "http://127.0.0.1:9"  # discard port: nothing answers
CONNECTION = {"server_url": NOWHERE, "admin_username": "admin", "admin_password": "pw"}
REALM = {**CONNECTION, "realm": "registry", "display_name": "Container registry", "enabled": True,
         "access_token_lifespan": 300}
PASSWORD = {**CONNECTION, "realm": "registry", "user_id": "uuid", "password": "first"}
ADMIN = {"server_url": NOWHERE, "username": "admin", "password": "pw", "wait_seconds": 180}


def test_the_realm_body_holds_only_the_attributes_the_program_owns():
    assert realm_attributes({**REALM, "access_token_lifespan": 300.0}) == {
        "realm": "registry", "enabled": True, "displayName": "Container registry", "accessTokenLifespan": 300}


def test_realm_settings_update_in_place_and_a_new_name_replaces():
    provider = KeycloakRealmProvider()
    assert provider.diff("registry", REALM, {**REALM, "access_token_lifespan": 300.0}).changes is False
    assert provider.diff("registry", REALM, {**REALM, "access_token_lifespan": 600}).replaces == []
    assert provider.diff("registry", REALM, {**REALM, "admin_password": "rotated"}).changes is True
    renamed = provider.diff("registry", REALM, {**REALM, "realm": "other"})
    assert renamed.replaces == ["realm"] and renamed.delete_before_replace is False


def test_a_new_password_updates_and_a_new_user_replaces():
    provider = UserPasswordProvider()
    assert provider.diff("uuid", PASSWORD, dict(PASSWORD)).changes is False
    changed = provider.diff("uuid", PASSWORD, {**PASSWORD, "password": "second"})
    assert changed.changes is True and changed.replaces == []
    assert provider.diff("uuid", PASSWORD, {**PASSWORD, "user_id": "other"}).replaces == ["user_id"]


def test_a_new_admin_login_alone_does_not_reset_the_user_password():
    """Resetting to the same password again would fail under a password-history policy (and needs no call)."""
    outs = UserPasswordProvider().update("uuid", PASSWORD, {**PASSWORD, "admin_password": "rotated"}).outs
    assert outs["admin_password"] == "rotated"


def test_admin_credentials_diff_on_what_logs_in_only():
    provider = KeycloakAdminCredentialsProvider()
    assert provider.diff("id", ADMIN, {**ADMIN, "wait_seconds": 5}).changes is False
    for key in ("server_url", "username", "password"):
        diff = provider.diff("id", ADMIN, {**ADMIN, key: "new"})
        assert diff.changes is True and not diff.replaces, key


def test_a_keycloak_that_never_accepts_the_login_fails_clearly(monkeypatch):
    monkeypatch.setattr(keycloak_resources, "LOGIN_RETRY_SECONDS", 0.05)
    with socket.socket() as probe:  # a loopback port with nothing listening
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(AdminLoginError) as error:
        wait_for_login(KeycloakAdmin(url, "registry-admin", "pw"), 0.2)
    message = str(error.value)
    assert f"Keycloak at {url} did not accept the admin login 'registry-admin' within 0.2s" in message
    assert "KC_BOOTSTRAP_ADMIN_* only takes effect" in message
