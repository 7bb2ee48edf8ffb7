"""Backups of Keycloak's database (the realm, its users, teams, rules, robots and signing keys all live there).

A CronJob dumps it with the database image's own client, in one consistent snapshot (``--single-transaction``), to
a volume of its own, and keeps the newest ``retention`` dumps. A suspended CronJob holds the restore job, so
``scripts/restore-database`` (lib/database_restore.py) starts it from the very template the program declared.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from lib import kube
from settings import DatabaseBackup, DatabaseSettings

from .database import CREDENTIALS_SECRET, USER_ID, service_host

NAME = "keycloak-db-backup"
RESTORE = "keycloak-db-restore"
CLAIM = "keycloak-db-backups"
BACKUP_DIR = "/backups"
NEVER = "0 0 31 2 *"  # 31 February: the restore CronJob is a template, started only by hand (and suspended too)
CLIENTS = {"mariadb": ("mariadb-dump", "mariadb"), "mysql": ("mysqldump", "mysql")}  # dump, load


def dump_pattern(db: DatabaseSettings, directory: str) -> str:
    return f"{directory}/{db.name}-*.sql.gz"


CONNECT_SECONDS = 120


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


class DatabaseBackups(pulumi.ComponentResource):
    """The backup volume, the backup CronJob and the (suspended) restore CronJob."""

    claim: k8s.core.v1.PersistentVolumeClaim
    cron_job: k8s.batch.v1.CronJob
    restore_cron_job: k8s.batch.v1.CronJob

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

        def job(script: str) -> k8s.batch.v1.JobTemplateSpecArgs:
            pod = kube.pod_template(kube.DATABASE_BACKUP, USER_ID, containers=[k8s.core.v1.ContainerArgs(
                name=db.engine, image=db.image, command=["sh", "-c", script],
                env=kube.env_vars([("DB_USER", kube.SecretRef(CREDENTIALS_SECRET, "username")),
                                   ("MYSQL_PWD", kube.SecretRef(CREDENTIALS_SECRET, "password"))]),
                volume_mounts=[k8s.core.v1.VolumeMountArgs(name="backups", mount_path=BACKUP_DIR)],
                resources=k8s.core.v1.ResourceRequirementsArgs(requests={"cpu": "50m", "memory": "64Mi"},
                                                               limits={"memory": "512Mi"}),
                security_context=kube.container_security())],
                volumes=[k8s.core.v1.VolumeArgs(name="backups", persistent_volume_claim=(
                    k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(claim_name=self.claim.metadata.name)))],
                restart_policy="Never")
            # a failed dump waits for the next schedule; its log says why (failedJobsHistoryLimit keeps it)
            return k8s.batch.v1.JobTemplateSpecArgs(spec=k8s.batch.v1.JobSpecArgs(backoff_limit=0, template=pod))

        def cron_job(name: str, schedule: str, script: str, suspend: bool) -> k8s.batch.v1.CronJob:
            return k8s.batch.v1.CronJob(name, metadata=kube.metadata(name, ns, kube.DATABASE_BACKUP),
                                        spec=k8s.batch.v1.CronJobSpecArgs(
                                            schedule=schedule, time_zone="Etc/UTC", suspend=suspend,
                                            concurrency_policy="Forbid", starting_deadline_seconds=3600,
                                            successful_jobs_history_limit=3, failed_jobs_history_limit=3,
                                            job_template=job(script)),
                                        opts=pulumi.ResourceOptions(parent=self, depends_on=[database]))

        self.cron_job = cron_job(NAME, backup.schedule, backup_script(db, backup, host), suspend=False)
        self.restore_cron_job = cron_job(RESTORE, NEVER, restore_script(db, host), suspend=True)
        self.register_outputs({"schedule": backup.schedule, "claim": self.claim.metadata.name})
