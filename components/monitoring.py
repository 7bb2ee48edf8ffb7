"""What an SRE pages on: the alert rules over Keycloak's and the registry's metrics, and, with the serviceMonitor
setting, the Prometheus Operator objects that scrape both and load those rules.

``alert_rules`` is the single source of the rules: the PrometheusRule carries it, the local Prometheus loads it,
promtool tests it, and docs/operations.md explains it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from lib import kube
from settings import Settings

from . import keycloak, registry


@dataclass(frozen=True)
class ScrapeTarget:
    """A workload's metrics endpoint: its pods' port (and path kube.METRICS_PATH)."""

    component: str
    port: int


SCRAPE_TARGETS = (ScrapeTarget(kube.KEYCLOAK, keycloak.Listen().management_port),
                  ScrapeTarget(kube.REGISTRY, registry.DEBUG_PORT))
CLUSTER_SIZE = 'vendor_cluster_size{cache_manager="keycloak"}'  # the members each Keycloak pod sees
# The registry handlers that read or write the storage driver; a 5xx there is the driver failing (auth is a 401).
STORAGE_HANDLERS = "blob|blob_upload|blob_upload_chunk|manifest|tags|catalog"


def alert_rules(settings: Settings) -> dict:
    """A Prometheus rule file: failed registry logins at Keycloak, 5xx answers at the registry, a split Keycloak
    cluster, storage errors at the registry."""
    logins = (f'keycloak_user_events_total{{realm="{settings.realm.name}",client_id="{settings.realm.client_id}",'
              f'event="login"')
    return {"groups": [{"name": "keycloak-registry", "rules": [
        {"alert": "RegistryTokenFailures",
         # A share, not a count: a busy CI fleet fails a few logins; a rotated secret or an attack fails most.
         "expr": f'sum(rate({logins},error!=""}}[5m])) / sum(rate({logins}}}[5m])) > 0.25',
         "for": "10m",
         "labels": {"severity": "warning"},
         "annotations": {
             "summary": "More than a quarter of registry logins fail at Keycloak",
             "description": "{{ $value | humanizePercentage }} of docker logins to realm "
                            f"{settings.realm.name} failed over 5 minutes: a rotated robot password, a locked "
                            "account (brute-force detection), or password guessing. keycloak_user_events_total's "
                            "error label says which."}},
        {"alert": "RegistryServerErrors",
         "expr": 'sum(rate(registry_http_requests_total{code=~"5.."}[5m])) '
                 '/ sum(rate(registry_http_requests_total[5m])) > 0.05',
         "for": "5m",
         "labels": {"severity": "critical"},
         "annotations": {
             "summary": "The registry answers more than 5% of requests with 5xx",
             "description": "{{ $value | humanizePercentage }} of registry requests failed with a server error "
                            "over 5 minutes; pushes and pulls fail for clients."}},
        {"alert": "KeycloakClusterSplit",
         # Each pod reports the members it sees; one cluster means every pod sees all of them.
         "expr": f"min({CLUSTER_SIZE}) < count({CLUSTER_SIZE})",
         "for": "5m",
         "labels": {"severity": "critical"},
         "annotations": {
             "summary": "Keycloak's pods do not form one cluster",
             "description": "A Keycloak pod sees only {{ $value }} members: the cluster is split (keycloak#41290, "
                            "#45980), so sessions and cache invalidations stop reaching some pods. Restart the pods "
                            "of the smaller part one at a time."}},
        {"alert": "RegistryStorageErrors",
         "expr": f'sum by (handler) (increase(registry_http_requests_total{{code=~"5..",handler=~"{STORAGE_HANDLERS}"}}'
                 '[5m])) > 0',
         "for": "2m",
         "labels": {"severity": "critical"},
         "annotations": {
             "summary": "The registry's storage fails ({{ $labels.handler }})",
             "description": "{{ $value }} {{ $labels.handler }} requests failed with 5xx in 5 minutes: the "
                            "storage driver (volume full or read-only, S3 unreachable or denying) is failing."}},
    ]}]}


class Monitoring(pulumi.ComponentResource):
    """A ClusterIP metrics Service and a ServiceMonitor per workload, and the PrometheusRule (serviceMonitor on)."""

    services: list[k8s.core.v1.Service]
    service_monitors: list[k8s.apiextensions.CustomResource]
    rules: k8s.apiextensions.CustomResource

    def __init__(self, name: str, settings: Settings, namespace: pulumi.Input[str],
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(kube.component_type("Monitoring"), name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.services, self.service_monitors = [], []
        for target in SCRAPE_TARGETS:
            service_name = f"{target.component}-metrics"
            self.services.append(k8s.core.v1.Service(
                service_name, metadata=kube.metadata(service_name, namespace, target.component),
                spec=k8s.core.v1.ServiceSpecArgs(type="ClusterIP", selector=kube.labels(target.component), ports=[
                    k8s.core.v1.ServicePortArgs(name="metrics", port=target.port, target_port=target.port)]),
                opts=child))
            self.service_monitors.append(k8s.apiextensions.CustomResource(
                service_name, api_version="monitoring.coreos.com/v1", kind="ServiceMonitor",
                metadata=kube.metadata(service_name, namespace, target.component),
                spec={"selector": {"matchLabels": kube.labels(target.component)},
                      "endpoints": [{"port": "metrics", "path": kube.METRICS_PATH, "interval": "30s"}]},
                opts=child))
        self.rules = k8s.apiextensions.CustomResource(
            "registry-alerts", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
            metadata=kube.metadata("registry-alerts", namespace, "monitoring"),
            spec=alert_rules(settings), opts=child)
        self.register_outputs({})
