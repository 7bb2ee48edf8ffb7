"""Backups of Keycloak's database (the realm, its users, teams, rules, robots and signing keys all live there).

A CronJob dumps it with the database image's own client, in one consistent snapshot (``--single-transaction``), to
a volume of its own (and, with an S3 prefix, copies it to S3), and keeps the newest ``retention`` dumps on each. A
suspended CronJob holds the restore job (loading from S3 when there is a prefix), so
``scripts/restore-database`` (lib/database_restore.py) starts it from the very template the program declared.
"""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from lib import kube
from settings import DatabaseBackup, DatabaseSettings

from .database import CREDENTIALS_SECRET, USER_ID, service_host

NAME = "keycloak-db-backup"
RESTORE = "keycloak-db-restore"
CLAIM = "keycloak-db-backups"
BACKUP_DIR = "/backups"  # the backup claim
RESTORE_DIR = "/restore"  # scratch for a dump fetched from S3
S3_SECRET = "keycloak-db-backup-s3"
NEVER = "0 0 31 2 *"  # 31 February: the restore CronJob is a template, started only by hand (and suspended too)
CLIENTS = {"mariadb": ("mariadb-dump", "mariadb"), "mysql": ("mysqldump", "mysql")}  # dump, load


CONNECT_SECONDS = 120  # how long a job waits for the database to answer


def dump_pattern(db: DatabaseSettings, directory: str) -> str:
    return f"{directory}/{db.name}-*.sql.gz"


def wait_for_database(db: DatabaseSettings, host: str) -> str:
    """sh that waits until the server answers: a new pod's address reaches the NetworkPolicy's allow list some time
    after the pod starts (kube-router, Calico and Cilium all program it asynchronously)."""
    _, load = CLIENTS[db.engine]
    return f"""tries=0
until answer=$({load} --host={host} --port={db.port} --user="$DB_USER" --connect-timeout=5 -e "SELECT 1" {db.name} 2>&1)
do
  tries=$((tries + 1))
  if [ "$tries" -ge {CONNECT_SECONDS // 2} ]; then
    echo "{host}:{db.port} did not answer in {CONNECT_SECONDS} s: $answer"; exit 1
  fi
  sleep 2
done"""


def backup_script(db: DatabaseSettings, backup: DatabaseBackup, host: str, directory: str = BACKUP_DIR) -> str:
    """Dump, check the dump's closing line, compress, publish under its final name, then prune: a failed run
    leaves neither a partial file nor fewer dumps than before."""
    dump, _ = CLIENTS[db.engine]
    return f"""set -eu
umask 077
file="{directory}/{db.name}-$(date -u +%Y%m%dT%H%M%SZ).sql"
trap 'rm -f "$file.partial" "$file.partial.gz"' EXIT
{wait_for_database(db, host)}
started=$(date +%s)
echo "dumping database {db.name} from {host}"
{dump} --host={host} --port={db.port} --user="$DB_USER" --single-transaction --quick --no-tablespaces \\
  --result-file="$file.partial" {db.name}
tail -n 1 "$file.partial" | grep -q "Dump completed" || {{ echo "the dump did not complete"; exit 1; }}
gzip "$file.partial"
mv "$file.partial.gz" "$file.gz"
echo "backed up $(wc -c < "$file.gz") bytes in $(( $(date +%s) - started )) s: $file.gz"
ls -1 {dump_pattern(db, directory)} | sort -r | tail -n +{backup.retention + 1} | while read -r old; do
  echo "removing $old (keeping {backup.retention})"
  rm -f "$old"
done
"""


def restore_script(db: DatabaseSettings, host: str, directory: str = BACKUP_DIR) -> str:
    """Load one dump (BACKUP: a file name on the backup volume, or latest), then forget the cluster members the
    dump remembers: the pods that wrote those rows are gone, and jdbc-ping would wait for them (keycloak#51797)."""
    _, load = CLIENTS[db.engine]
    sql = f'{load} --host={host} --port={db.port} --user="$DB_USER" {db.name}'
    return f"""set -eu
file="${{BACKUP:-latest}}"
if [ "$file" = latest ]; then file=$(ls -1 {dump_pattern(db, directory)} 2>/dev/null | sort | tail -n 1); fi
case "$file" in /*) ;; *) file="{directory}/$file" ;; esac
if [ ! -f "$file" ]; then echo "no dump $file on the backup volume; it holds:"; ls -1 {directory}; exit 1; fi
gzip -t "$file"
{wait_for_database(db, host)}
started=$(date +%s)
echo "restoring $file into {db.name} on {host}"
gunzip -c "$file" | {sql}
{sql} -e "DELETE FROM JGROUPS_PING"
echo "restored in $(( $(date +%s) - started )) s: $file"
"""


