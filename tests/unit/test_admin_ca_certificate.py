"""keycloakAdminCaCertificate: an https admin URL signed by a private or staging CA is trusted by the
keycloak provider and by every dynamic resource, and by nothing else (a real TLS server on loopback)."""

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from cryptography.hazmat.primitives import serialization

from components.keycloak_admin import KeycloakAdmin
from localenv.cluster import issue_certificate, new_rsa_key, private_key_pem
from tests.unit.harness import VALID, run_program

DYNAMIC = "pulumi-python:dynamic:Resource"


class FakeAdminApi(BaseHTTPRequestHandler):
    """Just enough of Keycloak: a token, and one admin GET."""

    def do_POST(self):
        self._answer({"access_token": "token"})

    def do_GET(self):
        self._answer({"realm": "x"})

    def _answer(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """An https server on 127.0.0.1 whose certificate a private CA signed; yields (url, CA PEM)."""
    directory = tmp_path_factory.mktemp("tls")
    ca_key, server_key = new_rsa_key(), new_rsa_key()
    ca = issue_certificate("private-ca", ca_key)
    server = issue_certificate("keycloak", server_key, ("private-ca", ca_key), sans=("127.0.0.1",))
    pem = serialization.Encoding.PEM
    (directory / "server.crt").write_bytes(server.public_bytes(pem))
    (directory / "server.key").write_bytes(private_key_pem(server_key))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "server.crt", directory / "server.key")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeAdminApi)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{httpd.server_port}", ca.public_bytes(pem).decode()
    httpd.shutdown()


def test_the_admin_client_trusts_the_given_ca_and_only_then(tls_server):
    url, ca_pem = tls_server
    with pytest.raises(requests.exceptions.SSLError):
        KeycloakAdmin(url, "admin", "secret").call("GET", "/x")
    assert KeycloakAdmin(url, "admin", "secret", ca_certificate=ca_pem).call("GET", "/x").json() == {"realm": "x"}


def test_the_provider_and_every_dynamic_resource_get_the_ca():
    ca_pem = issue_certificate("private-ca", new_rsa_key()).public_bytes(serialization.Encoding.PEM).decode()
    run = run_program({**VALID, "keycloakAdminUrl": "https://keycloak.internal", "keycloakAdminCaCertificate": ca_pem})
    assert run.one("pulumi:providers:keycloak").inputs["rootCaCertificate"] == ca_pem
    dynamic = run.of_type(DYNAMIC)
    assert dynamic and all(r.inputs["ca_certificate"] == ca_pem for r in dynamic), [r.name for r in dynamic]


def test_without_a_ca_the_systems_cas_are_used():
    run = run_program(VALID)
    assert "rootCaCertificate" not in run.one("pulumi:providers:keycloak").inputs
    assert all(not r.inputs.get("ca_certificate") for r in run.of_type(DYNAMIC))
