"""Keycloak 26 (`kc.sh start`, docker feature on, the repository-access extension mounted) on the database,
behind a Service and optional Ingress.

``keycloak_env`` is the single source of Keycloak's settings: the Deployment renders it into the pod and
the local test environment starts the real server from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from lib import keycloak_extension, kube
from lib.passwords import generated_password
from settings import KeycloakSettings

from .database import DatabaseEndpoint

NAME = "keycloak"
ADMIN_SECRET = "keycloak-bootstrap-admin"
USER_ID = 1000  # the keycloak user of quay.io/keycloak/keycloak
HOME = "/opt/keycloak"  # the image's Keycloak installation
SERVICE_PORT = 80
TRUSTSTORE = "keycloak-truststore"  # the ConfigMap of the CAs Keycloak trusts for its own TLS connections
TRUSTSTORE_DIR = f"{HOME}/truststores"  # mounted there; KC_TRUSTSTORE_PATHS reads every PEM in it


@dataclass(frozen=True)
class Listen:
    """Where the server binds; the pod uses the defaults, local test runs loopback ports."""

    host: str = "0.0.0.0"
    http_port: int = 8080
    management_port: int = 9000
    cluster_port: int = 7800  # JGroups TCP between the replicas (jdbc-ping stack)


def keycloak_env(kc: KeycloakSettings, db: DatabaseEndpoint, listen: Listen = Listen(),
                 trusts_more_cas: bool = False) -> list[tuple[str, kube.EnvValue]]:
    """Keycloak's server configuration, one KC_* variable per setting (keycloak.org server guides).
    ``trusts_more_cas``: the truststore ConfigMap is mounted (CAs beyond the JDK's, e.g. the directory's)."""
    env: list[tuple[str, kube.EnvValue]] = [
        ("KC_FEATURES", "docker"),  # the docker-v2 protocol; a build option, `start` rebuilds for it
        ("KC_DB", db.engine),
        ("KC_DB_URL_HOST", db.host),
        ("KC_DB_URL_PORT", str(db.port)),
        ("KC_DB_URL_DATABASE", db.name),
        ("KC_DB_USERNAME", kube.SecretRef(db.credentials_secret, "username")),
        ("KC_DB_PASSWORD", kube.SecretRef(db.credentials_secret, "password")),
        # Pinned, so token `iss` is the same whichever address a client used: the registry checks it.
        ("KC_HOSTNAME", kc.public_url),
        ("KC_HTTP_ENABLED", "true"),  # TLS ends at the Ingress (or there is none on a dev cluster)
        ("KC_HTTP_HOST", listen.host),
        ("KC_HTTP_PORT", str(listen.http_port)),
        ("KC_HTTP_MANAGEMENT_PORT", str(listen.management_port)),
        ("KC_HEALTH_ENABLED", "true"),
        ("KC_METRICS_ENABLED", "true"),
        ("KC_EVENT_METRICS_USER_ENABLED", "true"),  # keycloak_user_events_total: logins and their errors
        ("KC_EVENT_METRICS_USER_TAGS", "realm,clientId"),
        # A login in progress must not refuse the same account's other logins: `docker compose pull` and CI log in
        # in parallel (keycloak#34302). Failures still count and lock; only the in-flight block goes.
        ("KC_SPI_BRUTE_FORCE_PROTECTOR__DEFAULT_BRUTE_FORCE_DETECTOR__ALLOW_CONCURRENT_REQUESTS", "true"),
        *cache_env(kc),
        ("KC_BOOTSTRAP_ADMIN_USERNAME", kube.SecretRef(ADMIN_SECRET, "username")),
        ("KC_BOOTSTRAP_ADMIN_PASSWORD", kube.SecretRef(ADMIN_SECRET, "password")),
    ]
    if kc.exposure.ingress:
        env.append(("KC_PROXY_HEADERS", "xforwarded"))
    if kc.log_level:  # only when set: an unset key adds nothing, so upgrading rolls no pod
        env.append(("KC_LOG_LEVEL", kc.log_level))
    if trusts_more_cas:
        env.append(("KC_TRUSTSTORE_PATHS", TRUSTSTORE_DIR))
    return env


def cache_env(kc: KeycloakSettings) -> list[tuple[str, kube.EnvValue]]:
    """One replica keeps its caches to itself. More form one cluster: Infinispan over JGroups' jdbc-ping stack, which
    finds the other pods through a table in Keycloak's own database (no headless Service, no API permission)."""
    if not kc.clustered:
        return [("KC_CACHE", "local")]
    return [("KC_CACHE", "ispn"), ("KC_CACHE_STACK", "jdbc-ping")]


