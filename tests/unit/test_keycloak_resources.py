"""The pure parts of keycloak_resources.py's providers; their REST calls run against a real Keycloak in
tests/integration/test_keycloak_resources.py."""

import socket

import pytest
from cryptography.hazmat.primitives import serialization

from lib.keycloak_admin import KeycloakAdmin, KeycloakApiError
from localenv.cluster import issue_certificate, new_rsa_key
from providers import keycloak_resources
from providers.keycloak_resources import (
    AdminLoginError,
    AdminLoginsRefused,
    KeycloakAdminCredentialsProvider,
    KeycloakRealmProvider,
    UserPasswordProvider,
    first_accepted,
    login_candidates,
    missing_steps,
    realm_attributes,
    wait_for_login,
)
from tests.tls import https_json_server

NOWHERE = "http://127.0.0.1:9"  # discard port: nothing answers
CONNECTION = {"server_url": NOWHERE, "admin_username": "admin", "admin_password": "pw"}
REALM = {**CONNECTION, "realm": "registry", "display_name": "Container registry", "enabled": True,
         "access_token_lifespan": 300, "brute_force": {"bruteForceProtected": True, "failureFactor": 30}}
PASSWORD = {**CONNECTION, "realm": "registry", "user_id": "uuid", "password": "first"}
ADMIN = {"server_url": NOWHERE, "username": "admin", "password": "pw", "wait_seconds": 180}


def test_the_realm_body_holds_only_the_attributes_the_program_owns():
    assert realm_attributes({**REALM, "access_token_lifespan": 300.0}) == {
        "realm": "registry", "enabled": True, "displayName": "Container registry", "accessTokenLifespan": 300,
        "bruteForceProtected": True, "failureFactor": 30}


def test_realm_settings_update_in_place_and_a_new_name_replaces():
    provider = KeycloakRealmProvider()
    assert provider.diff("registry", REALM, {**REALM, "access_token_lifespan": 300.0}).changes is False
    assert provider.diff("registry", REALM, {**REALM, "access_token_lifespan": 600}).replaces == []
    assert provider.diff("registry", REALM, {**REALM, "admin_password": "rotated"}).changes is True
    unlocked = provider.diff("registry", REALM, {**REALM, "brute_force": {**REALM["brute_force"], "failureFactor": 5}})
    assert unlocked.changes is True and unlocked.replaces == []
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
    for key in ("server_url", "username", "password", "ca_certificate"):
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


# ------------------------------------------------------------- a changed admin CA (review item 8)
def test_a_changed_admin_ca_alone_is_a_change():
    """The dynamic resources take ca_certificate from this resource's output: without an update it stays the old CA."""
    provider = KeycloakAdminCredentialsProvider()
    with_ca = {**ADMIN, "ca_certificate": "-----BEGIN CERTIFICATE-----\nold\n-----END CERTIFICATE-----\n"}
    assert provider.diff("id", with_ca, {**with_ca, "ca_certificate": "new CA"}).changes is True
    assert provider.diff("id", ADMIN, {**ADMIN, "ca_certificate": "new CA"}).changes is True
    assert provider.diff("id", with_ca, dict(with_ca)).changes is False
    assert provider.diff("id", ADMIN, {**ADMIN, "ca_certificate": ""}).changes is False  # absent = empty = system CAs


@pytest.fixture(scope="module")
def https_keycloak(tmp_path_factory):
    """An https server on 127.0.0.1 signed by a new private CA; yields (url, that CA's PEM, another CA's PEM)."""
    master = {"realm": "master", "editUsernameAllowed": False}
    with https_json_server(tmp_path_factory.mktemp("tls"), master, ca_name="new-ca") as (url, new_ca):
        yield url, new_ca, issue_certificate("old-ca", new_rsa_key()).public_bytes(serialization.Encoding.PEM).decode()


def test_an_update_for_a_new_ca_logs_in_with_it_and_outputs_it(https_keycloak, monkeypatch):
    monkeypatch.setattr(keycloak_resources, "LOGIN_RETRY_SECONDS", 0.05)
    url, new_ca, old_ca = https_keycloak
    olds = {**ADMIN, "server_url": url, "ca_certificate": old_ca, "wait_seconds": 0.3}
    news = {**olds, "ca_certificate": new_ca}
    outs = KeycloakAdminCredentialsProvider().update("id", olds, news).outs
    assert outs["ca_certificate"] == new_ca
    assert (outs["accepted_url"], outs["accepted_username"], outs["accepted_password"]) == (url, "admin", "pw")
    # the login is verified with the CA the update carries: one that did not sign the server fails it
    with pytest.raises(AdminLoginError, match="did not accept an admin login within 0.3s.*CERTIFICATE_VERIFY_FAILED"):
        KeycloakAdminCredentialsProvider().update("id", news, olds)


# --------------------------------------------------- an interrupted admin rotation (review item 13)
OLD, NEW = ("registry-admin", "old-pw"), ("renamed-admin", "new-pw")
OLDS, NEWS = {**ADMIN, "username": OLD[0], "password": OLD[1]}, {**ADMIN, "username": NEW[0], "password": NEW[1]}


