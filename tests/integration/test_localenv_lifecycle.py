"""scripts/localenv as people run it: up twice, down, up again. Runs last (it restarts everything)."""

import json
import subprocess
import time

import pytest

from localenv import processes
from localenv.environment import KEYCLOAK_MANAGEMENT_PORT, MARIADB_PORT, ROOT, port_of
from tests.integration.clients import registry_get, token_for

pytestmark = pytest.mark.restarts_environment


def localenv(command: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "scripts" / "localenv"), command], capture_output=True, text=True, timeout=900)


def listening_ports(local_env, env_json) -> list[int]:
    ports = [MARIADB_PORT, KEYCLOAK_MANAGEMENT_PORT, port_of(env_json["keycloak_url"])]
    for registry in env_json["registries"]:
        ports += [port_of(registry["url"]), port_of(registry["url"]) + 1]
    return [p for p in ports if processes.port_open(p)]


def test_up_twice_down_and_up_again(local_env, env_json):
    pids = local_env.state()["pids"]
    started = time.monotonic()
    again = localenv("up")
    assert again.returncode == 0 and "already running" in again.stderr
    assert time.monotonic() - started < 30 and local_env.state()["pids"] == pids

    down = localenv("down")
    assert down.returncode == 0, down.stderr
    assert not any(processes.alive(pid) for pid in pids.values())
    assert listening_ports(local_env, env_json) == []
    assert not local_env.state_dir.exists()

    up = localenv("up")
    assert up.returncode == 0, up.stderr
    fresh = json.loads(local_env.env_file.read_text())
    user = fresh["users"][0]
    token = token_for(fresh, user["username"], user["password"])
    for registry in fresh["registries"]:
        assert registry_get(registry, None).status_code == 401
        assert registry_get(registry, token).status_code == 200
