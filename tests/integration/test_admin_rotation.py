"""An admin rotation interrupted at any step (review item 13), against the real Keycloak: the next `up` (the same
update again, with the same olds and news) logs in from whatever state Keycloak was left in and finishes the
rotation, and master's editUsernameAllowed ends up off. Each test rotates a scratch master admin of its own,
never the environment's."""

import uuid

import pytest
import requests

from lib.keycloak_admin import AdminSession, KeycloakAdmin
from providers.keycloak_resources import EDIT_USERNAME_ALLOWED_BEFORE, KeycloakAdminCredentialsProvider
from tests.integration.clients import created_id


class InjectedFault(RuntimeError):
    """The connection dropped (or the process was killed) at this admin call."""


def logs_in(admin: KeycloakAdmin, username: str, password: str) -> bool:
    response = requests.post(f"{admin.base_url}/realms/master/protocol/openid-connect/token", timeout=30, data={
        "grant_type": "password", "client_id": "admin-cli", "username": username, "password": password})
    return response.status_code == 200


def edit_username_allowed(admin: KeycloakAdmin) -> bool:
    return bool(admin.call("GET", "/master").json().get("editUsernameAllowed"))


@pytest.fixture
def master_username_edits(admin):
    """Whatever a test does to master's editUsernameAllowed is undone (it is off in a fresh Keycloak)."""
    before = edit_username_allowed(admin)
    assert before is False, "these tests expect master's editUsernameAllowed off, as Keycloak creates it"
    yield
    if edit_username_allowed(admin) != before:
        admin.call("PUT", "/master", json={"editUsernameAllowed": before})


@pytest.fixture
def scratch_admin(admin, master_username_edits):
    """A second master-realm admin (the environment's own admin is never rotated), removed at the end."""
    username, password = f"scratch-admin-{uuid.uuid4().hex[:8]}", "scratch-admin-password-1"
    user_id = created_id(admin.call("POST", "/master/users", expect=(201,), json={
        "username": username, "enabled": True, "requiredActions": [],
        "credentials": [{"type": "password", "value": password, "temporary": False}]}))
    try:
        admin.call("POST", f"/master/users/{user_id}/role-mappings/realm",
                   json=[admin.call("GET", "/master/roles/admin").json()])
        yield {"id": user_id, "username": username, "password": password}
    finally:
        admin.call("DELETE", f"/master/users/{user_id}", expect=(204, 404))


def created(admin: KeycloakAdmin, scratch_admin: dict) -> dict:
    """The state the resource's create leaves for this admin."""
    props = {"server_url": admin.base_url, "username": scratch_admin["username"],
             "password": scratch_admin["password"], "ca_certificate": "", "wait_seconds": 10}
    result = KeycloakAdminCredentialsProvider().create(props)
    assert result.id == scratch_admin["id"] and result.outs[EDIT_USERNAME_ALLOWED_BEFORE] is False
    return result.outs


def rotated(olds: dict) -> dict:
    return {**olds, "username": olds["username"] + "-renamed", "password": "rotated-password-2"}


def assert_rotated_exactly(admin: KeycloakAdmin, scratch_admin: dict, olds: dict, news: dict) -> None:
    """Only the new login opens the admin; old and mixed ones are refused; master's usernames are read-only."""
    assert logs_in(admin, news["username"], news["password"])
    for username, password in [(olds["username"], olds["password"]), (olds["username"], news["password"]),
                               (news["username"], olds["password"])]:
        assert not logs_in(admin, username, password), (username, password)
    assert admin.call("GET", f"/master/users/{scratch_admin['id']}").json()["username"] == news["username"]
    assert edit_username_allowed(admin) is False


def fail_at(monkeypatch, matches) -> tuple[list, list]:
    """Make the first admin call ``matches(method, path, json)`` accepts raise; returns (calls made, the one failed)."""
    calls, failed, original = [], [], AdminSession.call

    def call(self, method, path, json=None, **kwargs):
        calls.append((method, path, json))
        if not failed and matches(method, path, json):
            failed.append((method, path))
            raise InjectedFault(f"{method} {path}")
        return original(self, method, path, json=json, **kwargs)
    monkeypatch.setattr(AdminSession, "call", call)
    return calls, failed