def refuse(url: str = NOWHERE) -> KeycloakApiError:
    return KeycloakApiError("POST", url, 401, '{"error":"invalid_grant"}')


@pytest.mark.parametrize("live", [NEW, OLD, (OLD[0], NEW[1]), (NEW[0], OLD[1])],
                         ids=["done", "not started", "password reset, not renamed", "renamed, password not reset"])
def test_every_state_a_rotation_can_stop_in_logs_in_and_says_what_is_missing(live):
    tried = []

    def login(username, password):
        tried.append((username, password))
        if (username, password) != live:
            raise refuse()
        return "session"
    assert first_accepted(login_candidates(OLDS, NEWS), login) == (*live, "session")
    assert tried[-1] == live and len(set(tried)) == len(tried)
    expected = {NEW: [], OLD: ["reset-password", "rename"], (OLD[0], NEW[1]): ["rename"],
                (NEW[0], OLD[1]): ["reset-password"]}[live]
    assert missing_steps(live, NEW) == expected


def test_the_password_is_reset_before_the_rename():
    assert missing_steps(OLD, NEW) == ["reset-password", "rename"]


def test_candidates_without_duplicates_when_one_part_stays():
    assert login_candidates(OLDS, {**OLDS, "password": "new-pw"}) == [(OLD[0], "new-pw"), OLD]
    assert login_candidates(OLDS, dict(OLDS)) == [OLD]


def test_when_every_login_is_refused_nothing_is_waited_for_and_each_is_named():
    with pytest.raises(AdminLoginsRefused, match="'renamed-admin': 401, 'registry-admin': 401"):
        first_accepted(login_candidates(OLDS, NEWS), lambda u, p: (_ for _ in ()).throw(refuse()))


def test_an_unreachable_keycloak_is_not_taken_for_a_refusal():
    def login(username, password):
        raise KeycloakApiError("POST", NOWHERE, 503, "starting")
    with pytest.raises(KeycloakApiError, match="503"):
        first_accepted(login_candidates(OLDS, NEWS), login)


# ------------------------------------------------ passwords belong to the stack (review item 14)
def test_users_cannot_change_the_passwords_the_stack_owns(dev_run):
    """UserPassword.read cannot see a password changed in Keycloak, so nobody but the stack may change one: the
    UPDATE_PASSWORD required action is off (also for kc_action=UPDATE_PASSWORD), and new and existing users (the
    realm's default-roles composite) lose manage-account, which holds manage-account-links."""
    actions = {r.inputs["alias"]: r for r in dev_run.of_type("keycloak:index/requiredAction:RequiredAction")}
    assert actions["UPDATE_PASSWORD"].inputs["enabled"] is False
    default_roles = dev_run.one("keycloak:index/defaultRoles:DefaultRoles")
    assert sorted(default_roles.inputs["defaultRoles"]) == \
        ["account/view-profile", "offline_access", "uma_authorization"]
    realm = dev_run.one("pulumi-python:dynamic:Resource", "realm-realm")
    for resource in (actions["UPDATE_PASSWORD"], default_roles):
        assert resource.inputs["realmId"] == "registry" and realm.urn in resource.property_dependencies["realmId"]
        assert resource.provider.startswith(dev_run.one("pulumi:providers:keycloak").urn)  # the readiness-gated one


def test_only_keycloaks_own_refusals_count_as_refused():
    def login_answering(status, body):
        def login(username, password):
            raise KeycloakApiError("POST", NOWHERE, status, body)
        return login
    for status, body in [(401, '{"error":"invalid_grant"}'), (400, '{"error":"invalid_grant","error_description":'
                                                                   '"Account disabled"}')]:
        with pytest.raises(AdminLoginsRefused):
            first_accepted(login_candidates(OLDS, NEWS), login_answering(status, body))
    with pytest.raises(KeycloakApiError, match="400"):  # e.g. a proxy in front of a Keycloak not routed yet
        first_accepted(login_candidates(OLDS, NEWS), login_answering(400, "<html>Bad Request</html>"))


class RecordingAdmin:
    """Stands in for the admin session only to record which endpoint an update picks; the endpoints themselves run
    against the real Keycloak in tests/integration/test_robots.py."""

    def __init__(self):
        self.calls = []

    def call(self, method, path, json=None, expect=None):
        self.calls.append((method, path, json))


@pytest.mark.parametrize("overlap,expected", [
    (600, ("POST", "/registry/keycloak-registry/users/uuid/password-rotation",
           {"password": "second", "overlapSeconds": 600})),
    (None, ("PUT", "/registry/users/uuid/reset-password",
            {"type": "password", "value": "second", "temporary": False})),
])
def test_a_new_password_with_an_overlap_is_a_rotation_and_without_one_a_reset(monkeypatch, overlap, expected):
    admin = RecordingAdmin()
    monkeypatch.setattr(keycloak_resources, "admin_from", lambda props: admin)
    news = {**PASSWORD, "password": "second", **({"overlap_seconds": overlap} if overlap else {})}
    UserPasswordProvider().update("uuid", {**PASSWORD, **({"overlap_seconds": overlap} if overlap else {})}, news)
    assert admin.calls == [expected]
