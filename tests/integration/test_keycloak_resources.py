"""The dynamic providers of keycloak_resources.py and the docker-v2 client's ownership marker, against the real
Keycloak admin API. Each test works in a scratch realm (or with a scratch master admin) of its own."""

import uuid

import pytest
import requests

from lib.keycloak_admin import KeycloakAdmin, KeycloakApiError
from providers.docker_client import OWNER_ATTRIBUTE, DockerV2ClientProvider
from providers.keycloak_resources import (
    AdminLoginError,
    KeycloakAdminCredentialsProvider,
    KeycloakRealmProvider,
    RealmExistsError,
    UserPasswordProvider,
)
from tests.integration.clients import client_props, created_id


def logs_in(admin: KeycloakAdmin, realm: str, username: str, password: str) -> bool:
    response = requests.post(f"{admin.base_url}/realms/{realm}/protocol/openid-connect/token", timeout=30, data={
        "grant_type": "password", "client_id": "admin-cli", "username": username, "password": password})
    return response.status_code == 200


@pytest.fixture
def connection(admin) -> dict:
    return {"server_url": admin.base_url, "admin_username": admin.username, "admin_password": admin.password}


@pytest.fixture
def scratch_realm_name(admin):
    """A unique realm name, whatever holds it deleted at the end (never the stack's realm)."""
    name = f"scratch-{uuid.uuid4().hex[:10]}"
    yield name
    admin.call("DELETE", f"/{name}", expect=(204, 404))


@pytest.fixture
def scratch_realm(admin, scratch_realm_name) -> str:
    admin.call("POST", "", json={"realm": scratch_realm_name, "enabled": True}, expect=(201,))
    return scratch_realm_name


@pytest.fixture
def scratch_admin(admin):
    """A second master-realm admin (the environment's own admin is never rotated), removed at the end."""
    username, password = f"scratch-admin-{uuid.uuid4().hex[:8]}", "scratch-admin-password-1"
    user_id = created_id(admin.call("POST", "/master/users", expect=(201,), json={
        "username": username, "enabled": True,
        "credentials": [{"type": "password", "value": password, "temporary": False}]}))
    admin.call("POST", f"/master/users/{user_id}/role-mappings/realm",
               json=[admin.call("GET", "/master/roles/admin").json()])
    yield {"id": user_id, "username": username, "password": password}
    admin.call("DELETE", f"/master/users/{user_id}", expect=(204, 404))


# ------------------------------------------------------------------------------------ realm (item 1)
def test_realm_updates_leave_the_docker_flow_binding_alone(admin, connection, scratch_realm_name):
    provider, r = KeycloakRealmProvider(), scratch_realm_name
    props = {**connection, "realm": r, "display_name": "Scratch", "enabled": True, "access_token_lifespan": 300,
             "brute_force": {"bruteForceProtected": True, "failureFactor": 30}}
    created = provider.create(props)
    assert created.id == r
    live = admin.call("GET", f"/{r}").json()
    assert (live["displayName"], live["accessTokenLifespan"], live["dockerAuthenticationFlow"]) == \
        ("Scratch", 300, "docker auth")

    # bind a restricted flow the way keycloak.authentication.Bindings does
    admin.call("POST", f"/{r}/authentication/flows/docker%20auth/copy", json={"newName": "docker restricted"})
    admin.call("PUT", f"/{r}", json={**admin.call("GET", f"/{r}").json(),
                                     "dockerAuthenticationFlow": "docker restricted"})

    changed = {**props, "display_name": "Renamed", "access_token_lifespan": 600,
               "brute_force": {"bruteForceProtected": True, "failureFactor": 5}}
    diff = provider.diff(r, created.outs, changed)
    assert diff.changes is True and diff.replaces == []
    updated = provider.update(r, created.outs, changed)
    live = admin.call("GET", f"/{r}").json()
    assert (live["displayName"], live["accessTokenLifespan"], live["failureFactor"]) == ("Renamed", 600, 5)
    assert live["dockerAuthenticationFlow"] == "docker restricted"
    assert provider.diff(r, provider.read(r, updated.outs).outs, changed).changes is False
    # brute-force detection switched off in the console: refresh shows it, and `up` turns it back on
    admin.call("PUT", f"/{r}", json={**admin.call("GET", f"/{r}").json(), "bruteForceProtected": False})
    assert provider.diff(r, provider.read(r, updated.outs).outs, changed).changes is True

    provider.delete(r, updated.outs)
    assert admin.call("GET", f"/{r}", expect=(200, 404)).status_code == 404
    gone = provider.read(r, updated.outs)
    assert (gone.id, gone.outs) == (None, {})
    provider.delete(r, updated.outs)  # deleting what is already gone succeeds


def test_an_existing_realm_is_never_taken_over(admin, connection, scratch_realm):
    props = {**connection, "realm": scratch_realm, "display_name": "x", "enabled": True, "access_token_lifespan": 300,
             "brute_force": {}}
    with pytest.raises(RealmExistsError, match=f"realm {scratch_realm} already exists"):
        KeycloakRealmProvider().create(props)
    assert admin.call("GET", f"/{scratch_realm}").json()["realm"] == scratch_realm


# ------------------------------------------------------------------------- docker-v2 client (item 10)
def client_exists(admin, realm: str, client_uuid: str) -> bool:
    return admin.call("GET", f"/{realm}/clients/{client_uuid}", expect=(200, 404)).status_code == 200


