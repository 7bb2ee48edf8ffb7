"""scripts/localenv as people run it: up twice, down, up again. Runs last (it restarts everything)."""

import json
import subprocess
import time

import pytest

from localenv import processes
from localenv.environment import ROOT
from localenv.node import leftovers, our_mounts, pod_processes
from tests.integration.clients import registry_get, token_for
from tests.integration.load import report

pytestmark = pytest.mark.restarts_environment


def localenv(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "scripts" / "localenv"), *args], capture_output=True, text=True, timeout=1500)


def test_up_twice_down_and_up_again(local_env):
    pids, host_record = local_env.state()["pids"], local_env.state()["node"]
    container_pids = sorted(pod_processes())
    assert len(container_pids) >= 6, "the node runs the stack's containers and its add-ons"
    started = time.monotonic()
    again = localenv("up")
    assert again.returncode == 0 and "already running" in again.stderr
    assert time.monotonic() - started < 30 and local_env.state()["pids"] == pids
    assert localenv("preview").returncode == 0  # `scripts/localenv preview`: no changes

    down = localenv("down")
    assert down.returncode == 0, down.stderr
    assert not any(processes.alive(pid) for pid in [*pids.values(), *container_pids])
    assert local_env.listening_ports() == []
    # sysctls restored; no iptables chain, ipset, bridge, network namespace or pod cgroup of the node left
    assert leftovers(host_record) == []
    assert our_mounts([str(local_env.state_dir)]) == [] and not local_env.state_dir.exists()

    up = localenv("up")
    assert up.returncode == 0, up.stderr
    report("localenv-up", local_env.state()["timings"])
    fresh = json.loads(local_env.env_file.read_text())
    user = fresh["users"][0]
    token = token_for(fresh, user["username"], user["password"])
    for registry in fresh["registries"]:
        assert registry_get(registry, None).status_code == 401
        assert registry_get(registry, token).status_code == 200
