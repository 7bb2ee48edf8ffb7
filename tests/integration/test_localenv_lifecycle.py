"""scripts/localenv as people run it: up twice, down, up again. Runs last (it restarts everything)."""

import json
import subprocess
import time

import pytest

from localenv import processes
from localenv.environment import ROOT
from tests.integration.clients import registry_get, token_for

pytestmark = pytest.mark.restarts_environment


def localenv(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "scripts" / "localenv"), *args], capture_output=True, text=True, timeout=1500)


def test_up_twice_down_and_up_again(local_env):
    pids = local_env.state()["pids"]
    server_pids = [pid for pod in local_env.kubelet_status().values() for pid in pod["pids"].values()]
    assert server_pids, "the kubelet runs the stack's servers"
    started = time.monotonic()
    again = localenv("up")
    assert again.returncode == 0 and "already running" in again.stderr
    assert time.monotonic() - started < 30 and local_env.state()["pids"] == pids
    assert localenv("preview").returncode == 0  # `scripts/localenv preview`: no changes

    down = localenv("down")
    assert down.returncode == 0, down.stderr
    assert not any(processes.alive(pid) for pid in [*pids.values(), *server_pids])
    assert local_env.listening_ports() == []
    assert not local_env.state_dir.exists()

    up = localenv("up")
    assert up.returncode == 0, up.stderr
    fresh = json.loads(local_env.env_file.read_text())
    user = fresh["users"][0]
    token = token_for(fresh, user["username"], user["password"])
    for registry in fresh["registries"]:
        assert registry_get(registry, None).status_code == 401
        assert registry_get(registry, token).status_code == 200
