"""Directory users on the local stack: a real OpenLDAP (Debian's slapd 2.5, localenv/ldap.py) with the entries of
localenv/fixtures/directory.ldif, federated read-only by the realm (components/directory.py). The tests change the
directory as its administrators would (ldapmodify in the slapd pod) and put every change back afterwards.

registry-team-a (mapped to team-a): dana directly, erin through team-a-leads (nested), frank, gail, hank;
registry-platform (mapped to platform): pia and frank; finance (mapped to nothing): ivan.
"""

from __future__ import annotations

import contextlib
import time

import pytest

from clients import tokens
from tests.integration.clients import granted, refresh_refused, registry_host, request_token, write_oci_image
from tests.integration.load import report
from tests.integration.test_faults import scale, wait_until

TEAM_APP, PLATFORM_BASE = "team-a/app", "platform/base"
BOTH = [f"repository:{TEAM_APP}:pull,push", f"repository:{PLATFORM_BASE}:pull,push"]
DOWN_FAILS_WITHIN_SECONDS = 5


def password(env: dict, uid: str) -> str:
    return env["directory"]["users"][uid]


def grants(env: dict, uid: str) -> dict[str, list[str]]:
    response = request_token(env, uid, password(env, uid), scope=BOTH)
    assert response.status_code == 200, (uid, response.status_code, response.text[:200])
    return granted(response.json()["token"])


def ldap_modify(local_env, env: dict, ldif: str) -> None:
    """ldapmodify as the directory's administrator, in the slapd pod (its admin password never leaves it)."""
    done = local_env.kubectl("-n", env["directory"]["namespace"], "exec", "-i", "deploy/openldap", "--", "sh", "-c",
                             'ldapmodify -x -H ldap://localhost:1389 -D "cn=admin,$LDAP_SUFFIX" '
                             '-w "$LDAP_ADMIN_PASSWORD"', stdin=ldif.replace("@SUFFIX@", env["directory"]["suffix"]))
    assert done.returncode == 0, done.stderr


def membership(change: str, group: str, uid: str) -> str:
    return (f"dn: cn={group},ou=groups,@SUFFIX@\nchangetype: modify\n{change}: member\n"
            f"member: uid={uid},ou=people,@SUFFIX@\n")


@contextlib.contextmanager
def directory_changed(local_env, env: dict, change: str, undo: str):
    ldap_modify(local_env, env, change)
    try:
        yield
    finally:
        ldap_modify(local_env, env, undo)


@pytest.fixture
def image(tmp_path) -> str:
    path = tmp_path / "image"
    write_oci_image(path, "v1", f"directory user {time.time()}\n".encode())
    return str(path)


def test_team_a_members_push_their_repository_and_only_pull_platform_nested_ones_too(env_json, skopeo, image):
    for uid in ("dana", "erin"):  # erin is in registry-team-a only through team-a-leads
        assert grants(env_json, uid) == {f"repository:{TEAM_APP}": ["pull", "push"],
                                         f"repository:{PLATFORM_BASE}": ["pull"]}, uid
    for registry in env_json["registries"]:
        credentials = ("erin", password(env_json, "erin"))
        pushed = skopeo.push(registry, credentials, image, TEAM_APP)
        assert pushed.returncode == 0, (registry["line"], pushed.stderr)
        refused = skopeo.copy(f"oci:{image}:v1", f"docker://{registry_host(registry)}/{PLATFORM_BASE}:erin")
        assert refused.returncode != 0 and "denied" in refused.stderr.lower(), (registry["line"], refused.stderr)


def test_a_member_of_no_mapped_group_and_a_wrong_password_get_401(env_json):
    assert request_token(env_json, "ivan", password(env_json, "ivan")).status_code == 401
    assert request_token(env_json, "dana", password(env_json, "dana") + "x").status_code == 401
    assert request_token(env_json, "nobody-in-the-directory", "whatever-password").status_code == 401


