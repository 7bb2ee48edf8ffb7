"""Real servers for the integration tests: the local environment of scripts/localenv, started once per
session (or reused if already running) and stopped at the end if this session started it."""

import json
from typing import Any

import pytest

from components.keycloak_admin import KeycloakAdmin
from localenv.environment import LocalEnvironment
from tests.integration.clients import Skopeo


@pytest.fixture(scope="session")
def local_env():
    env = LocalEnvironment()
    started_here = not env.running()
    env.up()
    yield env
    if started_here:
        env.down()


@pytest.fixture(scope="session")
def env_json(local_env) -> dict[str, Any]:
    return json.loads(local_env.env_file.read_text())


@pytest.fixture(scope="session")
def admin(local_env) -> KeycloakAdmin:
    return local_env.admin()


@pytest.fixture(scope="session")
def user(env_json) -> dict[str, str]:
    return env_json["users"][0]


@pytest.fixture(params=["3", "2.8"], ids=["registry-3.x", "registry-2.8"])
def registry(request, env_json) -> dict[str, str]:
    return next(r for r in env_json["registries"] if r["line"] == request.param)


@pytest.fixture
def skopeo(tmp_path) -> Skopeo:
    return Skopeo(tmp_path / "auth.json")




def pytest_collection_modifyitems(items):
    """Tests that restart the environment run after every test that relies on the running one."""
    items.sort(key=lambda item: item.get_closest_marker("restarts_environment") is not None)
