"""Brute-force detection on the real Keycloak, through the docker-v2 endpoint docker and skopeo log in at: a
password-guessing run locks the account until the configured wait has passed, and parallel logins of one account
(`docker compose pull`, CI) are never refused for it (keycloak#34302)."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.clients import add_realm_user, group_id, request_token

PARALLEL_LOGINS = 16
WRONG_PASSWORDS = 30


@pytest.fixture
def member(local_env, admin):
    """A scratch member of the registry group, so a lock never touches the accounts other tests use."""
    realm = local_env.settings.realm
    username, password = f"guess-target-{uuid.uuid4().hex[:8]}", f"right-{uuid.uuid4().hex}"
    user_id = add_realm_user(admin, realm.name, username, password, group_id=group_id(admin, realm.name, realm.group))
    yield {"username": username, "password": password, "id": user_id}
    admin.call("DELETE", f"/{realm.name}/users/{user_id}", expect=(204, 404))


def lock_status(admin, realm: str, user_id: str) -> dict:
    return admin.call("GET", f"/{realm}/attack-detection/brute-force/users/{user_id}").json()


def test_the_stack_turns_brute_force_detection_on_with_its_settings(local_env, admin):
    realm = local_env.settings.realm
    live = admin.call("GET", f"/{realm.name}").json()
    assert {name: live[name] for name in realm.brute_force.realm_attributes()} == \
        realm.brute_force.realm_attributes()
    assert live["bruteForceProtected"] is True


def test_16_parallel_logins_of_one_account_all_get_a_token(local_env, admin, env_json, member):
    """Keycloak >= 25.0.3 refuses a login while another of the same account is in flight, once brute-force
    detection is on: 5 of 16 got 401 here before KC_SPI_..._ALLOW_CONCURRENT_REQUESTS."""
    def login(_: int) -> int:
        return request_token(env_json, member["username"], member["password"]).status_code

    with ThreadPoolExecutor(PARALLEL_LOGINS) as pool:
        for _ in range(3):
            assert sorted(pool.map(login, range(PARALLEL_LOGINS))) == [200] * PARALLEL_LOGINS
    assert lock_status(admin, local_env.settings.realm.name, member["id"])["numFailures"] == 0


def test_30_wrong_passwords_lock_the_account_until_the_configured_wait_has_passed(local_env, admin, env_json, member):
    """Keycloak files its own docker logins where brute-force detection never counts them: 30 wrong passwords left
    numFailures at 0 and the right one worked at once. The extension's docker login is counted. Any attempt during
    the lock, the right password too, is a failure that starts the wait again (Keycloak's rule), so the test waits
    without knocking."""
    realm = local_env.settings.realm
    wait = realm.brute_force.wait_increment_seconds
    statuses = [request_token(env_json, member["username"], f"guess-{n}").status_code for n in range(WRONG_PASSWORDS)]
    assert statuses == [401] * WRONG_PASSWORDS

    right = request_token(env_json, member["username"], member["password"])
    assert right.status_code == 401, "the right password must not open a locked account"
    assert right.json()["errors"][0]["code"] == "UNAUTHORIZED"  # the same answer as a wrong password: no oracle
    status = lock_status(admin, realm.name, member["id"])
    assert status["disabled"] is True and status["numFailures"] == WRONG_PASSWORDS + 1, status
    remaining = status["failedLoginNotBefore"] - time.time()
    assert wait - 3 <= remaining <= wait + 1, f"locked for {remaining:.1f} s, configured {wait} s"

    time.sleep(remaining + 1)
    assert request_token(env_json, member["username"], member["password"]).status_code == 200
    print(f"{WRONG_PASSWORDS} wrong passwords locked the account for {remaining:.1f} s (configured {wait} s); "
          f"the right password then got a token")
    assert lock_status(admin, realm.name, member["id"])["numFailures"] == 0  # a successful login forgets them
