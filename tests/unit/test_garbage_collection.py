"""Garbage collection as an SRE would schedule it: a CronJob that never overlaps itself, runs with only the
rights its script uses, and always leaves read-only maintenance, even when the collection fails or is stopped."""

import os
import signal
import subprocess
import time
from pathlib import Path

from components.garbage_collection import (
    DEADLINE_SECONDS,
    LEAVE_SECONDS,
    READ_ONLY_ENV,
    garbage_collection_script,
)
from support.mock_program import run_program, stack_file_config

CRON_JOB = "kubernetes:batch/v1:CronJob"


def test_no_schedule_declares_no_job(dev_run):
    assert not dev_run.of_type(CRON_JOB)


def test_the_prod_schedule_is_a_cron_job_that_never_overlaps_and_never_retries_at_once():
    config, secrets = stack_file_config("prod")
    run = run_program(config, secrets)
    job = run.one(CRON_JOB, "registry-garbage-collection").inputs["spec"]
    assert (job["schedule"], job["timeZone"], job["concurrencyPolicy"]) == ("0 3 * * 0", "Etc/UTC", "Forbid")
    spec = job["jobTemplate"]["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"]) == (0, DEADLINE_SECONDS)
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == "registry-garbage-collection"
    assert pod["terminationGracePeriodSeconds"] == LEAVE_SECONDS > 10 * 60  # the script's rollout timeout
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["image"] == "docker.io/alpine/kubectl:1.37.2"
    assert container["command"][:2] == ["sh", "-c"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert "registry garbage-collect --delete-untagged /etc/registry/config/config.yml" in container["command"][2]


def test_the_job_may_patch_only_the_registry_deployment():
    config, secrets = stack_file_config("prod")
    run = run_program(config, secrets)
    rules = run.one("kubernetes:rbac.authorization.k8s.io/v1:Role", "registry-garbage-collection").inputs["rules"]
    writes = [r for r in rules if set(r["verbs"]) - {"get", "list", "watch"}]
    assert writes == [
        {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["registry"], "verbs": ["patch"]},
        {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["get", "create"]}]
    binding = run.one("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "registry-garbage-collection").inputs
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "registry-garbage-collection",
                                    "namespace": config.get("namespace", "registry")}]


# ------------------------------------------------------------------ the script's control flow
def run_script(tmp_path: Path, failing: str = "") -> tuple[int, list[str]]:
    """The script under sh, with a kubectl that records its arguments and fails on ``failing`` (its subcommand)."""
    log = tmp_path / "kubectl.log"
    kubectl = tmp_path / "kubectl"
    kubectl.write_text(f'#!/bin/sh\necho "$*" >> {log}\n[ "$1" != "{failing}" ]\n')
    kubectl.chmod(0o755)
    result = subprocess.run(["sh", "-c", garbage_collection_script("registry")], capture_output=True, text=True,
                            env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}, timeout=30)
    return result.returncode, log.read_text().splitlines()


def test_the_script_enters_maintenance_collects_then_leaves(tmp_path):
    code, calls = run_script(tmp_path)
    assert code == 0
    verbs = [c.split()[0] for c in calls]
    assert verbs == ["set", "rollout", "get", "exec", "set", "rollout", "get"]
    assert calls[0].endswith(f"{READ_ONLY_ENV}={{enabled: true}}")
    assert calls[4].endswith(f"{READ_ONLY_ENV}-")


def test_a_failed_collection_still_leaves_maintenance_and_fails_the_job(tmp_path):
    code, calls = run_script(tmp_path, failing="exec")
    assert code != 0
    assert calls[-3].endswith(f"{READ_ONLY_ENV}-")  # left, then rolled and waited out


def test_a_registry_that_never_enters_maintenance_is_not_collected(tmp_path):
    code, calls = run_script(tmp_path, failing="rollout")
    assert code != 0
    assert not [c for c in calls if c.startswith("exec")]
    assert any(c.endswith(f"{READ_ONLY_ENV}-") for c in calls)


def test_a_stopped_job_leaves_maintenance_before_it_exits(tmp_path):
    """activeDeadlineSeconds or a deleted job sends SIGTERM mid-collection: the trap runs at once, not after it."""
    log = tmp_path / "kubectl.log"
    kubectl = tmp_path / "kubectl"
    kubectl.write_text(f'#!/bin/sh\necho "$*" >> {log}\n[ "$1" != exec ] || exec sleep 60\n')
    kubectl.chmod(0o755)
    script = subprocess.Popen(["sh", "-c", garbage_collection_script("registry")], text=True,
                              env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"})
    deadline = time.monotonic() + 30
    while "exec" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    script.send_signal(signal.SIGTERM)
    assert script.wait(timeout=30) == 143
    assert log.read_text().splitlines()[-3].endswith(f"{READ_ONLY_ENV}-")
