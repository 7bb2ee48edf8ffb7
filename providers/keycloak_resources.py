"""Keycloak objects that pulumi-keycloak cannot manage safely, as Pulumi dynamic resources.

- ``KeycloakAdminCredentials``: KC_BOOTSTRAP_ADMIN_* only applies when Keycloak first creates its master
  realm, so a changed admin username or password is carried to Keycloak here, before anything logs in with it.
- ``KeycloakRealm``: pulumi-keycloak's Realm update sends back the docker flow binding it read at create
  time (setRealmFlowBindings), undoing the restricted flow; this one changes only the attributes it owns.
- ``UserPassword``: keycloak.User applies ``initial_password`` only on create; this sets it on every change.

Like docker_client.py, they take their connection through ``providers.base.AdminApiResource``.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping, Optional, TypeVar
from urllib.parse import quote

import pulumi
import requests
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from lib.keycloak_admin import AdminSession, KeycloakAdmin, KeycloakApiError
from providers.base import CONNECTION_FIELDS, AdminApiResource, admin_from, changed_fields, gone

ADMIN_REALM = "master"
LOGIN_WAIT_SECONDS = 180
LOGIN_RETRY_SECONDS = 3
REALM_FIELDS = ("realm", "display_name", "enabled", "access_token_lifespan", "brute_force")


# ------------------------------------------------------------------------------- admin credentials
class AdminLoginError(RuntimeError):
    """Keycloak does not accept the admin credentials the program is configured with."""


class AdminLoginsRefused(Exception):
    """Keycloak refused every login tried; it answered, so waiting would not help."""


BOOTSTRAP_HINT = ("KC_BOOTSTRAP_ADMIN_* only takes effect when Keycloak first creates its master realm: if its "
                  "database already existed, set keycloakAdminUsername/keycloakAdminPassword to the admin it has, "
                  "then change them in config (this program rotates them through the admin API)")
# State key: master's editUsernameAllowed as the program found it (a rename turns it on for one call only, and
# a later update turns it off again if an interrupted rename left it on).
EDIT_USERNAME_ALLOWED_BEFORE = "master_edit_username_allowed"
ADMIN_DIFF_FIELDS = ("server_url", "username", "password", "ca_certificate")

T = TypeVar("T")


def wait_for_login(admin: KeycloakAdmin, seconds: float) -> None:
    """Until Keycloak accepts the login (it may still be starting), for at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with admin.login():
                return
        except (KeycloakApiError, requests.RequestException) as error:
            if time.monotonic() >= deadline:
                raise AdminLoginError(f"Keycloak at {admin.base_url} did not accept the admin login "
                                      f"{admin.username!r} within {seconds:g}s; last answer: {error}. "
                                      f"{BOOTSTRAP_HINT}") from error
        time.sleep(LOGIN_RETRY_SECONDS)


