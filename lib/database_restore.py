"""Restore Keycloak's database from a dump the backup CronJob took: the one command of docs/operations.md > Backups.

Keycloak must never start on an empty database: it would create a new master realm, and `pulumi up` a new realm
with new ids and new signing keys, so every token and password out there would stop working. So the order is:
1. scale Keycloak to 0 and wait until no pod is left;
2. bring the database back: a lost claim is created anew, empty, as the stack's state declares it (the program
   itself cannot run while Keycloak is down), and the image creates the schema and user from the unchanged
   credentials Secret;
3. start the program's restore job (the suspended CronJob's template) with the dump to load, and wait for it;
4. scale Keycloak back to its replicas; the pods start together on the restored database and form one cluster;
5. `pulumi up --refresh`: the realm, users and keys the program reads back are those of the dump.

    scripts/restore-database --stack prod [--backup keycloak-20261130T023000Z.sql.gz]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from components.backup import RESTORE
from components.database import NAME as DATABASE
from components.keycloak import NAME as KEYCLOAK
from lib import kube
from providers.storage_guard import DATABASE_CLAIM

CLAIM, DEPLOYMENT = "kubernetes:core/v1:PersistentVolumeClaim", "kubernetes:apps/v1:Deployment"
Runner = Callable[[Sequence[str]], subprocess.CompletedProcess]


class RestoreError(RuntimeError):
    """A step failed; the message names it and carries the tool's output."""


@dataclass
class Restore:
    """The steps, over two runners: ``pulumi(args)`` for the stack and ``kubectl(args)`` for its cluster."""

    pulumi: Runner
    kubectl: Runner
    log: Callable[[str], None] = print
    timings: dict[str, float] = field(default_factory=dict)

    def run(self, backup: str = "latest") -> dict[str, float]:
        started = time.monotonic()
        namespace = json.loads(self._ok(self.pulumi, ["stack", "output", "--json"]).stdout)["namespace"]
        ns = ["-n", namespace]
        if self.kubectl([*ns, "get", f"cronjob/{RESTORE}"]).returncode != 0:
            raise RestoreError(f"no CronJob {RESTORE} in namespace {namespace}: backups are not configured "
                               "(set keycloak-registry:databaseBackupSchedule and `pulumi up`)")
        declared = self._declared()
        replicas = declared[DEPLOYMENT, KEYCLOAK]["spec"]["replicas"]

        self._step("keycloak_stopped", f"1/5 scaling Keycloak to 0 pods (the stack declares {replicas})", [
            (self.kubectl, [*ns, "scale", f"deployment/{KEYCLOAK}", "--replicas=0"])])
        self._wait(lambda: not self._ok(self.kubectl, [*ns, "get", "pods", "-l", selector(kube.KEYCLOAK), "-o",
                                                       "name"]).stdout.strip(), "every Keycloak pod to be gone", 300)
        self.timings["keycloak_stopped"] = round(time.monotonic() - started, 1)
        claim = declared[CLAIM, DATABASE_CLAIM]
        if self.kubectl([*ns, "get", f"persistentvolumeclaim/{DATABASE_CLAIM}"]).returncode == 0:
            self.log(f"2/5 the database claim {DATABASE_CLAIM} is there: loading over its data")
            commands = []
        else:
            self.log(f"2/5 the database claim {DATABASE_CLAIM} is lost: creating it anew, as the stack declares it")
            commands = [(self.kubectl, [*ns, "create", "-f", "-"], json.dumps(claim))]
        self._step("database_back", "    waiting for the database", [
            *commands, (self.kubectl, [*ns, "rollout", "status", f"statefulset/{DATABASE}", "--timeout=600s"])])

        job = f"{RESTORE}-{int(time.time())}"
        self.log(f"3/5 loading {backup} (job {job})")
        step_started = time.monotonic()
        manifest = self._ok(self.kubectl, [*ns, "create", "job", job, f"--from=cronjob/{RESTORE}",
                                           "--dry-run=client", "-o", "json"]).stdout
        self._ok(self.kubectl, [*ns, "create", "-f", "-"], stdin=json.dumps(with_backup(json.loads(manifest), backup)))
        status = self._wait(lambda: job_outcome(json.loads(self._ok(self.kubectl, [
            *ns, "get", f"job/{job}", "-o", "json"]).stdout)), f"the restore job {job} to finish", 1800)
        logs = self.kubectl([*ns, "logs", f"job/{job}"]).stdout
        self.log(logs.rstrip())
        if status != "succeeded":
            raise RestoreError(f"the restore job {job} failed:\n{logs}")
        self.timings["loaded"] = round(time.monotonic() - step_started, 1)

        self._step("keycloak_back", f"4/5 scaling Keycloak back to {replicas} pods", [
            (self.kubectl, [*ns, "scale", f"deployment/{KEYCLOAK}", f"--replicas={replicas}"]),
            (self.kubectl, [*ns, "rollout", "status", f"deployment/{KEYCLOAK}", "--timeout=900s"])])
        self._step("reconciled", "5/5 pulumi up --refresh: the stack reads back what the dump holds", [
            (self.pulumi, ["up", "--yes", "--skip-preview", "--non-interactive", "--refresh"])])
        self.timings["total"] = round(time.monotonic() - started, 1)
        self.log(f"restored: {self.timings}")
        return self.timings

    def _declared(self) -> dict[tuple[str, str], dict]:
        """The Kubernetes objects as the program last declared them (their inputs in the stack's state), by kind
        and name. Read from the state, not the program: the program cannot run while Keycloak is down (it reads the
        realm's keys)."""
        state = json.loads(self._ok(self.pulumi, ["stack", "export"]).stdout)["deployment"]["resources"]
        declared = {(r["type"], r["inputs"]["metadata"]["name"]): r["inputs"] for r in state
                    if r["type"] in (CLAIM, DEPLOYMENT) and "metadata" in r.get("inputs", {})}
        for wanted in ((CLAIM, DATABASE_CLAIM), (DEPLOYMENT, KEYCLOAK)):
            if wanted not in declared:
                raise RestoreError(f"the stack's state holds no {wanted[0]} {wanted[1]}: is it this project's stack?")
        return declared

    @staticmethod
    def _wait(check: Callable[[], object], what: str, timeout: float) -> object:
        deadline = time.monotonic() + timeout
        while not (outcome := check()):
            if time.monotonic() > deadline:
                raise RestoreError(f"gave up waiting for {what} after {timeout:.0f} s")
            time.sleep(2)
        return outcome

    def _step(self, name: str, message: str, commands: list[tuple]) -> None:
        """Each command is (runner, args) or (runner, args, stdin)."""
        self.log(message)
        started = time.monotonic()
        for runner, args, *stdin in commands:
            self._ok(runner, args, *stdin)
        self.timings[name] = round(time.monotonic() - started, 1)

    @staticmethod
    def _ok(runner: Runner, args: Sequence[str], stdin: str | None = None) -> subprocess.CompletedProcess:
        result = runner(args, stdin) if stdin is not None else runner(args)
        if result.returncode != 0:
            raise RestoreError(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout[-3000:]}"
                               f"\n{result.stderr[-3000:]}")
        return result


