"""Real servers for the integration tests: the local environment of scripts/localenv (a real API server, the
real Pulumi engine deploying the local stack, real Keycloak, MariaDB and both registry lines), started once
per session (or reused if already running) and stopped at the end if this session started it."""

import json
import uuid
from typing import Any

import pytest

from lib.keycloak_admin import KeycloakAdmin
from localenv.environment import LocalEnvironment
from localenv.kubeapi import KubeApi
from localenv.stack import LocalStack
from tests.integration.clients import Skopeo, add_realm_user, group_id


@pytest.fixture(scope="session")
def local_env():
    env = LocalEnvironment()
    started_here = not env.running()
    env.up()
    yield env
    if started_here:
        env.down()


@pytest.fixture(scope="session")
def stack(local_env) -> LocalStack:
    return local_env.stack()


@pytest.fixture(scope="session")
def kube(local_env) -> KubeApi:
    return local_env.kube()


@pytest.fixture
def env_json(local_env) -> dict[str, Any]:
    """Re-read for every test: a scenario that changes the stack rewrites it."""
    return json.loads(local_env.env_file.read_text())


@pytest.fixture
def sso_env(local_env, env_json) -> dict[str, Any]:
    """env.json, with the local single sign-on provider's realm there (a test before may have redeployed Keycloak)."""
    local_env.ensure_identity_provider()
    return env_json


@pytest.fixture
def admin(local_env, env_json) -> KeycloakAdmin:
    return local_env.admin()


@pytest.fixture(autouse=True)
def forget_failed_logins(request):
    """Tests send wrong passwords on purpose; brute-force detection would then lock the shared accounts for the
    tests after them. Each test starts with no failure counted (as an administrator unlocks accounts)."""
    yield
    if "local_env" in request.fixturenames:
        local_env = request.getfixturevalue("local_env")
        if local_env.running():
            local_env.admin().call("DELETE", f"/{local_env.settings.realm.name}/attack-detection/brute-force/users",
                                   expect=(204,))


@pytest.fixture
def user(env_json) -> dict[str, str]:
    return env_json["users"][0]


@pytest.fixture(scope="session")
def strangers(local_env) -> dict[str, tuple[str, str]]:
    """Realm users who must never get a registry token: one outside the group, one disabled inside it.
    Made through the admin API, not the stack: they are the tests' adversaries."""
    admin, realm = local_env.admin(), local_env.settings.realm
    suffix = uuid.uuid4().hex[:8]  # the environment may outlive one test session
    outsider, disabled = (f"outsider-{suffix}", "outsider-password-1"), (f"disabled-{suffix}", "disabled-password-1")
    add_realm_user(admin, realm.name, *outsider)
    add_realm_user(admin, realm.name, *disabled, group_id=group_id(admin, realm.name, realm.group), enabled=False)
    return {"outside the group": outsider, "disabled user": disabled}


@pytest.fixture(params=["3", "2.8"], ids=["registry-3.x", "registry-2.8"])
def registry(request, env_json) -> dict[str, str]:
    return next(r for r in env_json["registries"] if r["line"] == request.param)


@pytest.fixture
def skopeo(tmp_path) -> Skopeo:
    return Skopeo(tmp_path / "auth.json")


def pytest_collection_modifyitems(items):
    """Tests that change the stack run after those that only use it; those that restart everything run last."""
    def order(item) -> int:
        if item.get_closest_marker("restarts_environment"):
            return 2
        return 1 if item.get_closest_marker("changes_stack") else 0
    items.sort(key=order)
