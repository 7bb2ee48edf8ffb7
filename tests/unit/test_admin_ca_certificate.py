"""keycloakAdminCaCertificate: an https admin URL signed by a private or staging CA is trusted by the
keycloak provider and by every dynamic resource, and by nothing else (a real TLS server on loopback)."""

import hashlib
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization

from lib.keycloak_admin import KeycloakAdmin, tls_verify
from localenv.cluster import issue_certificate, new_rsa_key
from support.keys import ca_certificate_pem
from support.mock_program import VALID, run_program
from tests.tls import https_json_server

DYNAMIC = "pulumi-python:dynamic:Resource"


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """An https server on 127.0.0.1 whose certificate a private CA signed; yields (url, CA PEM)."""
    with https_json_server(tmp_path_factory.mktemp("tls"), {"realm": "x"}) as server:
        yield server


def test_the_admin_client_trusts_the_given_ca_and_only_then(tls_server):
    url, ca_pem = tls_server
    with pytest.raises(requests.exceptions.SSLError):
        KeycloakAdmin(url, "admin", "secret").call("GET", "/x")
    assert KeycloakAdmin(url, "admin", "secret", ca_certificate=ca_pem).call("GET", "/x").json() == {"realm": "x"}


def test_the_provider_and_every_dynamic_resource_get_the_ca():
    ca_pem = issue_certificate("private-ca", new_rsa_key()).public_bytes(serialization.Encoding.PEM).decode()
    run = run_program({**VALID, "keycloakAdminUrl": "https://keycloak.internal", "keycloakAdminCaCertificate": ca_pem})
    assert run.one("pulumi:providers:keycloak").inputs["rootCaCertificate"] == ca_pem
    keycloak = [r for r in run.of_type(DYNAMIC) if "server_url" in r.inputs]  # those that call Keycloak
    assert keycloak and all(r.inputs["ca_certificate"] == ca_pem for r in keycloak), [r.name for r in keycloak]


def test_without_a_ca_the_systems_cas_are_used():
    run = run_program(VALID)
    assert "rootCaCertificate" not in run.one("pulumi:providers:keycloak").inputs
    assert all(not r.inputs.get("ca_certificate") for r in run.of_type(DYNAMIC))


def planted(ca_pem: str, other_pem: str):
    """Another local user's CA at the shared, predictable path an earlier version wrote ``ca_pem`` to."""
    path = Path(tempfile.gettempdir()) / f"keycloak-registry-ca-{hashlib.sha256(ca_pem.encode()).hexdigest()[:16]}.pem"
    path.write_text(other_pem)
    return path


def test_a_ca_planted_at_a_predictable_path_is_never_trusted():
    given, other = ca_certificate_pem(), ca_certificate_pem()
    path = planted(given, other)
    try:
        verify = tls_verify(given)
        assert Path(verify) != path
        assert Path(verify).read_text() == given
    finally:
        path.unlink()


def test_a_server_signed_by_the_planted_ca_is_refused(tls_server):
    url, server_ca = tls_server
    configured = ca_certificate_pem()
    path = planted(configured, server_ca)
    try:
        with pytest.raises(requests.exceptions.SSLError):
            KeycloakAdmin(url, "admin", "secret", ca_certificate=configured).call("GET", "/x")
    finally:
        path.unlink()


def test_the_ca_file_is_in_a_private_directory_of_this_process():
    directory = Path(tls_verify(ca_certificate_pem())).parent
    info = directory.stat()
    assert info.st_mode & 0o777 == 0o700 and info.st_uid == os.getuid()
    assert directory != Path(tempfile.gettempdir())


def test_concurrent_callers_all_read_a_complete_file():
    """Bundles large enough that a reader racing a non-atomic writer would see part of one."""
    for _ in range(5):
        bundle = ca_certificate_pem() * 2000
        start = threading.Barrier(8)

        def read(_) -> str:
            start.wait()
            return Path(tls_verify(bundle)).read_text()
        with ThreadPoolExecutor(8) as pool:
            assert all(content == bundle for content in pool.map(read, range(8)))
