"""The config keys, read from Pulumi.yaml, so the table the engine and `pulumi config` show exists once. Which keys
are secrets is said here: Pulumi.yaml's ``secret: true`` makes the engine refuse a stack that leaves such a key
unset (its default is not encrypted), and every secret key here may be left unset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PROJECT_FILE = Path(__file__).resolve().parents[1] / "Pulumi.yaml"


@dataclass(frozen=True)
class ConfigKey:
    name: str
    type: str  # string | integer | boolean | array (the Pulumi.yaml config types)
    default: Any
    description: str
    secret: bool = False
    items: str = "string"  # element type of an array key: string or object


SECRET_KEYS = frozenset({"keycloakAdminPassword", "userPasswords", "s3AccessKey", "s3SecretKey",
                         "ldapBindCredential", "ssoClientSecret"})


def config_keys(project: dict) -> tuple[ConfigKey, ...]:
    """The ``config:`` block of a Pulumi.yaml, in its order."""
    return tuple(ConfigKey(name, key["type"], key["default"], key["description"], name in SECRET_KEYS,
                           key.get("items", {}).get("type", "string"))
                 for name, key in project["config"].items())


_PROJECT_SPEC = yaml.safe_load(PROJECT_FILE.read_text())
PROJECT = _PROJECT_SPEC["name"]
CONFIG_KEYS = config_keys(_PROJECT_SPEC)
KEYS_BY_NAME = {key.name: key for key in CONFIG_KEYS}
# Keys that once existed: a stack that still sets one is told what replaced it, not just "no such key".
REMOVED_KEYS = {
    "databaseHostPath": "no databaseHostPath: the key was removed because a hostPath volume is not writable by the "
                        "database user (uid 999); run `pulumi config rm databaseHostPath` and leave "
                        "databaseStorageClass empty for the cluster's default StorageClass (kind: local-path, "
                        "minikube: its hostpath provisioner) or set it to another StorageClass",
}


# Pinned images: the defaults of their version keys.
KEYCLOAK_VERSION = KEYS_BY_NAME["keycloakVersion"].default
REGISTRY_VERSION = KEYS_BY_NAME["registryVersion"].default
REGISTRY_LEGACY_VERSION = "2.8.3"
REGISTRY_LINES = ("3", "2.8")


def registry_line(version: str) -> str:
    """The release line of a registry version, "3" or "2.8": they match token signing keys differently."""
    return "2.8" if version.startswith("2.8.") else "3"


def other_registry_line(line: str) -> str:
    """The line the local environment runs beside the stack's, so both are tested."""
    return "2.8" if line == "3" else "3"
DATABASE_VERSIONS = {"mysql": "8.4.7", "mariadb": "11.4.8"}
# Server lines Keycloak 26 supports (keycloak.org "Configuring the database").
SUPPORTED_DATABASE_LINES = {"mysql": ("8.0", "8.4"), "mariadb": ("10.6", "10.11", "11.4", "11.8")}
DATABASE_IMAGES = {"mysql": "docker.io/library/mysql", "mariadb": "docker.io/library/mariadb"}
KEYCLOAK_IMAGE = "quay.io/keycloak/keycloak"
REGISTRY_IMAGE = "docker.io/library/registry"
# Bounds of tokenLifespanSeconds (the key's description says why).
TOKEN_LIFESPAN = (60, 3600)
# Bounds of the refresh-token lifetimes: above the extension's one-minute resolution of idle time, at most a year.
REFRESH_TOKEN_SECONDS = (300, 365 * 24 * 3600)
