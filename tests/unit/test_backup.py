"""Database backups as declared (a CronJob with the database image's client, its own protected volume, a suspended
restore template), and the control flow of their scripts: a failed dump keeps every earlier one and leaves no partial
file; pruning keeps the newest; a restore loads the newest unless told otherwise."""

import os
import subprocess
from pathlib import Path

import pytest

from components.backup import CLIENTS, backup_script, download_script, restore_script, upload_script
from lib.database_restore import job_outcome, with_backup
from settings import parse_settings
from support.mock_program import VALID, is_secret, run_program, stack_file_config

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


# ------------------------------------------------------------------ the S3 copy
S3_BACKUPS = {**BACKUPS, "databaseBackupS3Prefix": "s3://example-backups/keycloak", "s3Endpoint": "http://s3.local:7070",
              "s3AccessKey": "AKIAEXAMPLE", "s3SecretKey": "secret-example"}
S3_SECRETS = frozenset({"s3AccessKey", "s3SecretKey"})


def test_an_s3_prefix_copies_each_dump_there_and_restores_from_there():
    run = run_program(S3_BACKUPS, S3_SECRETS)
    backup = run.one(CRON_JOB, "keycloak-db-backup").inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert [c["name"] for c in backup["initContainers"]] == ["dump"]
    (copy,) = backup["containers"]
    assert (copy["name"], copy["image"]) == ("copy-to-s3", "docker.io/amazon/aws-cli:2.9.19")
    assert "--endpoint-url http://s3.local:7070 s3 cp" in copy["command"][2]
    keys = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in copy["env"] if "valueFrom" in e}
    assert keys == {key: {"name": "keycloak-db-backup-s3", "key": key}
                    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    restore = run.one(CRON_JOB, "keycloak-db-restore").inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert [c["name"] for c in restore["initContainers"]] == ["fetch-from-s3"]
    assert {v["name"] for v in restore["volumes"]} == {"restore"}  # an emptyDir: the dump comes from S3
    assert is_secret(run.one("kubernetes:core/v1:Secret", "keycloak-db-backup-s3").inputs["stringData"])


@pytest.fixture
def aws(tmp_path) -> Path:
    """An `aws` that keeps s3://bucket/key under tmp_path/s3 (cp both ways, ls, rm; configure is a no-op)."""
    bin_dir = tmp_path / "aws-bin"
    bin_dir.mkdir()
    store = tmp_path / "s3"
    (bin_dir / "aws").write_text(f"""#!/bin/sh
while [ "$1" = --endpoint-url ]; do shift 2; done
path_of() {{ echo "{store}/${{1#s3://}}"; }}
case "$1 $2" in
  "configure set") exit 0 ;;
  "s3 cp") shift 2; [ "$1" = --no-progress ] && shift
    case "$1" in
      s3://*) cp "$(path_of "$1")" "$2" ;;
      *) mkdir -p "$(dirname "$(path_of "$2")")"; cp "$1" "$(path_of "$2")" ;;
    esac ;;
  "s3 ls") ls -1 "$(path_of "$3")" 2>/dev/null | while read -r f; do echo "2026-11-30 00:00:00 3 $f"; done ;;
  "s3 rm") rm "$(path_of "$3")" ;;
  *) exit 2 ;;
esac
""")
    (bin_dir / "aws").chmod(0o755)
    return bin_dir


def test_the_s3_copy_keeps_the_newest_and_a_restore_fetches_the_newest(aws, clients, tmp_path):
    settings = parse_settings(S3_BACKUPS, S3_SECRETS).database
    directory, prefix = tmp_path / "backups", tmp_path / "s3" / "example-backups" / "keycloak"
    directory.mkdir()
    prefix.mkdir(parents=True)
    for day in ("01", "02", "03"):
        (prefix / f"keycloak-202611{day}T000000Z.sql.gz").write_bytes(day.encode())
    (directory / "keycloak-20261130T000000Z.sql.gz").write_bytes(b"new")
    copied = run(upload_script(settings, settings.backup, str(directory)), aws)
    assert copied.returncode == 0, copied.stdout + copied.stderr
    assert sorted(p.name for p in prefix.iterdir()) == ["keycloak-20261103T000000Z.sql.gz",
                                                        "keycloak-20261130T000000Z.sql.gz"]  # retention 2
    fetched = tmp_path / "restore"
    fetched.mkdir()
    assert run(download_script(settings, settings.backup, str(fetched)), aws).returncode == 0
    assert [p.name for p in fetched.iterdir()] == ["keycloak-20261130T000000Z.sql.gz"]
    named = run(download_script(settings, settings.backup, str(fetched)), aws,
                BACKUP="keycloak-20261103T000000Z.sql.gz")
    assert named.returncode == 0 and (fetched / "keycloak-20261103T000000Z.sql.gz").read_bytes() == b"03"


def test_the_restore_names_its_dump_to_every_step_of_the_job():
    job = {"spec": {"template": {"spec": {
        "initContainers": [{"name": "fetch-from-s3", "env": [{"name": "HOME", "value": "/tmp"}]}],
        "containers": [{"name": "restore", "env": [{"name": "BACKUP", "value": "latest"}]}]}}}}
    pod = with_backup(job, "keycloak-20261130T023000Z.sql.gz")["spec"]["template"]["spec"]
    for container in (*pod["initContainers"], *pod["containers"]):
        assert [e for e in container["env"] if e["name"] == "BACKUP"] == [
            {"name": "BACKUP", "value": "keycloak-20261130T023000Z.sql.gz"}], container["name"]
    assert (job_outcome({"status": {"succeeded": 1}}), job_outcome({"status": {"failed": 1}}),
            job_outcome({"status": {"active": 1}})) == ("succeeded", "failed", "")
