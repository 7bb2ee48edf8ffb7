"""Kubernetes building blocks every workload shares: names, labels, hardening, env vars, exposure."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, Union

import pulumi
import pulumi_kubernetes as k8s

from settings import PROJECT, Exposure, Resources

APP = "keycloak-registry"
# Component names: the selector label of each workload.
DATABASE, KEYCLOAK, REGISTRY = "database", "keycloak", "registry"
DATABASE_BACKUP = "database-backup"  # the backup and restore jobs' pods


def labels(component: str) -> dict[str, str]:
    """Selector labels of one workload; stable across versions so selectors never change."""
    return {"app.kubernetes.io/name": component, "app.kubernetes.io/part-of": APP}


def metadata(name: str, namespace: pulumi.Input[str], component: str, version: str = "",
             annotations: Optional[Mapping[str, pulumi.Input[str]]] = None) -> k8s.meta.v1.ObjectMetaArgs:
    """Explicit names (no auto-naming) keep `pulumi preview` diffs and rendered file names stable."""
    all_labels = {**labels(component), "app.kubernetes.io/managed-by": "pulumi"}
    if version:
        all_labels["app.kubernetes.io/version"] = version
    return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=all_labels, annotations=annotations)


def checksum(*parts: str) -> str:
    """Pod-template annotation value that changes whenever mounted config or keys change (forces a rollout)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def resources(res: Resources) -> k8s.core.v1.ResourceRequirementsArgs:
    return k8s.core.v1.ResourceRequirementsArgs(
        requests={"cpu": res.cpu_request, "memory": res.memory_request},
        limits={"cpu": res.cpu_limit, "memory": res.memory_limit},
    )


def pod_security(user_id: int) -> k8s.core.v1.PodSecurityContextArgs:
    """Non-root pods whose volumes are group-writable for the image's user."""
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True, run_as_user=user_id, run_as_group=user_id, fs_group=user_id,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def container_security() -> k8s.core.v1.SecurityContextArgs:
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def selector(component: str) -> k8s.meta.v1.LabelSelectorArgs:
    return k8s.meta.v1.LabelSelectorArgs(match_labels=labels(component))


def pod_template(component: str, user_id: int, containers: list[k8s.core.v1.ContainerArgs],
                 volumes: Optional[list[k8s.core.v1.VolumeArgs]] = None,
                 annotations: Optional[Mapping[str, pulumi.Input[str]]] = None,
                 affinity: Optional[k8s.core.v1.AffinityArgs] = None,
                 spread: bool = False, **pod_spec) -> k8s.core.v1.PodTemplateSpecArgs:
    """The pod every workload runs: selector labels, the hardened pod security context, its containers; with
    ``spread``, replicas on different nodes where the cluster has them (soft: a one-node cluster still runs all).
    ``pod_spec``: further PodSpecArgs fields (a job's restart policy, service account)."""
    spread_over_nodes = [k8s.core.v1.TopologySpreadConstraintArgs(
        max_skew=1, topology_key="kubernetes.io/hostname", when_unsatisfiable="ScheduleAnyway",
        label_selector=selector(component))] if spread else None
    return k8s.core.v1.PodTemplateSpecArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels(component), annotations=annotations),
        spec=k8s.core.v1.PodSpecArgs(security_context=pod_security(user_id), containers=containers, volumes=volumes,
                                     affinity=affinity, topology_spread_constraints=spread_over_nodes, **pod_spec),
    )


METRICS_PATH = "/metrics"
PRE_STOP_SECONDS = 5


def serve_until_unrouted() -> k8s.core.v1.LifecycleArgs:
    """Endpoints and every node's proxy drop a terminating pod asynchronously: it keeps serving until they have
    (the kubelet's own sleep, no shell needed), so a rollout or a deleted pod costs only requests it had begun."""
    return k8s.core.v1.LifecycleArgs(pre_stop=k8s.core.v1.LifecycleHandlerArgs(
        sleep=k8s.core.v1.SleepActionArgs(seconds=PRE_STOP_SECONDS)))


