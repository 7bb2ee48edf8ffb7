"""The docker-v2 client dynamic provider against the real Keycloak admin API."""

import base64

import dill
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from components.docker_client import ALLOW_ALL_MAPPER, DockerV2ClientProvider
from components.keycloak_admin import KeycloakApiError
from tests.integration.clients import client_props


@pytest.fixture
def props(admin, env_json, request):
    props = client_props(admin, env_json["realm"], f"provider-test-{request.node.name[5:30]}", "first")
    yield props
    for client in admin.call("GET", f"/{env_json['realm']}/clients", params={"clientId": props["client_id"]}).json():
        admin.call("DELETE", f"/{env_json['realm']}/clients/{client['id']}")


def test_create_read_update_delete(props, admin, env_json):
    provider = DockerV2ClientProvider()
    created = provider.create(props)
    read = provider.read(created.id, props)
    assert read.id == created.id
    assert {k: read.outs[k] for k in ("client_id", "description", "enabled", "protocol")} == \
        {"client_id": props["client_id"], "description": "first", "enabled": True, "protocol": "docker-v2"}
    mappers = admin.call("GET", f"/{env_json['realm']}/clients/{created.id}/protocol-mappers/models").json()
    assert [m["protocolMapper"] for m in mappers] == [ALLOW_ALL_MAPPER]

    changed = {**props, "description": "second", "enabled": False}
    assert provider.diff(created.id, read.outs, changed).changes is True
    provider.update(created.id, read.outs, changed)
    after = provider.read(created.id, changed)
    assert (after.outs["description"], after.outs["enabled"]) == ("second", False)
    assert provider.diff(created.id, after.outs, changed).changes is False

    provider.delete(created.id, created.outs)
    assert provider.read(created.id, changed).id is None


def test_a_client_deleted_out_of_band_reads_as_gone(props, admin, env_json):
    provider = DockerV2ClientProvider()
    created = provider.create(props)
    admin.call("DELETE", f"/{env_json['realm']}/clients/{created.id}")
    assert provider.read(created.id, props).id is None
    provider.delete(created.id, props)  # deleting what is already gone succeeds


def test_an_existing_client_with_that_client_id_is_adopted(props, admin, env_json):
    response = admin.call("POST", f"/{env_json['realm']}/clients", expect=(201,),
                          json={"clientId": props["client_id"], "protocol": "docker-v2", "description": "hand-made"})
    existing_id = response.headers["Location"].rsplit("/", 1)[-1]
    created = DockerV2ClientProvider().create(props)
    assert created.id == existing_id
    assert created.outs["description"] == "first"
    assert len(admin.call("GET", f"/{env_json['realm']}/clients", params={"clientId": props["client_id"]}).json()) == 1


def test_a_client_of_another_protocol_is_not_taken_over(props, admin, env_json):
    admin.call("POST", f"/{env_json['realm']}/clients", expect=(201,),
               json={"clientId": props["client_id"], "protocol": "openid-connect"})
    with pytest.raises(ValueError, match="with protocol openid-connect; expected docker-v2"):
        DockerV2ClientProvider().create(props)


def test_server_errors_say_what_the_server_answered(props):
    with pytest.raises(KeycloakApiError) as error:
        DockerV2ClientProvider().create({**props, "realm": "no-such-realm"})
    assert error.value.status == 404 and "no-such-realm" in str(error.value) and "answered 404" in str(error.value)
    with pytest.raises(KeycloakApiError, match="openid-connect/token answered 400: .*Invalid user credentials"):
        DockerV2ClientProvider().create({**props, "admin_password": "wrong"})


def test_the_provider_pulumi_stores_in_state_still_works(props):
    restored = dill.loads(base64.b64decode(serialize_provider(DockerV2ClientProvider())))
    created = restored.create(props)
    assert restored.read(created.id, props).outs["client_id"] == props["client_id"]
    restored.delete(created.id, created.outs)