def test_a_client_adopted_by_another_resource_survives_the_first_ones_delete(admin, scratch_realm):
    """A URN change (rename, reparent): the new resource adopts the client, then the old one is deleted."""
    props = client_props(admin, scratch_realm, "registry")
    old_resource, new_resource = DockerV2ClientProvider(), DockerV2ClientProvider()
    old = old_resource.create(props)
    new = new_resource.create(props)
    assert new.id == old.id and new.outs["owner_token"] != old.outs["owner_token"]
    live = admin.call("GET", f"/{scratch_realm}/clients/{new.id}").json()
    assert live["attributes"][OWNER_ATTRIBUTE] == new.outs["owner_token"]

    old_resource.delete(old.id, old.outs)
    assert client_exists(admin, scratch_realm, new.id)
    new_resource.delete(new.id, new.outs)
    assert not client_exists(admin, scratch_realm, new.id)


def test_an_update_keeps_the_marker(admin, scratch_realm):
    provider, props = DockerV2ClientProvider(), client_props(admin, scratch_realm, "registry")
    created = provider.create(props)
    updated = provider.update(created.id, created.outs, {**props, "description": "changed"})
    assert updated.outs["owner_token"] == created.outs["owner_token"]
    live = admin.call("GET", f"/{scratch_realm}/clients/{created.id}").json()
    assert (live["description"], live["attributes"][OWNER_ATTRIBUTE]) == ("changed", created.outs["owner_token"])
    provider.delete(created.id, updated.outs)
    assert not client_exists(admin, scratch_realm, created.id)


def test_a_client_from_before_markers_is_deleted_unless_adopted_since(admin, scratch_realm):
    props = client_props(admin, scratch_realm, "registry")
    unmarked = created_id(admin.call("POST", f"/{scratch_realm}/clients", expect=(201,),
                                     json={"clientId": "registry", "protocol": "docker-v2"}))
    DockerV2ClientProvider().delete(unmarked, props)  # state written before markers: no owner_token
    assert not client_exists(admin, scratch_realm, unmarked)

    unmarked = created_id(admin.call("POST", f"/{scratch_realm}/clients", expect=(201,),
                                     json={"clientId": "registry", "protocol": "docker-v2"}))
    DockerV2ClientProvider().create(props)  # adopted by a resource of this version
    DockerV2ClientProvider().delete(unmarked, props)
    assert client_exists(admin, scratch_realm, unmarked)


# ------------------------------------------------------------------------------ user password (item 7)
def test_a_changed_user_password_is_applied(admin, connection, scratch_realm):
    user_id = created_id(admin.call("POST", f"/{scratch_realm}/users", expect=(201,), json={
        "username": "alice", "enabled": True, "email": "alice@example.com", "emailVerified": True,
        "firstName": "Alice", "lastName": "Example", "requiredActions": []}))
    provider = UserPasswordProvider()
    props = {**connection, "realm": scratch_realm, "user_id": user_id, "password": "first-password-1"}
    created = provider.create(props)
    assert logs_in(admin, scratch_realm, "alice", "first-password-1")

    changed = {**props, "password": "second-password-2"}
    assert provider.diff(created.id, created.outs, changed).changes is True
    provider.update(created.id, created.outs, changed)
    assert logs_in(admin, scratch_realm, "alice", "second-password-2")
    assert not logs_in(admin, scratch_realm, "alice", "first-password-1")

    assert provider.read(created.id, changed).id == created.id
    admin.call("DELETE", f"/{scratch_realm}/users/{user_id}")
    assert provider.read(created.id, changed).id is None


# ------------------------------------------------------------------------ admin credentials (item 6)
def test_changed_admin_credentials_are_rotated_in_keycloak(admin, scratch_admin):
    provider = KeycloakAdminCredentialsProvider()
    olds = {"server_url": admin.base_url, "username": scratch_admin["username"],
            "password": scratch_admin["password"], "wait_seconds": 10}
    created = provider.create(olds)
    assert created.id == scratch_admin["id"]
    assert (created.outs["accepted_username"], created.outs["accepted_password"]) == \
        (olds["username"], olds["password"])

    news = {**olds, "username": scratch_admin["username"] + "-renamed", "password": "rotated-password-2"}
    assert provider.diff(created.id, olds, news).changes is True
    updated = provider.update(created.id, olds, news).outs
    assert (updated["accepted_username"], updated["accepted_password"]) == (news["username"], news["password"])
    assert logs_in(admin, "master", news["username"], news["password"])
    assert not logs_in(admin, "master", olds["username"], olds["password"])
    assert admin.call("GET", f"/master/users/{scratch_admin['id']}").json()["username"] == news["username"]
    assert admin.call("GET", "/master").json()["editUsernameAllowed"] is False

    # an update retried after the rotation went through: the old login fails, the new one works
    provider.update(created.id, olds, news)
    # the password alone
    newer = {**news, "password": "rotated-password-3"}
    provider.update(created.id, news, newer)
    assert logs_in(admin, "master", newer["username"], newer["password"])
    # neither login works: one clear error, nothing changed
    with pytest.raises(AdminLoginError, match="accepts neither the new admin login"):
        provider.update(created.id, news, {**newer, "password": "never-set-4"})
    assert logs_in(admin, "master", newer["username"], newer["password"])


def test_an_admin_login_that_never_works_fails_clearly(admin, scratch_admin):
    props = {"server_url": admin.base_url, "username": scratch_admin["username"], "password": "wrong",
             "wait_seconds": 1}
    with pytest.raises(AdminLoginError, match="did not accept the admin login .* within 1s.*KC_BOOTSTRAP_ADMIN_"):
        KeycloakAdminCredentialsProvider().create(props)


def test_every_provider_says_what_the_server_answered(connection, scratch_realm):
    with pytest.raises(KeycloakApiError, match="answered 404"):
        UserPasswordProvider().create({**connection, "realm": scratch_realm, "user_id": "no-such-user",
                                       "password": "p"})
