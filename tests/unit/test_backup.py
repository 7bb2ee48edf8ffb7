"""Database backups as declared (a CronJob with the database image's client, its own protected volume, a suspended
restore template), and the control flow of their scripts: a failed dump keeps every earlier one and leaves no partial
file; pruning keeps the newest; a restore loads the newest unless told otherwise."""

import os
import subprocess
from pathlib import Path

import pytest

from components.backup import CLIENTS, backup_script, restore_script
from settings import parse_settings
from support.mock_program import VALID, run_program, stack_file_config

CRON_JOB = "kubernetes:batch/v1:CronJob"
BACKUPS = {**VALID, "databaseEngine": "mariadb", "databaseVersion": "11.4.8", "databaseBackupSchedule": "30 2 * * *",
           "databaseBackupRetention": "2"}


def test_no_schedule_declares_no_backup(dev_run):
    assert not [c for c in dev_run.of_type(CRON_JOB) if c.name.startswith("keycloak-db")]
    assert "keycloak-db-backups" not in {c.name for c in dev_run.of_type("kubernetes:core/v1:PersistentVolumeClaim")}


def test_a_schedule_declares_the_backup_job_its_volume_and_the_restore_template():
    run = run_program(BACKUPS)
    claim = run.one("kubernetes:core/v1:PersistentVolumeClaim", "keycloak-db-backups")
    assert claim.protect and claim.inputs["spec"]["resources"]["requests"]["storage"] == "10Gi"
    backup = run.one(CRON_JOB, "keycloak-db-backup").inputs["spec"]
    assert (backup["schedule"], backup["timeZone"], backup["concurrencyPolicy"], backup.get("suspend")) == \
        ("30 2 * * *", "Etc/UTC", "Forbid", False)
    pod = backup["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "docker.io/library/mariadb:11.4.8"  # the database's own image and client
    assert "mariadb-dump" in container["command"][2] and "--single-transaction" in container["command"][2]
    assert {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]} == {
        "DB_USER": {"name": "keycloak-db-credentials", "key": "username"},
        "MYSQL_PWD": {"name": "keycloak-db-credentials", "key": "password"}}  # never on the command line
    assert pod["securityContext"]["runAsUser"] == 999 and pod["restartPolicy"] == "Never"
    restore = run.one(CRON_JOB, "keycloak-db-restore").inputs["spec"]
    assert restore["suspend"] is True
    assert "DELETE FROM JGROUPS_PING" in restore["jobTemplate"]["spec"]["template"]["spec"]["containers"][0][
        "command"][2]


def test_the_prod_stack_backs_up_nightly():
    config, secrets = stack_file_config("prod")
    assert run_program(config, secrets).one(CRON_JOB, "keycloak-db-backup").inputs["spec"]["schedule"] == "30 2 * * *"


# ------------------------------------------------------------------ the scripts, over stand-in clients
@pytest.fixture
def clients(tmp_path) -> Path:
    """mariadb-dump writing a dump (failing when FAIL_DUMP is set) and mariadb recording what it loads."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    dump, load = CLIENTS["mariadb"]
    (bin_dir / dump).write_text('#!/bin/sh\nfor a; do case "$a" in --result-file=*) out="${a#*=}";; esac; done\n'
                                'echo "CREATE TABLE t (i int);" > "$out"\n'
                                '[ -z "${FAIL_DUMP:-}" ] || exit 2\necho "-- Dump completed" >> "$out"\n')
    (bin_dir / load).write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/loaded\ncat >> {tmp_path}/loaded\n')
    for tool in (dump, load):
        (bin_dir / tool).chmod(0o755)
    return bin_dir


def run(script: str, bin_dir: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "DB_USER": "keycloak", **env})


def test_backups_keep_the_newest_and_a_failed_dump_keeps_them_all(clients, tmp_path):
    settings = parse_settings(BACKUPS).database
    directory = tmp_path / "backups"
    directory.mkdir()
    for stamp in ("20261101T000000Z", "20261102T000000Z", "20261103T000000Z"):
        (directory / f"keycloak-{stamp}.sql.gz").write_bytes(b"old")
    script = backup_script(settings, settings.backup, "db", str(directory))

    failed = run(script, clients, FAIL_DUMP="1")
    assert failed.returncode != 0
    assert sorted(p.name for p in directory.iterdir()) == [f"keycloak-2026110{d}T000000Z.sql.gz" for d in (1, 2, 3)]

    done = run(script, clients)
    assert done.returncode == 0, done.stdout + done.stderr
    kept = sorted(p.name for p in directory.iterdir())
    assert len(kept) == 2 and kept[0] == "keycloak-20261103T000000Z.sql.gz"  # retention 2: the new one and the last
    assert subprocess.run(["gzip", "-t", str(directory / kept[1])]).returncode == 0


def test_a_restore_loads_the_newest_dump_unless_one_is_named(clients, tmp_path):
    settings = parse_settings(BACKUPS).database
    directory = tmp_path / "backups"
    directory.mkdir()
    for day in ("01", "02"):
        subprocess.run(f"echo 'dump of {day}' | gzip > {directory}/keycloak-202611{day}T000000Z.sql.gz", shell=True)
    script = restore_script(settings, "db", str(directory))

    assert run(script, clients).returncode == 0
    assert "dump of 02" in (tmp_path / "loaded").read_text()
    assert "DELETE FROM JGROUPS_PING" in (tmp_path / "loaded").read_text()
    (tmp_path / "loaded").unlink()
    assert run(script, clients, BACKUP="keycloak-20261101T000000Z.sql.gz").returncode == 0
    assert "dump of 01" in (tmp_path / "loaded").read_text()
    missing = run(script, clients, BACKUP="keycloak-nope.sql.gz")
    assert missing.returncode != 0 and "no dump" in missing.stdout and "keycloak-20261102T000000Z" in missing.stdout
