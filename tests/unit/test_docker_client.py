"""The dynamic provider's pure parts; its REST calls run against a real Keycloak in tests/integration."""

import base64
import subprocess
import sys

import dill
from pulumi.dynamic.dynamic import serialize_provider

from components.docker_client import DockerV2ClientProvider, client_representation
from tests.unit.harness import ROOT

PROPS = {"server_url": "http://127.0.0.1:8080", "admin_username": "admin", "admin_password": "pw", "realm": "registry",
         "client_id": "registry", "name": "registry", "description": "d", "enabled": True}


def test_representation_is_a_docker_v2_client():
    assert client_representation(PROPS) == {"clientId": "registry", "name": "registry", "description": "d",
                                            "enabled": True, "protocol": "docker-v2"}


def test_no_change_means_no_diff():
    assert DockerV2ClientProvider().diff("id", PROPS, dict(PROPS)).changes is False


def test_field_changes_update_in_place():
    diff = DockerV2ClientProvider().diff("id", PROPS, {**PROPS, "description": "new"})
    assert diff.changes is True and diff.replaces == []


def test_rotated_admin_password_updates_the_stored_connection():
    assert DockerV2ClientProvider().diff("id", PROPS, {**PROPS, "admin_password": "new"}).changes is True


def test_moving_realms_replaces_the_client():
    diff = DockerV2ClientProvider().diff("id", PROPS, {**PROPS, "realm": "other"})
    assert diff.replaces == ["realm"] and diff.delete_before_replace is True


def test_provider_survives_the_serialization_pulumi_stores():
    blob = serialize_provider(DockerV2ClientProvider())
    restored = dill.loads(base64.b64decode(blob))
    assert isinstance(restored, DockerV2ClientProvider) and vars(restored) == {}
    # the provider host is a separate process started in the project directory
    script = ("import base64, dill, sys; p = dill.loads(base64.b64decode(sys.stdin.read())); "
              "print(type(p).__name__, p.diff('i', {'realm': 'a'}, {'realm': 'b'}).replaces)")
    out = subprocess.run([sys.executable, "-c", script], input=blob, capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "DockerV2ClientProvider ['realm']"