def with_backup(job: dict, backup: str) -> dict:
    """The job with BACKUP set in every step (the S3 fetch runs as an init container)."""
    pod = job["spec"]["template"]["spec"]
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        container["env"] = [e for e in container.get("env", []) if e["name"] != "BACKUP"] + [
            {"name": "BACKUP", "value": backup}]
    return job


def job_outcome(job: dict) -> str:
    """succeeded, failed, or empty while it runs."""
    status = job.get("status") or {}
    return "succeeded" if status.get("succeeded") else "failed" if status.get("failed") else ""


def selector(component: str) -> str:
    return ",".join(f"{k}={v}" for k, v in kube.labels(component).items())


def command_runner(argv: Sequence[str], suffix: Sequence[str] = (), env: dict | None = None) -> Runner:
    """Runs ``argv + args + suffix``, with optional standard input, capturing the output."""
    def run(args: Sequence[str], stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([*argv, *args, *suffix], input=stdin, capture_output=True, text=True, env=env)
    return run


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/restore-database", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", required=True, help="the Pulumi stack whose database to restore")
    parser.add_argument("--backup", default="latest", help="a dump's file name on the backup volume (default: the "
                                                            "newest)")
    parser.add_argument("--context", help="kubectl context of the stack's cluster (default: the current one)")
    options = parser.parse_args()
    kubectl = ["kubectl", *(["--context", options.context] if options.context else [])]
    try:
        Restore(command_runner(["pulumi"], ["--stack", options.stack]), command_runner(kubectl)).run(options.backup)
    except RestoreError as error:
        print(f"restore-database: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
