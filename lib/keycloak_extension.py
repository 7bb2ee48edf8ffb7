"""The repository-access extension (keycloak-extension/, a committed jar that CI rebuilds and compares byte for
byte) and how Keycloak gets it: a ConfigMap mounted into /opt/keycloak/providers, so `pulumi up` needs no Java."""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from lib import kube

SOURCE_DIR = Path(__file__).resolve().parent.parent / "keycloak-extension"
JAR_NAME = "keycloak-registry-extension.jar"
JAR = SOURCE_DIR / JAR_NAME
# The docker-v2 protocol mapper the jar adds (RepositoryAccessMapper.PROVIDER_ID; a unit test keeps them equal).
MAPPER_ID = "keycloak-registry-repository-access"
MAPPER_MODE = "mode"  # its one config key: settings.ACCESS_ALLOW_ALL or settings.ACCESS_CLIENT_ROLES
# The docker flow's member gate the jar adds (MemberGateAuthenticatorFactory.PROVIDER_ID and ROLE).
MEMBER_GATE_ID = "keycloak-registry-member-gate"
MEMBER_GATE_ROLE = "role"
# Keycloak's Docker Authenticator filed where brute-force detection counts it (DockerPasswordAuthenticatorFactory).
DOCKER_PASSWORD_ID = "keycloak-registry-docker-password"
# The realm resource serving the registries' token endpoint, /realms/{realm}/<this> (RegistryTokenProviderFactory.ID).
TOKEN_ENDPOINT = "registry-token"
CONFIG_MAP = "keycloak-extensions"
VOLUME = "extensions"


@lru_cache(maxsize=1)
def jar_bytes() -> bytes:
    if not JAR.is_file():
        raise FileNotFoundError(f"{JAR} is missing: it is committed with the sources; "
                                "rebuild it with scripts/build-keycloak-extension")
    return JAR.read_bytes()


def jar_sha256() -> str:
    """Goes into Keycloak's pod template, so a new jar rolls the pod (Keycloak loads providers at start)."""
    return hashlib.sha256(jar_bytes()).hexdigest()


def extension_config_map(namespace: pulumi.Input[str], parent: pulumi.Resource) -> k8s.core.v1.ConfigMap:
    return k8s.core.v1.ConfigMap(
        CONFIG_MAP, metadata=kube.metadata(CONFIG_MAP, namespace, kube.KEYCLOAK),
        binary_data={JAR_NAME: base64.b64encode(jar_bytes()).decode()},
        opts=pulumi.ResourceOptions(parent=parent))


def extension_volume() -> k8s.core.v1.VolumeArgs:
    return k8s.core.v1.VolumeArgs(name=VOLUME, config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=CONFIG_MAP))


def extension_mount(providers_dir: str) -> k8s.core.v1.VolumeMountArgs:
    """One file into the image's providers directory (sub-path: the image's own providers stay visible)."""
    return k8s.core.v1.VolumeMountArgs(name=VOLUME, mount_path=f"{providers_dir}/{JAR_NAME}", sub_path=JAR_NAME,
                                       read_only=True)