def s3_setup(backup: DatabaseBackup) -> str:
    """sh that points the AWS CLI at the stack's S3 server: path-style addressing for an S3-compatible endpoint."""
    return 'aws configure set default.s3.addressing_style path\n' if backup.s3_endpoint else ""


def aws(backup: DatabaseBackup) -> str:
    return f"aws --endpoint-url {backup.s3_endpoint}" if backup.s3_endpoint else "aws"


def s3_dumps(db: DatabaseSettings, backup: DatabaseBackup) -> str:
    """sh listing the dump names under the prefix, oldest first."""
    return (f"{aws(backup)} s3 ls {backup.s3_prefix}/ | awk '{{print $4}}' | "
            f"grep -E '^{db.name}-[0-9]{{8}}T[0-9]{{6}}Z\\.sql\\.gz$' | sort")


def upload_script(db: DatabaseSettings, backup: DatabaseBackup, directory: str = BACKUP_DIR) -> str:
    """Copy the dump the first container just made to S3, then keep the newest ``retention`` there."""
    return f"""set -eu
{s3_setup(backup)}file=$(ls -1 {dump_pattern(db, directory)} | sort | tail -n 1)
{aws(backup)} s3 cp --no-progress "$file" "{backup.s3_prefix}/$(basename "$file")"
echo "copied to {backup.s3_prefix}/$(basename "$file")"
{s3_dumps(db, backup)} | sort -r | tail -n +{backup.retention + 1} | while read -r old; do
  echo "removing {backup.s3_prefix}/$old (keeping {backup.retention})"
  {aws(backup)} s3 rm "{backup.s3_prefix}/$old"
done
"""


def download_script(db: DatabaseSettings, backup: DatabaseBackup, directory: str) -> str:
    """Fetch the dump to restore (BACKUP, or the newest under the prefix) into ``directory``."""
    return f"""set -eu
{s3_setup(backup)}file="${{BACKUP:-latest}}"
if [ "$file" = latest ]; then file=$({s3_dumps(db, backup)} | tail -n 1); fi
if [ -z "$file" ]; then echo "no dump under {backup.s3_prefix}/"; exit 1; fi
file=$(basename "$file")
{aws(backup)} s3 cp --no-progress "{backup.s3_prefix}/$file" "{directory}/$file"
"""