def test_a_user_removed_from_the_team_group_loses_push_at_the_next_login(local_env, env_json):
    assert grants(env_json, "frank")[f"repository:{TEAM_APP}"] == ["pull", "push"]
    with directory_changed(local_env, env_json, membership("delete", "registry-team-a", "frank"),
                           membership("add", "registry-team-a", "frank")):
        # still in registry-platform: platform's rules, which let it pull everything and push only platform/*
        assert grants(env_json, "frank") == {f"repository:{TEAM_APP}": ["pull"],
                                             f"repository:{PLATFORM_BASE}": ["pull", "push"]}
    assert grants(env_json, "frank")[f"repository:{TEAM_APP}"] == ["pull", "push"]


def test_a_disabled_and_a_deleted_directory_user_get_401(local_env, env_json):
    lock = ("dn: uid=gail,ou=people,@SUFFIX@\nchangetype: modify\nadd: pwdAccountLockedTime\n"
            "pwdAccountLockedTime: 000001010000Z\n")
    unlock = "dn: uid=gail,ou=people,@SUFFIX@\nchangetype: modify\ndelete: pwdAccountLockedTime\n"
    assert request_token(env_json, "gail", password(env_json, "gail")).status_code == 200
    with directory_changed(local_env, env_json, lock, unlock):
        assert request_token(env_json, "gail", password(env_json, "gail")).status_code == 401
    assert request_token(env_json, "gail", password(env_json, "gail")).status_code == 200

    hank = (f"dn: uid=hank,ou=people,@SUFFIX@\nchangetype: add\nobjectClass: inetOrgPerson\nuid: hank\n"
            f"cn: Hank Deleted\nsn: Deleted\nuserPassword: {password(env_json, 'hank')}\n")
    assert request_token(env_json, "hank", password(env_json, "hank")).status_code == 200
    deleted = ("dn: uid=hank,ou=people,@SUFFIX@\nchangetype: delete\n\n"
               + membership("delete", "registry-team-a", "hank"))
    with directory_changed(local_env, env_json, deleted, hank + "\n" + membership("add", "registry-team-a", "hank")):
        assert request_token(env_json, "hank", password(env_json, "hank")).status_code == 401
    assert request_token(env_json, "hank", password(env_json, "hank")).status_code == 200


def directory_logins(env: dict, user: dict) -> list[float]:
    """Three directory logins, each refused (401), with their durations; a local user logs in before and after."""
    assert request_token(env, user["username"], user["password"]).status_code == 200
    timings = []
    for _ in range(3):
        started = time.monotonic()
        status = request_token(env, "dana", password(env, "dana")).status_code
        timings.append(round(time.monotonic() - started, 2))
        assert status == 401, status
    assert request_token(env, user["username"], user["password"]).status_code == 200
    assert max(timings) < DOWN_FAILS_WITHIN_SECONDS, timings
    return timings


def refresh_token_of(env: dict, uid: str) -> str:
    """A directory user's `docker login` (offline_token=true): the refresh token it returns."""
    answer = tokens.request_token(env["token_realm"], env["service"], uid, password(env, uid), BOTH, offline=True)
    assert answer.status_code == 200, answer.text[:200]
    return answer.json()["refresh_token"]


def refreshed(env: dict, refresh_token: str):
    return tokens.refresh(env["token_realm"], env["service"], refresh_token, BOTH)


def revoked(env: dict, refresh_token: str):
    return tokens.requests.post(f"{env['token_realm']}/revoke", data={"token": refresh_token}, timeout=30)


