"""The registry's garbage collection: a CronJob that puts the registry in read-only maintenance, runs
`registry garbage-collect --delete-untagged` in a registry pod, and leaves maintenance whatever the collection did.

distribution collects offline only (distribution#1515): a push that lands while the mark phase runs can have its
fresh blobs swept. Read-only maintenance (``storage.maintenance.readonly``) refuses every push with 405 and keeps
serving pulls, so the registry stays up while nothing can race the sweep.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from lib import kube
from settings import RegistrySettings

from .registry import CONFIG_DIR, CONFIG_FILE
from .registry import NAME as REGISTRY

NAME = "registry-garbage-collection"
READ_ONLY_ENV = "REGISTRY_STORAGE_MAINTENANCE_READONLY"  # distribution's env override of that config key
USER_ID = 65534  # nobody: kubectl needs no identity of its own in the image
ROLLOUT_TIMEOUT = "10m"
LEAVE_SECONDS = 15 * 60  # more than a rollout's timeout: a stopped job still leaves maintenance
DEADLINE_SECONDS = 6 * 3600  # a collection that has not finished by then is stopped, and maintenance left


def garbage_collection_script(namespace: str) -> str:
    """The job's sh script. The trap leaves maintenance on every exit, a failed collection or a stopped job
    (SIGTERM) included; the rollouts surge and never drop a serving pod (the registry Deployment's strategy)."""
    pods = ",".join(f"{key}={value}" for key, value in kube.labels(kube.REGISTRY).items())
    target = f"-n {namespace} deployment/{REGISTRY}"
    return f"""set -eu
roll() {{
  kubectl set env {target} -c {REGISTRY} "$1"
  kubectl rollout status {target} --timeout={ROLLOUT_TIMEOUT}
  # replaced pods serve, and take pushes, until their preStop ends: wait until none is left
  while [ -n "$(kubectl get pods -n {namespace} -l {pods} \\
      -o jsonpath='{{.items[?(@.metadata.deletionTimestamp)].metadata.name}}')" ]; do sleep 2; done
}}
leave() {{
  code=$?
  trap - EXIT
  echo "leaving read-only maintenance"
  # new pods also start with empty blob-descriptor caches, so nothing collected is served from memory
  roll "{READ_ONLY_ENV}-" || code=1
  echo "done: exit $code"
  exit $code
}}
trap leave EXIT
trap 'exit 143' TERM INT
echo "entering read-only maintenance"
roll '{READ_ONLY_ENV}={{enabled: true}}'
echo "collecting garbage"
kubectl exec {target} -c {REGISTRY} -- registry garbage-collect --delete-untagged {CONFIG_DIR}/{CONFIG_FILE} &
wait $!
"""


def maintenance_rules() -> list[k8s.rbac.v1.PolicyRuleArgs]:
    """What the script does with the API: read and patch the registry Deployment, find its pods, exec into one."""
    return [
        k8s.rbac.v1.PolicyRuleArgs(api_groups=["apps"], resources=["deployments"], verbs=["get", "list", "watch"]),
        k8s.rbac.v1.PolicyRuleArgs(api_groups=["apps"], resources=["deployments"], resource_names=[REGISTRY],
                                   verbs=["patch"]),
        k8s.rbac.v1.PolicyRuleArgs(api_groups=["apps"], resources=["replicasets"], verbs=["get", "list", "watch"]),
        k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["pods"], verbs=["get", "list", "watch"]),
        # exec over WebSocket opens with a GET, over SPDY with a POST
        k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["pods/exec"], verbs=["get", "create"]),
    ]


class GarbageCollection(pulumi.ComponentResource):
    """The CronJob, and the ServiceAccount and Role it runs with (allowed only what the script does)."""

    cron_job: k8s.batch.v1.CronJob
    service_account: k8s.core.v1.ServiceAccount

    def __init__(self, name: str, registry: RegistrySettings, namespace: str, ns: pulumi.Input[str],
                 opts: pulumi.ResourceOptions | None = None):
        """``namespace`` is the name the script targets; ``ns`` the Namespace resource's output, for the order."""
        super().__init__(kube.component_type("GarbageCollection"), name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.service_account = k8s.core.v1.ServiceAccount(
            NAME, metadata=kube.metadata(NAME, ns, NAME), opts=child)
        role = k8s.rbac.v1.Role(NAME, metadata=kube.metadata(NAME, ns, NAME), rules=maintenance_rules(), opts=child)
        binding = k8s.rbac.v1.RoleBinding(
            NAME, metadata=kube.metadata(NAME, ns, NAME),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role",
                                             name=role.metadata.name),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=self.service_account.metadata.name,
                                              namespace=namespace)],
            opts=child)
        pod = kube.pod_template(NAME, USER_ID, volumes=[k8s.core.v1.VolumeArgs(
            name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs())], containers=[k8s.core.v1.ContainerArgs(
                name="garbage-collect",
                image=registry.kubectl_image,
                command=["sh", "-c", garbage_collection_script(namespace)],
                env=kube.env_vars([("HOME", "/tmp")]),  # kubectl's discovery cache
                volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],
                resources=k8s.core.v1.ResourceRequirementsArgs(requests={"cpu": "10m", "memory": "32Mi"},
                                                               limits={"memory": "128Mi"}),
                security_context=kube.container_security())],
            service_account_name=self.service_account.metadata.name, restart_policy="Never",
            # a stopped job leaves maintenance first: that takes a rollout, not the default 30 s
            termination_grace_period_seconds=LEAVE_SECONDS)
        self.cron_job = k8s.batch.v1.CronJob(
            NAME,
            metadata=kube.metadata(NAME, ns, NAME),
            spec=k8s.batch.v1.CronJobSpecArgs(
                schedule=registry.garbage_collection,
                time_zone="Etc/UTC",
                concurrency_policy="Forbid",
                starting_deadline_seconds=3600,
                successful_jobs_history_limit=3,
                failed_jobs_history_limit=3,
                job_template=k8s.batch.v1.JobTemplateSpecArgs(spec=k8s.batch.v1.JobSpecArgs(
                    # a failed collection waits for its next schedule: a retry would roll the registry twice more
                    backoff_limit=0,
                    active_deadline_seconds=DEADLINE_SECONDS,
                    template=pod)),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[binding]))
        self.register_outputs({"schedule": registry.garbage_collection})
