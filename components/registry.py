"""The registry (CNCF distribution) with token auth against the realm's token endpoint (the extension's, which
answers the docker-v2 GET and adds OAuth2 refresh tokens).

``registry_config`` renders config.yml; the Deployment mounts it from a Secret and the local test
environment starts the real registry binaries from the very same function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s
import yaml

from lib import kube
from lib.keycloak_extension import TOKEN_ENDPOINT
from lib.passwords import generated_password
from settings import RegistrySettings, Settings

from .signing_keys import BUNDLE_FILE, JWKS_FILE, SigningCertificates

NAME = "registry"
CONFIG_SECRET = "registry-config"
CONFIG_FILE = "config.yml"
CONFIG_DIR = "/etc/registry/config"  # sibling of CERT_DIR: no mount nested in a Secret volume
CERT_DIR = "/etc/registry/certs"
DATA_DIR = "/var/lib/registry"
HTTP_PORT = 5000
DEBUG_PORT = 5001  # /debug/health and metrics, kept off the public port
USER_ID = 1000
DRAIN_SECONDS = 60  # a replaced pod finishes the transfers it has begun, for up to this long
TERMINATION_GRACE_SECONDS = kube.PRE_STOP_SECONDS + DRAIN_SECONDS + 5  # then the kubelet kills it
HUNG_GRACE_SECONDS = kube.PRE_STOP_SECONDS + 5  # a container failing its liveness probe has nothing to drain


@dataclass(frozen=True)
class TokenAuth:
    """What the registry tells clients (realm, service) and what it checks in tokens (service = aud, issuer = iss)."""

    realm: str
    service: str
    issuer: str


def token_auth(settings: Settings) -> TokenAuth:
    issuer = f"{settings.keycloak.public_url}/realms/{settings.realm.name}"
    return TokenAuth(realm=f"{issuer}/{TOKEN_ENDPOINT}", service=settings.realm.client_id, issuer=issuer)


def registry_config(registry: RegistrySettings, token: TokenAuth, http_secret: str, *,
                    addr: str = f":{HTTP_PORT}", debug_addr: str = f":{DEBUG_PORT}",
                    data_dir: str = DATA_DIR, cert_dir: str = CERT_DIR) -> dict:
    """config.yml for either registry line; 3.x also gets the JWKS because it cannot match libtrust kids."""
    auth = {"realm": token.realm, "service": token.service, "issuer": token.issuer,
            "rootcertbundle": f"{cert_dir}/{BUNDLE_FILE}"}
    if registry.line == "3":
        auth["jwks"] = f"{cert_dir}/{JWKS_FILE}"
    if registry.storage == "s3" and registry.s3:
        s3 = {"bucket": registry.s3.bucket, "region": registry.s3.region}
        if registry.s3.endpoint:
            s3["regionendpoint"] = registry.s3.endpoint
            s3["forcepathstyle"] = True
            s3["secure"] = registry.s3.endpoint.startswith("https://")
        if registry.s3.access_key:
            s3["accesskey"] = registry.s3.access_key
            s3["secretkey"] = registry.s3.secret_key
        storage: dict = {"s3": s3, "redirect": {"disable": not registry.s3.redirect}}
    else:
        storage = {"filesystem": {"rootdirectory": data_dir}}
    storage["delete"] = {"enabled": True}
    return {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text"},
        "storage": storage,
        # host: absolute upload URLs name the public address, whatever proxy the request came through
        # draintimeout: on SIGTERM finish the pulls and uploads under way (without it the process exits mid-body)
        "http": {"addr": addr, "host": registry.public_url, "secret": http_secret, "draintimeout": f"{DRAIN_SECONDS}s",
                 "debug": {"addr": debug_addr, "prometheus": {"enabled": True, "path": kube.METRICS_PATH}},
                 "headers": {"X-Content-Type-Options": ["nosniff"]}},
        "auth": {"token": auth},
        "health": {"storagedriver": {"enabled": True, "interval": "10s", "threshold": 3}},
    }


def render_config(config: dict) -> str:
    return yaml.safe_dump(config, sort_keys=True)


def registry_env(registry: RegistrySettings) -> list[tuple[str, kube.EnvValue]]:
    """3.x exports OpenTelemetry traces by default; without a collector that only logs errors."""
    return [("OTEL_TRACES_EXPORTER", "none")] if registry.line == "3" else []


class Registry(pulumi.ComponentResource):
    """Deployment, config Secret, storage, Service and Ingress of the registry."""

    token: TokenAuth
    deployment: Optional[k8s.apps.v1.Deployment]  # None without signing certificates (render mode)
    disruption_budget: Optional[k8s.policy.v1.PodDisruptionBudget]  # with more than one replica
    service: k8s.core.v1.Service
    ingress: Optional[k8s.networking.v1.Ingress]

    def __init__(self, name: str, settings: Settings, namespace: pulumi.Input[str],
                 signing: Optional[SigningCertificates], opts: pulumi.ResourceOptions | None = None):
        """Without ``signing`` (render mode: no live realm to read keys from) no Deployment is registered: its
        pods could verify no token. Config Secret, storage, Service and Ingress are there either way."""
        super().__init__(kube.component_type("Registry"), name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        registry = settings.registry
        ns = namespace
        self.token = token_auth(settings)

        http_secret = generated_password(f"{name}-http-secret", self, length=48)
        config_text = http_secret.apply(lambda secret: render_config(registry_config(registry, self.token, secret)))
        config_secret = k8s.core.v1.Secret(
            CONFIG_SECRET, metadata=kube.metadata(CONFIG_SECRET, ns, kube.REGISTRY),
            string_data={CONFIG_FILE: config_text}, opts=child)

        claim: Optional[k8s.core.v1.PersistentVolumeClaim] = None
        if registry.storage == "filesystem":
            claim = k8s.core.v1.PersistentVolumeClaim(
                f"{NAME}-data", metadata=kube.metadata(f"{NAME}-data", ns, kube.REGISTRY),
                spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                    access_modes=["ReadWriteOnce"], storage_class_name=registry.storage_class or None,
                    resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": registry.storage_size})),
                # Every image lives here: neither replaced nor deleted unless allowVolumeReplacement says so.
                opts=pulumi.ResourceOptions(parent=self, protect=not settings.allow_volume_replacement))
        self.deployment = (self._deployment(registry, ns, config_secret, config_text, claim, signing)
                           if signing else None)
        self.disruption_budget = kube.disruption_budget(NAME, ns, kube.REGISTRY, self) if registry.replicated else None
        self.service = kube.service(NAME, ns, kube.REGISTRY, HTTP_PORT, HTTP_PORT, registry.exposure, self)
        self.ingress = kube.ingress(NAME, ns, kube.REGISTRY, NAME, HTTP_PORT, registry.exposure, self, annotations={
            "nginx.ingress.kubernetes.io/proxy-body-size": registry.ingress_max_body_size,
            "nginx.ingress.kubernetes.io/proxy-request-buffering": "off",
            "nginx.ingress.kubernetes.io/proxy-read-timeout": "600",
            "nginx.ingress.kubernetes.io/proxy-send-timeout": "600",
        })
        self.register_outputs({"url": registry.public_url, "tokenRealm": self.token.realm})

    def _deployment(self, registry: RegistrySettings, ns: pulumi.Input[str], config_secret: k8s.core.v1.Secret,
                    config_text: pulumi.Output[str], claim: Optional[k8s.core.v1.PersistentVolumeClaim],
                    signing: SigningCertificates) -> k8s.apps.v1.Deployment:
        """The registry pods, rolled by checksums of what they mount (the registry never reloads it)."""
        volumes = [
            k8s.core.v1.VolumeArgs(name="config", secret=k8s.core.v1.SecretVolumeSourceArgs(
                secret_name=config_secret.metadata.name)),
            k8s.core.v1.VolumeArgs(name="certs", secret=k8s.core.v1.SecretVolumeSourceArgs(
                secret_name=signing.secret.metadata.name)),
        ]
        mounts = [k8s.core.v1.VolumeMountArgs(name="config", mount_path=CONFIG_DIR, read_only=True),
                  k8s.core.v1.VolumeMountArgs(name="certs", mount_path=CERT_DIR, read_only=True)]
        if claim:
            volumes.append(k8s.core.v1.VolumeArgs(
                name="data", persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                    claim_name=claim.metadata.name)))
            mounts.append(k8s.core.v1.VolumeMountArgs(name="data", mount_path=DATA_DIR))

        # A new key or config changes these, so Kubernetes rolls the pods (the registry never reloads them).
        # A digest reveals nothing of the secret config; unsecret, it keeps the Deployment readable in diffs.
        annotations = {
            **kube.scrape_annotations(DEBUG_PORT),
            "checksum/config": pulumi.Output.unsecret(config_text.apply(kube.checksum)),
            "checksum/signing-certs": signing.files.apply(
                lambda files: kube.checksum(*(files[k] for k in sorted(files)))),
        }
        health = k8s.core.v1.HTTPGetActionArgs(path="/debug/health", port="debug")
        return k8s.apps.v1.Deployment(
            NAME,
            metadata=kube.metadata(NAME, ns, kube.REGISTRY, registry.version),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=registry.replicas,
                # Surge, never drop: the new pod serves before the old one stops, so a key rotation costs no request.
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate", rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                        max_surge=1, max_unavailable=0)),
                selector=kube.selector(kube.REGISTRY),
                # A ReadWriteOnce claim attaches to one node, for any number of its pods: the new pod joins the old.
                template=kube.pod_template(kube.REGISTRY, USER_ID, annotations=annotations, volumes=volumes,
                                           affinity=kube.same_node_as(kube.REGISTRY) if claim else None,
                                           spread=registry.replicated,
                                           termination_grace_period_seconds=TERMINATION_GRACE_SECONDS, containers=[
                    k8s.core.v1.ContainerArgs(
                        name=NAME,
                        image=registry.image,
                        command=["registry", "serve", f"{CONFIG_DIR}/{CONFIG_FILE}"],
                        env=kube.env_vars(registry_env(registry)),
                        ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=HTTP_PORT),
                               k8s.core.v1.ContainerPortArgs(name="debug", container_port=DEBUG_PORT)],
                        volume_mounts=mounts,
                        resources=kube.resources(registry.resources),
                        security_context=kube.container_security(),
                        readiness_probe=k8s.core.v1.ProbeArgs(http_get=health, period_seconds=5),
                        lifecycle=kube.serve_until_unrouted(),
                        liveness_probe=k8s.core.v1.ProbeArgs(http_get=health, period_seconds=20, failure_threshold=6,
                                                             termination_grace_period_seconds=HUNG_GRACE_SECONDS),
                    )]),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[config_secret, signing.secret]),
        )
