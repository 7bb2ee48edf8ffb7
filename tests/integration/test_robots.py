"""Robots with a lifecycle, on the local stack's Keycloak: an expiry that ends their logins (401, as a wrong password
gets), and a rotation that keeps the previous password working for the stated overlap, so the stacks that read
robotPasswords through a StackReference can switch without an outage (test_engine_scenarios reads it so)."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from tests.integration.clients import granted, request_token
from tests.integration.test_engine_scenarios import PROJECT
from tests.integration.test_repository_access import stack_config_changed

PULL = "repository:team-a/app:pull"
OVERLAP_SECONDS = 60
EXPIRES_AFTER_SECONDS = 180  # from the moment the change is written: after the up and the overlap


def password(env: dict, robot: str) -> str:
    return next(r["password"] for r in env["robots"] if r["username"] == robot)


def login_status(env: dict, robot: str, secret: str) -> int:
    return request_token(env, robot, secret, scope=PULL).status_code


def wait_past(instant: float) -> None:
    time.sleep(max(0.0, instant - time.time()) + 2)


def robot_role_attributes(admin, realm: str, client_id: str, robot: str) -> dict:
    client = admin.call("GET", f"/{realm}/clients", params={"clientId": client_id}).json()[0]
    return admin.call("GET", f"/{realm}/clients/{client['id']}/roles/robot:{robot}").json()["attributes"]


def test_an_expired_robot_is_refused_with_its_right_password_and_a_current_one_is_not(env_json, admin):
    expired = request_token(env_json, "ci-expired", password(env_json, "ci-expired"), scope=PULL)
    assert expired.status_code == 401, expired.text[:300]
    assert "token" not in expired.text
    current = request_token(env_json, "ci-pull", password(env_json, "ci-pull"), scope=PULL)
    assert current.status_code == 200 and granted(current.json()["token"]) == {"repository:team-a/app": ["pull"]}
    # The expiry is data on the robot's role, as the stack declares it (2026-01-01, 00:00 UTC).
    attributes = robot_role_attributes(admin, env_json["realm"], env_json["service"], "ci-expired")
    assert attributes["expires-at"] == [str(int(datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()))]
    summary = {r["robot"]: r for r in env_json["repository_access"]["robots"]}
    assert summary["ci-expired"]["expiresAt"] == "2026-01-01T00:00:00Z"


@pytest.mark.changes_stack
def test_a_rotation_keeps_the_old_password_for_its_overlap_and_an_expiry_ends_logins_on_time(local_env, stack,
                                                                                             env_json, admin):
    realm, old = env_json["realm"], password(env_json, "ci-pull")
    written = time.time()
    expires = datetime.fromtimestamp(int(written) + EXPIRES_AFTER_SECONDS, timezone.utc)

    def rotate_and_expire_soon(config: dict) -> None:
        robot = next(r for r in config[f"{PROJECT}:robots"] if r["name"] == "ci-pull")
        robot.update(rotation="2026-11-r1", rotationOverlapSeconds=OVERLAP_SECONDS,
                     expiresAt=expires.strftime("%Y-%m-%dT%H:%M:%SZ"))

    with stack_config_changed(local_env, stack, rotate_and_expire_soon) as env:
        applied = time.time()
        new = password(env, "ci-pull")
        assert new != old
        assert login_status(env, "ci-pull", new) == 200
        assert login_status(env, "ci-pull", old) == 200, "the rotated-out password must work during the overlap"
        user_id = admin.call("GET", f"/{realm}/users", params={"username": "ci-pull", "exact": "true"}).json()[0]["id"]
        previous = admin.call("GET", f"/{realm}/keycloak-registry/users/{user_id}/previous-passwords").json()
        assert len(previous) == 1, previous
        valid_until = datetime.fromisoformat(previous[0]["validUntil"].replace("Z", "+00:00")).timestamp()
        assert written + OVERLAP_SECONDS <= valid_until <= applied + OVERLAP_SECONDS, (written, valid_until, applied)
        wait_past(valid_until)
        assert login_status(env, "ci-pull", old) == 401, "the overlap is over"
        assert login_status(env, "ci-pull", new) == 200
        wait_past(expires.timestamp())
        assert login_status(env, "ci-pull", new) == 401, "the robot expired"
    restored = local_env.write_env_json()
    again = password(restored, "ci-pull")  # the rotation value removed: one more rotation, with the stack's overlap
    assert again not in (old, new)
    assert login_status(restored, "ci-pull", again) == 200
    assert login_status(restored, "ci-pull", new) == 200, "inside the stack's own overlap (rotationOverlapSeconds)"