def scrape_annotations(port: int) -> dict[str, str]:
    """The prometheus.io/* annotations that Prometheus' example kubernetes-pods job (and most charts) scrape by."""
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(port), "prometheus.io/path": METRICS_PATH}


def same_node_as(component: str) -> k8s.core.v1.AffinityArgs:
    """Schedule onto the node that runs the workload's pods already (the first pod matches its own term)."""
    return k8s.core.v1.AffinityArgs(pod_affinity=k8s.core.v1.PodAffinityArgs(
        required_during_scheduling_ignored_during_execution=[k8s.core.v1.PodAffinityTermArgs(
            label_selector=selector(component), topology_key="kubernetes.io/hostname")]))


def disruption_budget(name: str, namespace: pulumi.Input[str], component: str,
                      parent: pulumi.Resource) -> k8s.policy.v1.PodDisruptionBudget:
    """A drain or node upgrade takes one replica at a time; the others keep serving."""
    return k8s.policy.v1.PodDisruptionBudget(
        name, metadata=metadata(name, namespace, component),
        spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(max_unavailable=1, selector=selector(component)),
        opts=pulumi.ResourceOptions(parent=parent))


@dataclass(frozen=True)
class SecretRef:
    """An env value kept in a Kubernetes Secret; local runs resolve it from the same key."""

    secret: str
    key: str


EnvValue = Union[str, SecretRef]


def env_vars(env: Sequence[tuple[str, EnvValue]]) -> list[k8s.core.v1.EnvVarArgs]:
    """Container env from the pure (name, value-or-SecretRef) list the components derive."""
    result = []
    for name, value in env:
        if isinstance(value, SecretRef):
            result.append(k8s.core.v1.EnvVarArgs(name=name, value_from=k8s.core.v1.EnvVarSourceArgs(
                secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=value.secret, key=value.key))))
        else:
            result.append(k8s.core.v1.EnvVarArgs(name=name, value=value))
    return result


def service(name: str, namespace: pulumi.Input[str], component: str, port: int, target_port: int,
            exposure: Exposure, parent: pulumi.Resource) -> k8s.core.v1.Service:
    """The Service in front of a workload; NodePort when the stack asks for it."""
    node_port = exposure.node_port if exposure.service_type == "NodePort" else None
    return k8s.core.v1.Service(
        name,
        metadata=metadata(name, namespace, component),
        spec=k8s.core.v1.ServiceSpecArgs(
            type=exposure.service_type,
            selector=labels(component),
            ports=[k8s.core.v1.ServicePortArgs(name="http", port=port, target_port=target_port, node_port=node_port)],
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def ingress(name: str, namespace: pulumi.Input[str], component: str, service_name: str, port: int,
            exposure: Exposure, parent: pulumi.Resource,
            annotations: Optional[Mapping[str, str]] = None) -> Optional[k8s.networking.v1.Ingress]:
    """An Ingress for the public URL's host, with TLS when that URL is https; None when not enabled."""
    if not exposure.ingress:
        return None
    all_annotations = dict(annotations or {})
    if exposure.cluster_issuer:
        all_annotations["cert-manager.io/cluster-issuer"] = exposure.cluster_issuer
    tls = ([k8s.networking.v1.IngressTLSArgs(hosts=[exposure.hostname], secret_name=f"{name}-tls")]
           if exposure.tls else None)
    return k8s.networking.v1.Ingress(
        name,
        metadata=metadata(name, namespace, component, annotations=all_annotations or None),
        spec=k8s.networking.v1.IngressSpecArgs(
            ingress_class_name=exposure.ingress_class,
            tls=tls,
            rules=[k8s.networking.v1.IngressRuleArgs(
                host=exposure.hostname,
                http=k8s.networking.v1.HTTPIngressRuleValueArgs(paths=[k8s.networking.v1.HTTPIngressPathArgs(
                    path="/", path_type="Prefix",
                    backend=k8s.networking.v1.IngressBackendArgs(service=k8s.networking.v1.IngressServiceBackendArgs(
                        name=service_name, port=k8s.networking.v1.ServiceBackendPortArgs(number=port))),
                )]),
            )],
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def component_type(kind: str) -> str:
    return f"{PROJECT}:index:{kind}"
