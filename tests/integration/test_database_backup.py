"""Backups with a proven restore, on the real node: the program's backup CronJob dumps the database to its volume
and copies it to S3 (versitygw), keeping the newest databaseBackupRetention on each; then the database claim and
its data are deleted, and the one documented command (scripts/localenv restore-database, lib/database_restore.py)
brings the stack back from the S3 copy. The realm, its users, teams, rules, robots and keys come back with their
ids; everyone logs in with the same password; a token signed before the loss still verifies at the registry; both
Keycloak pods form one cluster again (keycloak#51797)."""

import re
import subprocess
import time
from pathlib import Path

import pytest

from components.backup import CLAIM as BACKUP_CLAIM
from components.backup import NAME as BACKUP_JOB
from localenv import s3
from providers.storage_guard import DATABASE_CLAIM
from tests.integration.clients import (
    expired,
    finished_job,
    job_log,
    registry_get,
    request_token,
    signing_secret,
    start_job,
    token_for,
)
from tests.integration.load import report
from tests.integration.test_faults import wait_until
from tests.integration.test_keycloak_cluster import one_cluster_of

pytestmark = pytest.mark.changes_stack  # deletes the database and restores it

ROOT = Path(__file__).resolve().parents[2]


def backup(kube, namespace: str) -> tuple[str, int, int]:
    """Run the backup job once: the dump's file name, its size and the seconds the dump took, from its log."""
    job = start_job(kube, namespace, BACKUP_JOB)
    status, log = finished_job(kube, namespace, job, timeout=300), job_log(kube, namespace, job)
    assert status.get("succeeded") == 1, log
    size, seconds, path = re.search(r"backed up (\d+) bytes in (\d+) s: (\S+)", log).groups()
    return Path(path).name, int(size), int(seconds)


def realm_state(admin, realm: str, client_id: str) -> dict:
    """What the restore must bring back, with ids: the realm, users and robots, the group and its teams, the
    docker client's rule roles and the realm's RS256 keys."""
    def groups(path: str) -> dict:
        found = {}
        for group in admin.call("GET", path).json():
            found[group["name"]] = {"id": group["id"], "members": sorted(
                u["username"] for u in admin.call("GET", f"/{realm}/groups/{group['id']}/members").json()),
                "teams": groups(f"/{realm}/groups/{group['id']}/children")}
        return found
    client = admin.call("GET", f"/{realm}/clients", params={"clientId": client_id}).json()[0]
    return {
        "realm": admin.call("GET", f"/{realm}").json()["id"],
        "users": {u["username"]: u["id"] for u in admin.call("GET", f"/{realm}/users", params={"max": 500}).json()},
        "groups": groups(f"/{realm}/groups"),
        "client": client["id"],
        "rules": sorted((r["name"], r["id"]) for r in admin.call(
            "GET", f"/{realm}/clients/{client['id']}/roles", params={"briefRepresentation": "false"}).json()),
        "keys": sorted((k["kid"], k.get("certificate", "")) for k in admin.call("GET", f"/{realm}/keys").json()["keys"]
                       if k.get("algorithm") == "RS256"),
    }


def test_the_backup_job_keeps_the_newest_dumps(local_env, kube, env_json):
    namespace, retention = env_json["namespace"], local_env.settings.database.backup.retention
    names = []
    for _ in range(retention + 1):
        names.append(backup(kube, namespace)[0])
        time.sleep(1.1)  # dumps are named by the second
    directory = kube.claim_directory(namespace, BACKUP_CLAIM)  # bound by the first job (WaitForFirstConsumer)
    kept = sorted(p.name for p in directory.glob("*.sql.gz"))
    assert kept == sorted(names)[-retention:], (kept, names)
    for name in kept:
        assert subprocess.run(["gzip", "-t", str(directory / name)]).returncode == 0, name
    backup_settings = local_env.settings.database.backup
    if backup_settings.s3_prefix:  # the copies on S3, as versitygw keeps them: the same dumps, byte for byte
        bucket, _, prefix = backup_settings.s3_prefix.removeprefix("s3://").partition("/")
        on_s3 = s3.data_directory(kube, bucket) / prefix
        assert sorted(p.name for p in on_s3.glob("*.sql.gz")) == kept
        assert all((on_s3 / name).read_bytes() == (directory / name).read_bytes() for name in kept)


def test_a_lost_database_comes_back_from_its_backup(local_env, kube, admin, env_json, user):
    namespace, realm = env_json["namespace"], env_json["realm"]
    before = realm_state(admin, realm, env_json["service"])
    certificates_before = signing_secret(kube, namespace)
    dump, size, dump_seconds = backup(kube, namespace)

    # The loss: the claim and its volume (local-path deletes the directory), the pod that held them.
    data = kube.claim_directory(namespace, DATABASE_CLAIM)
    signed_before = token_for(env_json, user["username"], user["password"])
    lost_at = time.monotonic()
    kube.call("DELETE", f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{DATABASE_CLAIM}", expect=(200, 202))
    kube.call("DELETE", f"/api/v1/namespaces/{namespace}/pods/keycloak-db-0", expect=(200, 202))
    wait_until(lambda: not data.exists(), 180, "the database volume's directory deleted")

    restore = subprocess.run([str(ROOT / "scripts" / "localenv"), "restore-database"], capture_output=True,
                             text=True, timeout=1800)
    assert restore.returncode == 0, restore.stdout[-4000:] + restore.stderr[-4000:]
    source = "/restore" if local_env.settings.database.backup.s3_prefix else "/backups"  # fetched from S3 first
    assert f"restoring {source}/{dump}" in restore.stdout, restore.stdout[-3000:]
    restored_after = time.monotonic() - lost_at

    assert realm_state(admin, realm, env_json["service"]) == before
    for account in [*env_json["users"], *env_json["robots"]]:  # the same passwords: their hashes came back
        status = request_token(env_json, account["username"], account["password"]).status_code
        assert status == (401 if expired(account) else 200), account["username"]  # and so did an expiry
    assert signing_secret(kube, namespace) == certificates_before  # the realm's keys came back: nothing rolled
    registry = next(r for r in env_json["registries"] if r["line"] == local_env.settings.registry.line)
    lifespan = local_env.settings.realm.token_lifespan_seconds
    assert restored_after < lifespan, f"restore took {restored_after:.0f} s, longer than a token lives ({lifespan} s)"
    assert registry_get(registry, signed_before).status_code == 200
    wait_until(lambda: one_cluster_of(local_env, local_env.settings.keycloak.replicas), 300,
               "both Keycloak pods in one cluster after the restore")
    assert local_env.stack().run("preview", "--expect-no-changes", "--non-interactive", check=False).returncode == 0
    report("database-restore", {"dump": dump, "dump_bytes": size, "dump_s": dump_seconds,
                                "lost_to_restored_s": round(restored_after),
                                "steps": restore.stdout.strip().splitlines()[-1]})