def test_with_the_directory_down_local_users_log_in_and_directory_users_get_401_fast(local_env, kube, env_json,
                                                                                      user):
    """Down (no pod: connections refused) and unreachable (a NetworkPolicy drops every packet: only the federation's
    2 s connection timeout ends the wait). Meanwhile Keycloak presents directory users as disabled: a refresh is
    refused (fails closed) but does not end the token, which works again once the directory is back; a revocation
    needs no directory (the tokens are Keycloak's) and takes effect."""
    namespace = env_json["directory"]["namespace"]
    kept, revoked_while_down = refresh_token_of(env_json, "dana"), refresh_token_of(env_json, "dana")
    scale(kube, namespace, "openldap", 0)
    try:
        wait_until(lambda: not kube.items(f"/api/v1/namespaces/{namespace}/pods"), 120, "slapd stopping")
        refused = directory_logins(env_json, user)
        assert refresh_refused(refreshed(env_json, kept))
        assert revoked(env_json, revoked_while_down).status_code == 200
    finally:
        scale(kube, namespace, "openldap", 1)
    back = wait_until(lambda: kube.deployment_available(namespace, "openldap"), 180, "slapd back")
    wait_until(lambda: request_token(env_json, "dana", password(env_json, "dana")).status_code == 200, 60,
               "directory logins again")
    assert refreshed(env_json, kept).status_code == 200
    assert refresh_refused(refreshed(env_json, revoked_while_down))

    policies = f"/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies"
    kube.apply(f"{policies}/drop-everything", {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "drop-everything"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})
    try:
        wait_until(lambda: request_token(env_json, "dana", password(env_json, "dana")).status_code == 401, 60,
                   "the network policy dropping the directory's packets")
        unreachable = directory_logins(env_json, user)
    finally:
        kube.call("DELETE", f"{policies}/drop-everything", expect=(200, 404))
    recovered = wait_until(lambda: request_token(env_json, "dana", password(env_json, "dana")).status_code == 200,
                           60, "directory logins again")
    report("directory-outage", {"down_directory_user_401_s": refused, "slapd_back_s": round(back, 1),
                                "unreachable_directory_user_401_s": unreachable,
                                "logins_again_after_unreachable_s": round(recovered, 1)})


def test_a_directory_users_refresh_token_follows_the_directory_and_ends_when_it_changes_them(local_env, env_json):
    """Each refresh reads the user from the directory (no cache): group changes apply at once, and a changed password
    or a lock (any change to the entry, as its modifyTimestamp tells) ends the token; a new login gets a new one."""
    frank = refresh_token_of(env_json, "frank")
    with directory_changed(local_env, env_json, membership("delete", "registry-team-a", "frank"),
                           membership("add", "registry-team-a", "frank")):
        assert granted(refreshed(env_json, frank).json()["access_token"]) == {
            f"repository:{TEAM_APP}": ["pull"], f"repository:{PLATFORM_BASE}": ["pull", "push"]}
    assert granted(refreshed(env_json, frank).json()["access_token"])[f"repository:{TEAM_APP}"] == ["pull", "push"]

    dana, gail = refresh_token_of(env_json, "dana"), refresh_token_of(env_json, "gail")
    new_password = ("dn: uid=dana,ou=people,@SUFFIX@\nchangetype: modify\nreplace: userPassword\n"
                    "userPassword: changed-in-the-directory\n")
    old_password = new_password.replace("changed-in-the-directory", password(env_json, "dana"))
    lock = ("dn: uid=gail,ou=people,@SUFFIX@\nchangetype: modify\nadd: pwdAccountLockedTime\n"
            "pwdAccountLockedTime: 000001010000Z\n")
    unlock = "dn: uid=gail,ou=people,@SUFFIX@\nchangetype: modify\ndelete: pwdAccountLockedTime\n"
    time.sleep(1.1)  # modifyTimestamp counts seconds: the change must fall in a later one than the login
    with directory_changed(local_env, env_json, new_password, old_password), \
            directory_changed(local_env, env_json, lock, unlock):
        for refresh_token in (dana, gail):
            assert refresh_refused(refreshed(env_json, refresh_token))
    for uid in ("dana", "gail"):
        assert refreshed(env_json, refresh_token_of(env_json, uid)).status_code == 200
