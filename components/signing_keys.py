"""The registry's view of the realm's signing keys: a PEM bundle and a JWKS keyed by libtrust fingerprints.

Keycloak writes the libtrust fingerprint of its RS256 key into the docker token's ``kid``. Registry 2.8
indexes ``rootcertbundle`` by that same fingerprint; 3.x indexes certificates by JWK thumbprint and so
needs the ``jwks`` file, whose ``kid`` we set to the fingerprint (distribution#4533).
"""

from __future__ import annotations

import base64
import hashlib
import json
import textwrap
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import pulumi
import pulumi_keycloak as keycloak
import pulumi_kubernetes as k8s
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pulumi_keycloak.outputs import GetRealmKeysKeyResult

from lib import kube

SECRET_NAME = "registry-signing-certs"
BUNDLE_FILE = "registry-cert.pem"
JWKS_FILE = "jwks.json"
ENABLED_STATUSES = ("ACTIVE", "PASSIVE")  # passive keys still verify tokens signed before a rotation


@dataclass(frozen=True)
class RealmKey:
    """One key as the admin API (``/admin/realms/{realm}/keys``) and ``getRealmKeys`` both describe it."""

    algorithm: str
    status: str
    certificate: str  # base64 DER
    priority: int

    @classmethod
    def from_api(cls, key: Mapping[str, Any]) -> "RealmKey":
        """From an admin-API dict (camelCase) or a getRealmKeys result, which is a dict keyed in snake_case."""
        if isinstance(key, GetRealmKeysKeyResult):
            key = {"algorithm": key.algorithm, "status": key.status, "certificate": key.certificate,
                   "providerPriority": key.provider_priority}
        return cls(key.get("algorithm"), key.get("status"), key.get("certificate") or "",
                   int(key.get("providerPriority") or 0))


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def load_certificate(certificate: str) -> x509.Certificate:
    return x509.load_der_x509_certificate(base64.b64decode(certificate))


def libtrust_kid(public_key: rsa.RSAPublicKey) -> str:
    """docker/libtrust key id: base32 of the first 240 bits of sha256(SubjectPublicKeyInfo DER), in 4-char groups."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ":".join(encoded[i:i + 4] for i in range(0, len(encoded), 4))


def verification_keys(keys: Iterable[RealmKey]) -> list[RealmKey]:
    """The realm's enabled RS256 keys with certificates, highest priority first (stable order, stable Secret)."""
    usable = [k for k in keys if k.algorithm == "RS256" and k.status in ENABLED_STATUSES and k.certificate]
    return sorted(usable, key=lambda k: (-k.priority, k.certificate))


def pem_bundle(keys: Sequence[RealmKey]) -> str:
    blocks = ["-----BEGIN CERTIFICATE-----\n" + "\n".join(textwrap.wrap(k.certificate, 64))
              + "\n-----END CERTIFICATE-----\n" for k in keys]
    return "".join(blocks)


def jwks(keys: Sequence[RealmKey]) -> dict:
    entries = []
    for key in keys:
        public_key = load_certificate(key.certificate).public_key()
        numbers = public_key.public_numbers()
        entries.append({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": libtrust_kid(public_key),
                        "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)})
    return {"keys": entries}


def signing_material(keys: Iterable[RealmKey]) -> dict[str, str]:
    """The files of the registry's certificate Secret, derived from the realm's keys."""
    usable = verification_keys(keys)
    if not usable:
        raise ValueError("the realm has no enabled RS256 key with a certificate; registry tokens could not be verified")
    return {BUNDLE_FILE: pem_bundle(usable), JWKS_FILE: json.dumps(jwks(usable), indent=2, sort_keys=True) + "\n"}


class SigningCertificates(pulumi.ComponentResource):
    """The Secret the registry mounts to verify tokens, re-derived from the live realm on every update."""

    files: pulumi.Output[dict[str, str]]
    secret: k8s.core.v1.Secret

    def __init__(self, name: str, realm_id: pulumi.Input[str], provider: keycloak.Provider,
                 namespace: pulumi.Input[str], read_after: Sequence[pulumi.Resource] = (),
                 opts: pulumi.ResourceOptions | None = None):
        """``read_after``: realm objects to finish before the keys are read (the registry needs them all)."""
        super().__init__(kube.component_type("SigningCertificates"), name, None, opts)
        # While the realm is unknown (preview of a new stack) the invoke is not sent at all.
        realm_keys = keycloak.get_realm_keys_output(
            realm_id=realm_id, algorithms=["RS256"], statuses=list(ENABLED_STATUSES),
            opts=pulumi.InvokeOutputOptions(provider=provider, parent=self, depends_on=list(read_after)))
        self.files = realm_keys.keys.apply(lambda keys: signing_material(RealmKey.from_api(k) for k in keys or []))
        self.secret = k8s.core.v1.Secret(
            SECRET_NAME,
            metadata=kube.metadata(SECRET_NAME, namespace, kube.REGISTRY),
            string_data=self.files,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"secret": self.secret.metadata.name})
