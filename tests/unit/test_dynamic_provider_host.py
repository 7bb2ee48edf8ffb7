"""Refresh of an object deleted outside Pulumi, through the SDK's real dynamic provider host (issue 8, item 4).

The host (`python -m pulumi.dynamic`, the process the engine starts) adds the serialized provider to whatever
read() returns and sends the id back; an empty id tells the engine the object is gone. A stand-in Keycloak on
loopback grants a token and answers 404 for every admin path: everything was deleted out of band.
"""

import asyncio
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from providers.docker_client import DockerV2ClientProvider
from providers.keycloak_resources import KeycloakRealmProvider, UserPasswordProvider
from support.mock_program import ROOT

PRESENT = "still-there"  # the one object id the stand-in still has (the control case)


class NothingLeft(BaseHTTPRequestHandler):
    """Token endpoint: a token. Admin paths: 404, except the object named PRESENT."""

    def do_POST(self):
        self._answer(200, {"access_token": "token"} if self.path.endswith("/openid-connect/token") else {})

    def do_GET(self):
        if self.path.endswith((f"/{PRESENT}/protocol-mappers/models", f"/{PRESENT}/default-client-scopes",
                               f"/{PRESENT}/optional-client-scopes")):
            self._answer(200, [])
        elif self.path.endswith(f"/{PRESENT}"):
            self._answer(200, {"id": PRESENT, "clientId": "registry", "realm": PRESENT, "enabled": True,
                               "protocol": "docker-v2"})
        else:
            self._answer(404, {"error": "Could not find"})

    def _answer(self, status: int, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def keycloak_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), NothingLeft)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def provider_host():
    """The dynamic provider host, started in the project directory as the engine would."""
    host = subprocess.Popen([sys.executable, "-m", "pulumi.dynamic"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(host.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield provider_pb2_grpc.ResourceProviderStub(channel)
    finally:
        host.terminate()
        host.wait(timeout=30)


def read_through_host(host, provider, id_: str, state: dict) -> provider_pb2.ReadResponse:
    properties = asyncio.run(rpc.serialize_properties({**state, "__provider": serialize_provider(provider)}, {}))
    return host.Read(provider_pb2.ReadRequest(id=id_, urn="urn:pulumi:test::p::pulumi-python:dynamic:Resource::r",
                                              properties=properties, inputs=properties), timeout=60)


def states(id_: str) -> list:
    """Each dynamic resource that reads a Keycloak object, with the state of the one whose id is ``id_``."""
    return [
        pytest.param(DockerV2ClientProvider(), {"realm": "registry", "client_id": "registry", "owner_token": "t"},
                     id="docker-v2 client"),
        pytest.param(KeycloakRealmProvider(), {"realm": id_, "display_name": "", "enabled": True,
                                               "access_token_lifespan": 300}, id="realm"),
        pytest.param(UserPasswordProvider(), {"realm": "registry", "user_id": id_, "password": "p"},
                     id="user password"),
    ]


CONNECTION = {"admin_username": "admin", "admin_password": "pw"}


@pytest.mark.parametrize("provider,state", states("deleted-out-of-band"))
def test_refresh_of_an_object_deleted_out_of_band_reports_it_gone(provider_host, keycloak_url, provider, state):
    state = {"server_url": keycloak_url, **CONNECTION, **state}
    assert read_through_host(provider_host, provider, "deleted-out-of-band", state).id == ""


@pytest.mark.parametrize("provider,state", states(PRESENT))
def test_refresh_of_an_object_still_there_keeps_its_id(provider_host, keycloak_url, provider, state):
    state = {"server_url": keycloak_url, **CONNECTION, **state}
    assert read_through_host(provider_host, provider, PRESENT, state).id == PRESENT