class DatabaseBackups(pulumi.ComponentResource):
    """The backup volume, the backup CronJob and the (suspended) restore CronJob; with an S3 prefix, a container
    in each that copies dumps to S3 and back."""

    claim: k8s.core.v1.PersistentVolumeClaim
    cron_job: k8s.batch.v1.CronJob
    restore_cron_job: k8s.batch.v1.CronJob
    s3_credentials: Optional[k8s.core.v1.Secret]  # with an S3 prefix and keys

    def __init__(self, name: str, db: DatabaseSettings, namespace: str, ns: pulumi.Input[str],
                 database: pulumi.Resource, protect_data: bool = True, opts: pulumi.ResourceOptions | None = None):
        """``namespace`` names the database's Service host; ``ns`` is the Namespace resource's output."""
        super().__init__(kube.component_type("DatabaseBackups"), name, None, opts)
        assert db.backup, "DatabaseBackups needs database backup settings"
        backup, host = db.backup, service_host(namespace)
        # Every dump lives here: neither replaced nor deleted unless allowVolumeReplacement says so.
        self.claim = k8s.core.v1.PersistentVolumeClaim(
            CLAIM, metadata=kube.metadata(CLAIM, ns, kube.DATABASE_BACKUP),
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=["ReadWriteOnce"], storage_class_name=backup.storage_class or None,
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": backup.storage_size})),
            opts=pulumi.ResourceOptions(parent=self, protect=protect_data))
        self.s3_credentials = k8s.core.v1.Secret(
            S3_SECRET, metadata=kube.metadata(S3_SECRET, ns, kube.DATABASE_BACKUP),
            string_data=pulumi.Output.secret({"AWS_ACCESS_KEY_ID": backup.s3_access_key,
                                              "AWS_SECRET_ACCESS_KEY": backup.s3_secret_key}),
            opts=pulumi.ResourceOptions(parent=self)) if backup.s3_prefix and backup.s3_access_key else None

        database_env: list[tuple[str, kube.EnvValue]] = [
            ("DB_USER", kube.SecretRef(CREDENTIALS_SECRET, "username")),
            ("MYSQL_PWD", kube.SecretRef(CREDENTIALS_SECRET, "password"))]  # never on a command line
        s3_env: list[tuple[str, kube.EnvValue]] = [("HOME", "/tmp"), ("AWS_DEFAULT_REGION", backup.s3_region), *(
            (key, kube.SecretRef(S3_SECRET, key)) for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
            if self.s3_credentials)]

        def container(role: str, image: str, script: str, env: list, mount: str) -> k8s.core.v1.ContainerArgs:
            return k8s.core.v1.ContainerArgs(
                name=role, image=image, command=["sh", "-c", script], env=kube.env_vars(env),
                volume_mounts=[k8s.core.v1.VolumeMountArgs(name=mount.strip("/"), mount_path=mount)],
                resources=k8s.core.v1.ResourceRequirementsArgs(requests={"cpu": "50m", "memory": "64Mi"},
                                                               limits={"memory": "512Mi"}),
                security_context=kube.container_security())

        def job(steps: list[k8s.core.v1.ContainerArgs]) -> k8s.batch.v1.JobTemplateSpecArgs:
            """The steps run in order (all but the last as init containers); a failed one ends the job."""
            mounted = {m.mount_path for step in steps for m in step.volume_mounts}
            volumes = [k8s.core.v1.VolumeArgs(name=BACKUP_DIR.strip("/"), persistent_volume_claim=(
                k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(claim_name=self.claim.metadata.name)))
                ] if BACKUP_DIR in mounted else []
            if RESTORE_DIR in mounted:
                volumes.append(k8s.core.v1.VolumeArgs(name=RESTORE_DIR.strip("/"),
                                                      empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs()))
            pod = kube.pod_template(kube.DATABASE_BACKUP, USER_ID, init_containers=steps[:-1] or None,
                                    containers=steps[-1:], restart_policy="Never", volumes=volumes)
            # a failed dump waits for the next schedule; its log says why (failedJobsHistoryLimit keeps it)
            return k8s.batch.v1.JobTemplateSpecArgs(spec=k8s.batch.v1.JobSpecArgs(backoff_limit=0, template=pod))

        def cron_job(name: str, schedule: str, steps: list[k8s.core.v1.ContainerArgs],
                     suspend: bool) -> k8s.batch.v1.CronJob:
            return k8s.batch.v1.CronJob(name, metadata=kube.metadata(name, ns, kube.DATABASE_BACKUP),
                                        spec=k8s.batch.v1.CronJobSpecArgs(
                                            schedule=schedule, time_zone="Etc/UTC", suspend=suspend,
                                            concurrency_policy="Forbid", starting_deadline_seconds=3600,
                                            successful_jobs_history_limit=3, failed_jobs_history_limit=3,
                                            job_template=job(steps)),
                                        opts=pulumi.ResourceOptions(parent=self, depends_on=[database]))

        dump = container("dump", db.image, backup_script(db, backup, host), database_env, BACKUP_DIR)
        if backup.s3_prefix:
            backup_steps = [dump, container("copy-to-s3", backup.s3_client_image, upload_script(db, backup), s3_env,
                                            BACKUP_DIR)]
            restore_steps = [container("fetch-from-s3", backup.s3_client_image,
                                       download_script(db, backup, RESTORE_DIR), s3_env, RESTORE_DIR),
                             container("restore", db.image, restore_script(db, host, RESTORE_DIR), database_env,
                                       RESTORE_DIR)]
        else:
            backup_steps = [dump]
            restore_steps = [container("restore", db.image, restore_script(db, host), database_env, BACKUP_DIR)]
        self.cron_job = cron_job(NAME, backup.schedule, backup_steps, suspend=False)
        self.restore_cron_job = cron_job(RESTORE, NEVER, restore_steps, suspend=True)
        self.register_outputs({"schedule": backup.schedule, "claim": self.claim.metadata.name,
                               "s3Prefix": backup.s3_prefix})
