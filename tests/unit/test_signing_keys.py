"""The PEM/JWKS/kid derivation, checked against vectors computed here with openssl, not with our code."""

import base64
import hashlib
import json
import subprocess

import pytest
from pulumi_keycloak.outputs import GetRealmKeysKeyResult

from components.signing_keys import (
    BUNDLE_FILE,
    JWKS_FILE,
    RealmKey,
    libtrust_kid,
    load_certificate,
    pem_bundle,
    signing_material,
)
from support.keys import certificate_b64
from support.mock_program import run_program


def openssl(args: list[str], data: bytes) -> bytes:
    return subprocess.run(["openssl", *args], input=data, check=True, capture_output=True).stdout


def der_of(certificate_b64: str) -> bytes:
    return base64.b64decode(certificate_b64)


def expected_kid(certificate_b64: str) -> str:
    """libtrust's algorithm, step by step with openssl and the standard library."""
    public_pem = openssl(["x509", "-inform", "DER", "-pubkey", "-noout"], der_of(certificate_b64))
    spki_der = openssl(["pkey", "-pubin", "-outform", "DER"], public_pem)
    b32 = base64.b32encode(hashlib.sha256(spki_der).digest()[:30]).decode()
    assert len(b32) == 48 and "=" not in b32
    return ":".join(b32[i:i + 4] for i in range(0, 48, 4))


def expected_modulus_hex(certificate_b64: str) -> str:
    out = openssl(["x509", "-inform", "DER", "-noout", "-modulus"], der_of(certificate_b64)).decode()
    return out.strip().split("=", 1)[1].lower()


@pytest.fixture(scope="module")
def certs():
    return [certificate_b64(f"key-{i}") for i in range(3)]


def key(cert, status="ACTIVE", priority=100, algorithm="RS256"):
    return RealmKey(algorithm=algorithm, status=status, certificate=cert, priority=priority)


def test_kid_is_the_libtrust_fingerprint(certs):
    for cert in certs:
        assert libtrust_kid(load_certificate(cert).public_key()) == expected_kid(cert)


def test_jwks_has_modulus_exponent_and_libtrust_kid(certs):
    jwks = json.loads(signing_material([key(certs[0])])[JWKS_FILE])
    (entry,) = jwks["keys"]
    assert entry["kid"] == expected_kid(certs[0])
    assert entry["kty"] == "RSA" and entry["alg"] == "RS256" and entry["use"] == "sig"
    n = base64.urlsafe_b64decode(entry["n"] + "=" * (-len(entry["n"]) % 4))
    assert n.hex() == expected_modulus_hex(certs[0])
    assert base64.urlsafe_b64decode(entry["e"] + "==") == (65537).to_bytes(3, "big")


def test_bundle_holds_active_and_passive_rs256_certificates_only(certs):
    keys = [key(certs[0], "PASSIVE", 50), key(certs[1], "ACTIVE", 200), key(certs[2], "DISABLED", 300),
            key(certs[2], "ACTIVE", 400, algorithm="RS512"), key("", "ACTIVE", 500)]
    files = signing_material(keys)
    bundle = files[BUNDLE_FILE]
    assert bundle.count("BEGIN CERTIFICATE") == 2
    # openssl reads each PEM block back to the same certificate, highest priority first
    blocks = [b + "-----END CERTIFICATE-----\n" for b in bundle.split("-----END CERTIFICATE-----\n")[:-1]]
    assert [openssl(["x509", "-outform", "DER"], b.encode()) for b in blocks] == [der_of(certs[1]), der_of(certs[0])]
    assert [k["kid"] for k in json.loads(files[JWKS_FILE])["keys"]] == [expected_kid(certs[1]), expected_kid(certs[0])]


def test_pem_lines_are_64_characters(certs):
    lines = pem_bundle([key(certs[0])]).splitlines()
    assert all(len(line) <= 64 for line in lines[1:-1]) and len(lines[1]) == 64


def test_material_is_stable_whatever_the_order_keys_arrive_in(certs):
    keys = [key(certs[0], priority=100), key(certs[1], priority=100)]
    assert signing_material(keys) == signing_material(list(reversed(keys)))


def test_no_usable_key_is_an_error(certs):
    with pytest.raises(ValueError, match="no enabled RS256 key"):
        signing_material([key(certs[0], "DISABLED")])


def realm_keys_result(cert, priority, status="ACTIVE"):
    """A key exactly as get_realm_keys_output hands it over: the SDK's own result type."""
    return GetRealmKeysKeyResult(algorithm="RS256", certificate=cert, kid="kid", provider_id="rsa-generated",
                                 provider_priority=priority, public_key="", status=status, type="RSA")


def test_admin_api_and_invoke_shapes_read_alike(certs):
    api = {"algorithm": "RS256", "status": "ACTIVE", "certificate": certs[0], "providerPriority": 100}
    assert RealmKey.from_api(realm_keys_result(certs[0], 100)) == RealmKey.from_api(api) == key(certs[0], "ACTIVE", 100)


def test_the_invoke_result_is_ordered_by_its_real_priority(certs):
    # ordered by certificate text, the low-priority key would come first: only the priority can put it last
    low, high = sorted(certs[:2])
    files = signing_material(RealmKey.from_api(k) for k in (realm_keys_result(low, 10), realm_keys_result(high, 200)))
    assert [k["kid"] for k in json.loads(files[JWKS_FILE])["keys"]] == [expected_kid(high), expected_kid(low)]


def test_the_program_orders_the_secret_by_the_realms_priorities(dev_config, certs):
    """Through the SDK's invoke (camelCase on the wire, GetRealmKeysKeyResult in the program) into the Secret."""
    low, high = sorted(certs[:2])
    keys = [{"algorithm": "RS256", "status": status, "certificate": cert, "kid": cert[:8],
             "providerId": "rsa-generated", "providerPriority": priority, "publicKey": "", "type": "RSA"}
            for cert, status, priority in ((low, "ACTIVE", 10), (high, "PASSIVE", 200))]
    run = run_program(*dev_config, realm_keys=keys)
    files = run.one("kubernetes:core/v1:Secret", "registry-signing-certs").inputs["stringData"]["value"]
    assert [k["kid"] for k in json.loads(files[JWKS_FILE])["keys"]] == [expected_kid(high), expected_kid(low)]