FAULTS = {
    # the first step: nothing changed yet
    "at the password reset": lambda method, path, body: method == "PUT" and path.endswith("/reset-password"),
    # password reset, username not: (old name, new password), with editUsernameAllowed switched on for the rename
    "at the rename": lambda method, path, body: method == "PUT" and "/users/" in path and not path.endswith("password"),
    # rotated, but master's usernames left editable
    "at turning editUsernameAllowed off": lambda method, path, body:
        method == "PUT" and path == "/master" and body == {"editUsernameAllowed": False},
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_an_interrupted_rotation_is_finished_by_the_next_update(admin, scratch_admin, monkeypatch, fault):
    olds = created(admin, scratch_admin)
    news = rotated(olds)
    provider = KeycloakAdminCredentialsProvider()

    _, failed = fail_at(monkeypatch, FAULTS[fault])
    with pytest.raises(InjectedFault):
        provider.update(scratch_admin["id"], olds, news)
    assert len(failed) == 1
    monkeypatch.undo()
    if fault == "at turning editUsernameAllowed off":
        assert edit_username_allowed(admin) is True  # the fault did leave it on

    # the engine kept the old state: the next `up` runs the same update again
    outs = provider.update(scratch_admin["id"], olds, news).outs
    assert (outs["accepted_username"], outs["accepted_password"]) == (news["username"], news["password"])
    assert outs[EDIT_USERNAME_ALLOWED_BEFORE] is False
    assert_rotated_exactly(admin, scratch_admin, olds, news)


def test_the_password_is_reset_before_the_rename(admin, scratch_admin, monkeypatch):
    """The riskier half-state, a renamed admin that still has the old password, is never the one left behind."""
    olds = created(admin, scratch_admin)
    calls, _ = fail_at(monkeypatch, lambda method, path, body: False)  # records only
    KeycloakAdminCredentialsProvider().update(scratch_admin["id"], olds, rotated(olds))
    puts = [path for method, path, body in calls if method == "PUT" and path != "/master"]
    assert len(puts) == 2 and puts[0].endswith("/reset-password") and not puts[1].endswith("/reset-password")


@pytest.mark.parametrize("half_done", ["renamed, password not reset", "password reset, not renamed"])
def test_an_update_logs_in_with_a_mix_of_old_and_new(admin, scratch_admin, half_done):
    """What an interruption of this version (password first) or of earlier ones (rename first) left in Keycloak."""
    olds = created(admin, scratch_admin)
    news = rotated(olds)
    user_path = f"/master/users/{scratch_admin['id']}"
    if half_done == "renamed, password not reset":
        admin.call("PUT", "/master", json={"editUsernameAllowed": True})  # and left on, as a failed restore would
        admin.call("PUT", user_path, json={**admin.call("GET", user_path).json(), "username": news["username"]})
    else:
        admin.call("PUT", f"{user_path}/reset-password",
                   json={"type": "password", "value": news["password"], "temporary": False})

    outs = KeycloakAdminCredentialsProvider().update(scratch_admin["id"], olds, news).outs
    assert (outs["accepted_username"], outs["accepted_password"]) == (news["username"], news["password"])
    assert_rotated_exactly(admin, scratch_admin, olds, news)


def test_editing_usernames_left_on_is_turned_off_by_any_later_update(admin, scratch_admin):
    """Even an update with nothing to rotate (a new URL or CA) finishes the restore an earlier rename missed."""
    olds = created(admin, scratch_admin)
    admin.call("PUT", "/master", json={"editUsernameAllowed": True})
    KeycloakAdminCredentialsProvider().update(scratch_admin["id"], olds, {**olds, "server_url": admin.base_url + "/"})
    assert edit_username_allowed(admin) is False
    assert logs_in(admin, olds["username"], olds["password"])
