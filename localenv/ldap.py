"""The company directory the local stack federates: OpenLDAP (Debian's slapd, localenv/images/openldap.py) as a pod of
the node, in its own namespace, on a local-path claim, with the entries of localenv/fixtures/directory.ldif.

Every password in the directory is generated once per environment (.localenv/directory-passwords.json, 0600): the
bind account's goes to the local stack as the Pulumi secret ldapBindCredential, the people's to env.json for the
tests. The admin password stays with the pod (its Secret) and the tests' LDAP changes (`ldapmodify` run in the pod).
Keycloak reaches it over ldaps:// only: a CA generated once per environment (.localenv/directory-tls) signs slapd's
certificate and goes to the local stack as ldapCaCertificate, so the federation checks the directory's certificate
as a company's would.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from settings import Settings

from . import images, processes
from .cluster import issue_certificate, new_rsa_key, private_key_pem
from .images.openldap import TLS_PORT
from .kubeapi import KubeApi
from .node import deploy, single_server

NAMESPACE = "directory"
NAME = "openldap"
PORT = 636  # ldaps; plain ldap (1389) answers only inside the pod, for the administrator's ldapmodify
CONTAINER_PORT = TLS_PORT  # slapd runs as openldap, which may not bind below 1024
TLS_DIR = "directory-tls"
SUFFIX = "dc=example,dc=org"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "directory.ldif"
PASSWORDS_FILE = "directory-passwords.json"
USER_ID, GROUP_ID = 100, 101  # openldap in Debian's slapd package
START_TIMEOUT = 180
PLACEHOLDER = re.compile(r"@PASSWORD:([a-z0-9-]+)@")


def url() -> str:
    return f"ldaps://{NAME}.{NAMESPACE}.svc:{PORT}"


def tls_files(state_dir: Path) -> dict[str, str]:
    """The directory's CA (ca.crt) and slapd's certificate and key for its Service name, made once (0600 key)."""
    directory = state_dir / TLS_DIR
    if not (directory / "tls.key").exists():
        directory.mkdir(parents=True, exist_ok=True)
        ca_key, server_key = new_rsa_key(), new_rsa_key()
        ca_name = "keycloak-registry-local-directory-ca"
        pem = serialization.Encoding.PEM
        (directory / "ca.crt").write_bytes(issue_certificate(ca_name, ca_key).public_bytes(pem))
        server = issue_certificate(f"{NAME}.{NAMESPACE}.svc", server_key, (ca_name, ca_key),
                                   sans=(f"{NAME}.{NAMESPACE}.svc", f"{NAME}.{NAMESPACE}.svc.cluster.local"))
        (directory / "tls.crt").write_bytes(server.public_bytes(pem))
        key = directory / "tls.key"
        key.touch(0o600)
        key.write_bytes(private_key_pem(server_key))
    return {name: (directory / name).read_text() for name in ("ca.crt", "tls.crt", "tls.key")}


def ca_certificate(state_dir: Path) -> str:
    return tls_files(state_dir)["ca.crt"]


def passwords(state_dir: Path) -> dict[str, str]:
    """One password per account of the fixture (people by uid, the bind account as keycloak) and the admin's."""
    path = state_dir / PASSWORDS_FILE
    if not path.exists():
        accounts = sorted(set(PLACEHOLDER.findall(FIXTURE.read_text())) | {"admin"})
        path.write_text(json.dumps({account: secrets.token_hex(16) for account in accounts}, indent=2) + "\n")
        path.chmod(0o600)
    return json.loads(path.read_text())


def entries(generated: dict[str, str]) -> str:
    """The fixture with its suffix and passwords filled in."""
    return PLACEHOLDER.sub(lambda m: generated[m.group(1)], FIXTURE.read_text().replace("@SUFFIX@", SUFFIX))


def objects(generated: dict[str, str], tls: dict[str, str]) -> list[dict]:
    """Namespace, Secrets (admin password and the entries; certificate and key), data claim, Deployment, Service."""
    tls_secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                  "metadata": {"name": f"{NAME}-tls", "namespace": NAMESPACE,
                               "labels": {"app.kubernetes.io/name": NAME}},
                  "stringData": {"tls.crt": tls["tls.crt"], "tls.key": tls["tls.key"]}}
    secret = {"admin-password": generated["admin"], "directory.ldif": entries(generated)}
    return single_server(
        NAME, NAMESPACE, USER_ID, GROUP_ID, secret, "1Gi", {
            "name": NAME, "image": images.reference("openldap"),
            "env": [{"name": "LDAP_SUFFIX", "value": SUFFIX},
                    {"name": "LDAP_ADMIN_PASSWORD",
                     "valueFrom": {"secretKeyRef": {"name": NAME, "key": "admin-password"}}}],
            "ports": [{"name": "ldaps", "containerPort": CONTAINER_PORT}],
            "readinessProbe": {"tcpSocket": {"port": CONTAINER_PORT}, "periodSeconds": 2},
            "volumeMounts": [{"name": "data", "mountPath": "/var/lib/ldap"},
                             {"name": "entries", "mountPath": "/fixtures", "readOnly": True},
                             {"name": "tls", "mountPath": "/etc/ldap/tls", "readOnly": True}],
            "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"memory": "256Mi"}},
        }, [{"name": "entries", "secret": {"secretName": NAME,
                                           "items": [{"key": "directory.ldif", "path": "directory.ldif"}]}},
            {"name": "tls", "secret": {"secretName": f"{NAME}-tls", "defaultMode": 0o440}}],
        ("ldaps", PORT, CONTAINER_PORT), extra=[tls_secret])


def start(api: KubeApi, settings: Settings, state_dir: Path) -> None:
    """Apply the objects and wait until slapd accepts connections (the fixture loaded before it listens)."""
    if settings.realm.directory.url != url():
        raise processes.ServerError(f"the local stack's ldapUrl is {settings.realm.directory.url!r}; the local "
                                    f"directory answers at {url()}")
    deploy(api, objects(passwords(state_dir), tls_files(state_dir)), NAMESPACE, NAME, "the directory (slapd)",
           START_TIMEOUT)