class Keycloak(pulumi.ComponentResource):
    """The Keycloak server; ``admin_url`` resolves only once the Deployment is ready (the readiness gate)."""

    admin_username: str
    admin_password: pulumi.Output[str]  # secret: given or generated
    admin_secret: k8s.core.v1.Secret
    extension: k8s.core.v1.ConfigMap  # the repository-access extension jar, mounted into the providers directory
    truststore: Optional[k8s.core.v1.ConfigMap]  # the CAs trusted beyond the JDK's (an LDAPS directory's), if any
    deployment: k8s.apps.v1.Deployment
    disruption_budget: Optional[k8s.policy.v1.PodDisruptionBudget]  # with more than one replica
    service: k8s.core.v1.Service
    ingress: Optional[k8s.networking.v1.Ingress]
    admin_url: pulumi.Output[str]
    public_url: str

    def __init__(self, name: str, kc: KeycloakSettings, db: DatabaseEndpoint, database: pulumi.Resource,
                 namespace: pulumi.Input[str], trusted_cas: dict[str, str] | None = None,
                 opts: pulumi.ResourceOptions | None = None):
        """``trusted_cas``: PEM files (name -> content) Keycloak trusts besides the JDK's CAs, e.g. an LDAPS CA."""
        super().__init__(kube.component_type("Keycloak"), name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ns = namespace

        if kc.admin_password:
            self.admin_password = pulumi.Output.secret(kc.admin_password)
        else:
            self.admin_password = generated_password(f"{name}-admin-password", self)
        self.admin_username = kc.admin_username
        self.admin_secret = k8s.core.v1.Secret(
            ADMIN_SECRET,
            metadata=kube.metadata(ADMIN_SECRET, ns, kube.KEYCLOAK),
            string_data={"username": kc.admin_username, "password": self.admin_password},
            opts=child,
        )

        listen = Listen()
        # `kc.sh start` (not --optimized) builds the mounted provider in at startup; a new jar rolls the pod.
        self.extension = keycloak_extension.extension_config_map(ns, self)
        # Public certificates, so a ConfigMap, mounted as a directory of PEM files; Keycloak reads it at startup, so
        # its checksum in the pod template rolls the pods when a CA changes.
        self.truststore = k8s.core.v1.ConfigMap(
            TRUSTSTORE, metadata=kube.metadata(TRUSTSTORE, ns, kube.KEYCLOAK), data=trusted_cas,
            opts=child) if trusted_cas else None
        truststore_volume, truststore_mount, truststore_checksum = ([], [], {})
        if trusted_cas:
            truststore_volume = [k8s.core.v1.VolumeArgs(
                name="truststore", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=TRUSTSTORE))]
            truststore_mount = [k8s.core.v1.VolumeMountArgs(name="truststore", mount_path=TRUSTSTORE_DIR,
                                                            read_only=True)]
            truststore_checksum = {"checksum/truststore": kube.checksum(*(part for item in sorted(trusted_cas.items())
                                                                                    for part in item))}

        def http_probe(path: str, **kwargs) -> k8s.core.v1.ProbeArgs:
            return k8s.core.v1.ProbeArgs(
                http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port="management"), **kwargs)

        self.deployment = k8s.apps.v1.Deployment(
            NAME,
            metadata=kube.metadata(NAME, ns, kube.KEYCLOAK, kc.version),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=kc.replicas,
                # Surge: the new pod starts while the old one serves. Not Recreate: pulumi-kubernetes' await reports a
                # Recreate rollout done as soon as the old pod is scaled down (its Progressing condition is the old
                # one's, kubernetes#115538), so `up` went on against a Keycloak shutting down. Found on the real node.
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate", rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                        max_surge=1, max_unavailable=0)),
                selector=kube.selector(kube.KEYCLOAK),
                template=kube.pod_template(kube.KEYCLOAK, USER_ID, volumes=[keycloak_extension.extension_volume(),
                                                                             *truststore_volume],
                                           spread=kc.clustered,
                                           annotations={**kube.scrape_annotations(listen.management_port),
                                                        "checksum/extension": keycloak_extension.jar_sha256(),
                                                        **truststore_checksum},
                                           containers=[k8s.core.v1.ContainerArgs(
                    name=NAME,
                    image=kc.image,
                    args=["start"],
                    env=kube.env_vars(keycloak_env(kc, db, listen, trusts_more_cas=bool(trusted_cas))),
                    ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=listen.http_port),
                           k8s.core.v1.ContainerPortArgs(name="management", container_port=listen.management_port),
                           *([k8s.core.v1.ContainerPortArgs(name="cluster", container_port=listen.cluster_port)]
                             if kc.clustered else [])],
                    resources=kube.resources(kc.resources),
                    security_context=kube.container_security(),
                    volume_mounts=[keycloak_extension.extension_mount(f"{HOME}/providers"), *truststore_mount],
                    startup_probe=http_probe("/health/started", period_seconds=5, failure_threshold=120),
                    readiness_probe=http_probe("/health/ready", period_seconds=10),
                    liveness_probe=http_probe("/health/live", period_seconds=20, failure_threshold=6),
                    lifecycle=kube.serve_until_unrouted(),
                )]),
            ),
            # Starts only once the database is ready (pulumi-kubernetes awaits the StatefulSet).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[database, self.extension,
                                                                 *([self.truststore] if self.truststore else [])]),
        )
        self.disruption_budget = kube.disruption_budget(NAME, ns, kube.KEYCLOAK, self) if kc.clustered else None
        self.service = kube.service(NAME, ns, kube.KEYCLOAK, SERVICE_PORT, listen.http_port, kc.exposure, self)
        self.ingress = kube.ingress(NAME, ns, kube.KEYCLOAK, NAME, SERVICE_PORT, kc.exposure, self)

        # Readiness gate: in `up`, known once the Deployment reports ready, so a provider configured from it never
        # logs in to a Keycloak that does not exist yet. In a preview, known once the Deployment exists (its id is
        # unknown only when it is created or replaced): a preview of a change to a running Keycloak then diffs what
        # reads from Keycloak against Keycloak, instead of listing every such resource as changing.
        gate = self.deployment.id if pulumi.runtime.is_dry_run() else self.deployment.status
        self.admin_url = pulumi.Output.all(gate, self.service.metadata).apply(lambda _: kc.admin_url)
        self.public_url = kc.public_url
        self.register_outputs({"adminUrl": self.admin_url, "publicUrl": kc.public_url})