def login_candidates(olds: dict[str, Any], news: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (username, password) the master admin can have while a rotation from ``olds`` to ``news`` is done,
    not started, or interrupted between its two steps, most likely first: done, not started, password reset but
    not renamed (this version's order), renamed but not reset (what earlier versions, renaming first, left)."""
    old, new = (olds["username"], olds["password"]), (news["username"], news["password"])
    return list(dict.fromkeys([new, old, (old[0], new[1]), (new[0], old[1])]))


def refused(error: KeycloakApiError) -> bool:
    """Keycloak's token endpoint turned the credentials down (401; 400 invalid_grant for a disabled user), as
    opposed to an answer from something in front of it or from a Keycloak still starting."""
    return error.status == 401 or (error.status == 400 and "invalid_grant" in str(error))


def first_accepted(candidates: list[tuple[str, str]], login: Callable[[str, str], T]) -> tuple[str, str, T]:
    """Log in with the first candidate Keycloak accepts: (username, password, what ``login`` returned).
    AdminLoginsRefused when it refuses each; other errors (Keycloak unreachable or starting) propagate."""
    refusals = []
    for username, password in candidates:
        try:
            return username, password, login(username, password)
        except KeycloakApiError as error:
            if not refused(error):
                raise
            refusals.append(f"{username!r}: {error.status}")
    raise AdminLoginsRefused(", ".join(refusals))


def missing_steps(current: tuple[str, str], target: tuple[str, str]) -> list[str]:
    """What a rotation from the admin's live (username, password) to ``target`` still has to do, in order: the
    password first, so an interruption leaves the old name with the new password (the old name still finds the
    user), never a renamed admin only the previous password opens."""
    return (["reset-password"] if current[1] != target[1] else []) + (["rename"] if current[0] != target[0] else [])


def rotate_admin(session: AdminSession, current: tuple[str, str], target: tuple[str, str],
                 edit_username_allowed_before: bool = False) -> None:
    """Finish whatever rotation from ``current`` (the login ``session`` holds) to ``target`` still needs: reset the
    password, then rename; and turn master's editUsernameAllowed back off if an interrupted rename left it on."""
    steps = missing_steps(current, target)
    if not steps:
        restore_edit_username(session, edit_username_allowed_before)
        return
    users = session.call("GET", f"/{ADMIN_REALM}/users", params={"username": current[0], "exact": "true"}).json()
    user_path = f"/{ADMIN_REALM}/users/{users[0]['id']}"
    if "reset-password" in steps:
        session.call("PUT", f"{user_path}/reset-password",
                     json={"type": "password", "value": target[1], "temporary": False})
    if "rename" in steps:
        _rename_user(session, user_path, target[0], edit_username_allowed_before)
    else:
        restore_edit_username(session, edit_username_allowed_before)


def _rename_user(session: AdminSession, user_path: str, new_username: str, allowed_before: bool) -> None:
    """Usernames in master are read-only (editUsernameAllowed false), even for the admin API: allow edits
    for the rename only, and turn them off again afterwards unless they were on before the program came."""
    realm_path = f"/{ADMIN_REALM}"
    if not session.call("GET", realm_path).json().get("editUsernameAllowed"):
        session.call("PUT", realm_path, json={"editUsernameAllowed": True})
    try:
        user = session.call("GET", user_path).json()
        session.call("PUT", user_path, json={**user, "username": new_username})
    finally:
        if not allowed_before:  # if this fails too, the next update finds it on and turns it off
            session.call("PUT", realm_path, json={"editUsernameAllowed": False})


def edit_username_allowed(session: AdminSession) -> bool:
    return bool(session.call("GET", f"/{ADMIN_REALM}").json().get("editUsernameAllowed"))


def restore_edit_username(session: AdminSession, allowed_before: bool) -> None:
    """Turn master's editUsernameAllowed off if it is on though it was off before the program renamed anything."""
    if not allowed_before and edit_username_allowed(session):
        session.call("PUT", f"/{ADMIN_REALM}", json={"editUsernameAllowed": False})


def accepted(props: dict[str, Any]) -> dict[str, Any]:
    """The state once Keycloak has accepted the login these inputs describe."""
    return {**props, "accepted_url": props["server_url"], "accepted_username": props["username"],
            "accepted_password": props["password"]}


def _admin_as(server_url: str, credentials: dict[str, Any]) -> KeycloakAdmin:
    return KeycloakAdmin(server_url.rstrip("/"), credentials["username"], credentials["password"],
                         ca_certificate=credentials.get("ca_certificate") or "")


def _accepts(admin: KeycloakAdmin) -> bool:
    try:
        with admin.login():
            return True
    except KeycloakApiError:
        return False


def _login_first(olds: dict[str, Any], news: dict[str, Any], seconds: float) -> tuple[str, str, AdminSession]:
    """Log in (with the new URL and CA) as whichever candidate admin Keycloak accepts; wait for at most ``seconds``
    while Keycloak is unreachable or starting, but not once it has refused every candidate."""
    def login(username: str, password: str) -> AdminSession:
        return _admin_as(news["server_url"], {**news, "username": username, "password": password}).login()
    base_url = news["server_url"].rstrip("/")
    deadline = time.monotonic() + seconds
    while True:
        try:
            return first_accepted(login_candidates(olds, news), login)
        except AdminLoginsRefused as refused:
            raise AdminLoginError(
                f"Keycloak at {base_url} accepts neither the new admin login {news['username']!r} nor the previous "
                f"one {olds['username']!r}, nor a mix of their usernames and passwords ({refused}). "
                f"{BOOTSTRAP_HINT}") from refused
        except (KeycloakApiError, requests.RequestException) as error:
            if time.monotonic() >= deadline:
                raise AdminLoginError(f"Keycloak at {base_url} did not accept an admin login within {seconds:g}s; "
                                      f"last answer: {error}. {BOOTSTRAP_HINT}") from error
        time.sleep(LOGIN_RETRY_SECONDS)


def _string(value: Any) -> str:
    return value or ""


class KeycloakAdminCredentialsProvider(ResourceProvider):
    """Create waits until Keycloak accepts the credentials; update carries changed ones (and a changed URL or CA)
    to Keycloak, finishing a rotation an earlier update left half done."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        admin = _admin_as(props["server_url"], props)
        wait_for_login(admin, float(props["wait_seconds"]))
        with admin.login() as session:
            users = session.call("GET", f"/{ADMIN_REALM}/users",
                                 params={"username": props["username"], "exact": "true"}).json()
            allowed = edit_username_allowed(session)
        return CreateResult(users[0]["id"], {**accepted(props), EDIT_USERNAME_ALLOWED_BEFORE: allowed})

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """The CA counts: the dynamic resources take it from this resource's output, which only an update renews."""
        return DiffResult(changes=any(_string(olds.get(k)) != _string(news.get(k)) for k in ADMIN_DIFF_FIELDS))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Log in (new URL, new CA) with whichever of the old and new usernames and passwords Keycloak accepts, then
        do what is missing. State written before this was recorded counts as editUsernameAllowed off (Keycloak's
        default for master)."""
        allowed_before = bool(olds.get(EDIT_USERNAME_ALLOWED_BEFORE))
        target = (news["username"], news["password"])
        username, password, session = _login_first(olds, news, float(news["wait_seconds"]))
        with session:
            rotate_admin(session, (username, password), target, allowed_before)
        new = _admin_as(news["server_url"], news)
        if (username, password) != target and not _accepts(new):
            raise AdminLoginError(f"Keycloak at {new.base_url} changed the admin to {news['username']!r} but does "
                                  f"not accept the new login")
        return UpdateResult({**accepted(news), EDIT_USERNAME_ALLOWED_BEFORE: allowed_before})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """The admin stays: without it nothing could manage Keycloak."""


class KeycloakAdminCredentials(Resource):
    """The master-realm admin the program logs in as. The ``accepted_*`` outputs are not inputs: they are unknown
    in the preview of a change and set only once Keycloak accepts the new login, so whatever logs in with them
    (the provider, the dynamic resources) switches after the rotation and never tries the new login before it.
    ``ca_certificate`` is an output too, renewed by the update a changed CA causes, so every dynamic resource
    trusts the new CA in the same `up` as the keycloak provider."""

    accepted_url: pulumi.Output[str]
    accepted_username: pulumi.Output[str]
    accepted_password: pulumi.Output[str]
    ca_certificate: pulumi.Output[str]

    def __init__(self, name: str, *, server_url: pulumi.Input[str], username: pulumi.Input[str],
                 password: pulumi.Input[str], ca_certificate: pulumi.Input[str] = "",
                 wait_seconds: float = LOGIN_WAIT_SECONDS, opts: Optional[pulumi.ResourceOptions] = None):
        secret_outputs = pulumi.ResourceOptions(additional_secret_outputs=["password", "accepted_password"])
        super().__init__(KeycloakAdminCredentialsProvider(), name, {
            "server_url": server_url, "username": username, "password": pulumi.Output.secret(password),
            "ca_certificate": ca_certificate,
            "wait_seconds": wait_seconds, "accepted_url": None, "accepted_username": None, "accepted_password": None,
        }, pulumi.ResourceOptions.merge(secret_outputs, opts))

    def connection(self) -> dict[str, pulumi.Output[str]]:
        """The connection inputs of the dynamic resources that call the admin API."""
        return {"server_url": self.accepted_url, "admin_username": self.accepted_username,
                "admin_password": self.accepted_password, "ca_certificate": self.ca_certificate}


# ---------------------------------------------------------------------------------------- realm
class RealmExistsError(ValueError):
    """The realm to create is already there; it holds users, so it is never taken over."""


def realm_attributes(props: dict[str, Any]) -> dict[str, Any]:
    """The realm attributes this program owns, as the admin API names them."""
    return {"realm": props["realm"], "enabled": bool(props["enabled"]), "displayName": props["display_name"],
            "accessTokenLifespan": int(props["access_token_lifespan"]), **props["brute_force"]}


def realm_update(live: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    """The live realm with only the owned attributes changed: flow bindings and the rest stay as they are."""
    return {**live, **realm_attributes(props)}


def _realm_state(live: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    """What Keycloak has of the owned attributes, so `refresh` shows a change made in the console."""
    return {"realm": live["realm"], "enabled": bool(live.get("enabled")), "display_name": live.get("displayName") or "",
            "access_token_lifespan": live.get("accessTokenLifespan"),
            "brute_force": {name: live.get(name) for name in props.get("brute_force", {})}}


READ_BACK_SECONDS = 20  # longer than a replaced Keycloak pod serves through its preStop pause and shutdown


def _realm_state_after_update(admin: KeycloakAdmin, path: str, news: dict[str, Any]) -> dict[str, Any]:
    """The realm as read back once it shows the update. Right after a rollout the replaced pod still serves for a
    few seconds, and a single Keycloak keeps a local cache: a read it answers shows the realm from before (seen as
    a change in the next preview). A state that never shows the update is recorded as it is, for the next diff."""
    deadline = time.monotonic() + READ_BACK_SECONDS
    while True:
        state = _realm_state(admin.call("GET", path).json(), news)
        if not changed_fields({**news, **state}, news, REALM_FIELDS) or time.monotonic() > deadline:
            return state
        time.sleep(1)


class KeycloakRealmProvider(ResourceProvider):
    """Create / read / diff / update / delete of one realm; its id is the realm name."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        admin = admin_from(props)
        response = admin.call("POST", "", json=realm_attributes(props), expect=(201, 409))
        if response.status_code == 409:
            raise RealmExistsError(
                f"realm {props['realm']} already exists in Keycloak at {admin.base_url}; this program creates its "
                f"realm and never takes over an existing one (it holds users): delete that realm, or set "
                f"keycloak-registry:realm to another name")
        # Created: if reading it back fails, it goes again, or every later `up` would stop at "already exists".
        try:
            live = admin.call("GET", f"/{quote(props['realm'])}").json()
        except BaseException:
            admin.call("DELETE", f"/{quote(props['realm'])}", expect=(204, 404))
            raise
        return CreateResult(props["realm"], {**props, **_realm_state(live, props)})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        response = admin_from(props).call("GET", f"/{quote(id_)}", expect=(200, 404))
        if response.status_code == 404:
            return gone()
        return ReadResult(id_, {**props, **_realm_state(response.json(), props)})

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = ["realm"] if olds.get("realm") != news.get("realm") else []
        changed = changed_fields(olds, news, REALM_FIELDS + CONNECTION_FIELDS)
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        admin, path = admin_from(news), f"/{quote(id_)}"
        admin.call("PUT", path, json=realm_update(admin.call("GET", path).json(), news))
        return UpdateResult({**news, **_realm_state_after_update(admin, path, news)})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        admin_from(props).call("DELETE", f"/{quote(id_)}", expect=(204, 404))


class KeycloakRealm(AdminApiResource):
    """A realm; pass ``realm`` (the name, known once it exists) as other resources' ``realm_id``."""

    realm: pulumi.Output[str]
    display_name: pulumi.Output[str]
    enabled: pulumi.Output[bool]
    access_token_lifespan: pulumi.Output[int]
    brute_force: pulumi.Output[dict]  # brute-force detection, as the admin API names its attributes

    def __init__(self, name: str, *, connection: Mapping[str, pulumi.Input[str]], realm: pulumi.Input[str],
                 display_name: pulumi.Input[str], access_token_lifespan: pulumi.Input[int],
                 brute_force: Mapping[str, Any], enabled: pulumi.Input[bool] = True,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(KeycloakRealmProvider(), name, connection, {
            "realm": realm, "display_name": display_name, "enabled": enabled,
            "access_token_lifespan": access_token_lifespan, "brute_force": dict(brute_force),
        }, opts=opts)


# ---------------------------------------------------------------------------------- user password
def _user_path(props: dict[str, Any]) -> str:
    return f"/{quote(props['realm'])}/users/{quote(props['user_id'])}"


def _reset_password(props: dict[str, Any]) -> None:
    admin_from(props).call("PUT", f"{_user_path(props)}/reset-password",
                           json={"type": "password", "value": props["password"], "temporary": False})


# The extension's admin resource (PasswordRotationProviderFactory.ID; a unit test keeps them equal).
EXTENSION_ADMIN_PATH = "keycloak-registry"


def _rotate_password(props: dict[str, Any]) -> None:
    """The new password, the current one kept working for ``overlap_seconds`` (Keycloak's reset replaces it)."""
    admin_from(props).call(
        "POST", f"/{quote(props['realm'])}/{EXTENSION_ADMIN_PATH}/users/{quote(props['user_id'])}/password-rotation",
        json={"password": props["password"], "overlapSeconds": int(props["overlap_seconds"])}, expect=(204,))


class UserPasswordProvider(ResourceProvider):
    """Sets a user's (non-temporary) password on create and whenever it changes. The stack owns the password:
    read() cannot check it (Keycloak never returns one), so the realm lets users not change it themselves
    (UPDATE_PASSWORD disabled, no manage-account; see realm.py)."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        _reset_password(props)
        return CreateResult(props["user_id"], dict(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        if admin_from(props).call("GET", _user_path(props), expect=(200, 404)).status_code == 404:
            return gone()
        return ReadResult(id_, dict(props))

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = changed_fields(olds, news, ("realm", "user_id"))
        changed = changed_fields(olds, news, ("realm", "user_id", "password") + CONNECTION_FIELDS)
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        if olds.get("password") != news["password"]:  # a new admin login alone must not reset it (password history)
            (_rotate_password if news.get("overlap_seconds") else _reset_password)(news)
        return UpdateResult(dict(news))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Nothing to undo: the password goes with its user, which keycloak.User deletes."""


class UserPassword(AdminApiResource):
    """The password of one realm user, owned by the stack (change it in config, never in the account console); in
    `pulumi up`, ``password`` resolves only once Keycloak has it. With ``overlap_seconds``, a new password is a
    rotation: the previous one keeps working that long (the extension's admin resource)."""

    user_id: pulumi.Output[str]
    password: pulumi.Output[str]

    def __init__(self, name: str, *, connection: Mapping[str, pulumi.Input[str]], realm: pulumi.Input[str],
                 user_id: pulumi.Input[str], password: pulumi.Input[str], overlap_seconds: int = 0,
                 opts: Optional[pulumi.ResourceOptions] = None):
        overlap = {"overlap_seconds": overlap_seconds} if overlap_seconds else {}
        super().__init__(UserPasswordProvider(), name, connection,
                         {"realm": realm, "user_id": user_id, "password": password, **overlap}, ("password",), opts)
