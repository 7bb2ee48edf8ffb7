"""The dynamic provider's pure parts; its REST calls run against a real Keycloak in tests/integration."""

import base64
import subprocess
import sys

import dill
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from providers.docker_client import (
    OWNER_ATTRIBUTE,
    REFRESH_IDLE_ATTRIBUTE,
    REFRESH_MAX_AGE_ATTRIBUTE,
    DockerV2ClientProvider,
    client_representation,
    is_owned_by,
    owned_representation,
    refresh_lifetimes,
)
from providers.keycloak_resources import KeycloakAdminCredentialsProvider, KeycloakRealmProvider, UserPasswordProvider
from support.mock_program import ROOT

PROPS = {"server_url": "http://127.0.0.1:8080", "admin_username": "admin", "admin_password": "pw", "realm": "registry",
         "client_id": "registry", "name": "registry", "description": "d", "enabled": True, "access_mode": "allow-all"}


def test_representation_is_a_docker_v2_client():
    assert client_representation(PROPS) == {"clientId": "registry", "name": "registry", "description": "d",
                                            "enabled": True, "protocol": "docker-v2"}


def test_the_owner_marker_joins_the_clients_other_attributes():
    live = {"id": "uuid", "clientId": "registry", "protocol": "docker-v2",
            "attributes": {"other": "kept", OWNER_ATTRIBUTE: "a"}}
    off = {REFRESH_IDLE_ATTRIBUTE: "0", REFRESH_MAX_AGE_ATTRIBUTE: "0"}
    assert owned_representation(live, PROPS, "b") == {**live, **client_representation(PROPS),
                                                      "attributes": {"other": "kept", OWNER_ATTRIBUTE: "b", **off}}
    assert owned_representation({}, PROPS, "b")["attributes"] == {OWNER_ATTRIBUTE: "b", **off}


def test_refresh_lifetimes_go_into_attributes_and_read_back_with_damage_as_off():
    props = {**PROPS, "refresh_idle_seconds": 600, "refresh_max_age_seconds": 3600}
    client = owned_representation({}, props, "b")
    assert client["attributes"][REFRESH_IDLE_ATTRIBUTE] == "600"
    assert refresh_lifetimes(client) == {"refresh_idle_seconds": 600, "refresh_max_age_seconds": 3600}
    damaged = {"attributes": {REFRESH_IDLE_ATTRIBUTE: "ten minutes", REFRESH_MAX_AGE_ATTRIBUTE: "-5"}}
    assert refresh_lifetimes(damaged) == refresh_lifetimes({}) == {"refresh_idle_seconds": 0,
                                                                   "refresh_max_age_seconds": 0}


def test_only_the_resource_whose_marker_the_client_carries_owns_it():
    client = {"attributes": {OWNER_ATTRIBUTE: "b"}}
    assert is_owned_by(client, "b") and not is_owned_by(client, "a")
    # state and client from before markers: the old resource still owns what nobody has adopted since
    assert is_owned_by({"attributes": {}}, None) and is_owned_by({}, None) and not is_owned_by(client, None)


def test_no_change_means_no_diff():
    assert DockerV2ClientProvider().diff("id", PROPS, dict(PROPS)).changes is False


def test_field_changes_update_in_place():
    diff = DockerV2ClientProvider().diff("id", PROPS, {**PROPS, "description": "new"})
    assert diff.changes is True and diff.replaces == []


def test_a_client_from_before_the_extension_is_updated_to_its_mapper():
    """State written by an earlier version has no access_mode: the next `up` updates the client in place, which
    puts the extension's mapper on it and removes Keycloak's "Allow All"."""
    before_the_extension = {k: v for k, v in PROPS.items() if k != "access_mode"}
    diff = DockerV2ClientProvider().diff("id", before_the_extension, PROPS)
    assert diff.changes is True and diff.replaces == []


def test_rotated_admin_password_updates_the_stored_connection():
    assert DockerV2ClientProvider().diff("id", PROPS, {**PROPS, "admin_password": "new"}).changes is True


def test_moving_realms_replaces_the_client():
    diff = DockerV2ClientProvider().diff("id", PROPS, {**PROPS, "realm": "other"})
    assert diff.replaces == ["realm"] and diff.delete_before_replace is True


@pytest.mark.parametrize("provider_class", [DockerV2ClientProvider, KeycloakRealmProvider, UserPasswordProvider,
                                            KeycloakAdminCredentialsProvider])
def test_provider_survives_the_serialization_pulumi_stores(provider_class):
    blob = serialize_provider(provider_class())
    restored = dill.loads(base64.b64decode(blob))
    assert isinstance(restored, provider_class) and vars(restored) == {}
    # the provider host is a separate process started in the project directory
    script = ("import base64, dill, sys; p = dill.loads(base64.b64decode(sys.stdin.read())); "
              "print(type(p).__name__, p.diff('i', {'server_url': 'a'}, {'server_url': 'b'}).changes)")
    out = subprocess.run([sys.executable, "-c", script], input=blob, capture_output=True, text=True, cwd=ROOT,
                         check=True)
    assert out.stdout.strip() == f"{provider_class.__name__} True"


def test_every_docker_mapper_but_our_one_is_foreign_on_the_client_and_in_its_scopes():
    from providers.docker_client import access_mapper, foreign_mappers
    allow_all = {"name": "Allow All", "protocol": "docker-v2", "protocolMapper": "docker-v2-allow-all-mapper"}
    oidc = {"name": "email", "protocol": "openid-connect", "protocolMapper": "oidc-usermodel-property-mapper"}
    ours = access_mapper("client-roles")
    assert foreign_mappers([ours], {}) == []
    assert foreign_mappers([ours, oidc], {"profile": {"protocol": "openid-connect", "protocolMappers": [oidc]}}) == []
    assert foreign_mappers([allow_all, ours, dict(ours)], {"docker": {"protocol": "docker-v2", "protocolMappers": [
        {k: v for k, v in allow_all.items() if k != "protocol"}]}}) == [
        "client scope docker: Allow All (docker-v2-allow-all-mapper)", "client: Allow All (docker-v2-allow-all-mapper)",
        "client: repository access (keycloak-registry-repository-access)"]


def test_a_foreign_mapper_in_the_refreshed_state_is_a_change_the_next_up_removes():
    read_back = {**PROPS, "foreign_mappers": ["client: Allow All (docker-v2-allow-all-mapper)"]}
    assert DockerV2ClientProvider().diff("id", read_back, {**PROPS, "foreign_mappers": []}).changes is True


def test_a_widened_default_access_is_a_change_of_a_named_input():
    diff = DockerV2ClientProvider().diff("id", {**PROPS, "default_access": "none"}, {**PROPS, "default_access": "all"})
    assert diff.changes is True and diff.replaces == []
