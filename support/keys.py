"""RSA keys and self-signed certificates like those Keycloak's key providers hold."""

import base64
import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def self_signed(key: rsa.RSAPrivateKey, common_name: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=365)).sign(key, hashes.SHA256()))


def certificate_b64(common_name: str = "registry") -> str:
    """A base64 DER certificate of a fresh key, the form realm keys are listed in."""
    cert = self_signed(new_key(), common_name)
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def certificate_pem(key: rsa.RSAPrivateKey, common_name: str) -> str:
    return self_signed(key, common_name).public_bytes(serialization.Encoding.PEM).decode()


def private_key_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def ca_certificate_pem() -> str:
    """A CA certificate, as a stack's keycloakAdminCaCertificate would hold one."""
    return certificate_pem(new_key(), "test-ca")
