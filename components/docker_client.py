"""A docker-v2 protocol client in a Keycloak realm, as a Pulumi dynamic resource.

pulumi-keycloak has no such resource (pulumi-keycloak#87), so this provider calls the admin REST API.
The provider object is serialized into the state with dill and run in another process: it keeps no
session; every method builds its own ``KeycloakAdmin`` from the (secret) inputs.
"""

from __future__ import annotations

import secrets
from typing import Any, Optional
from urllib.parse import quote

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from .keycloak_admin import KeycloakAdmin, KeycloakApiError
from .keycloak_extension import MAPPER_ID, MAPPER_MODE
from .keycloak_resources import CONNECTION_FIELDS, admin_from, changed_fields, gone

PROTOCOL = "docker-v2"
MAPPER_NAME = "repository access"
# Inputs that describe the client itself; the rest say how to reach the admin API.
CLIENT_FIELDS = ("client_id", "name", "description", "enabled", "access_mode")
# Client attribute naming the resource that created or adopted the client (its state's owner_token): after a
# URN change, the new resource adopts the client first and the old one's delete must then leave it alone.
OWNER_ATTRIBUTE = "keycloak-registry.owner"


def client_representation(props: dict[str, Any]) -> dict[str, Any]:
    """The admin-API body for the client these inputs describe."""
    return {"clientId": props["client_id"], "name": props.get("name") or "", "description": props.get("description") or "",
            "enabled": bool(props.get("enabled", True)), "protocol": PROTOCOL}


def owned_representation(current: dict[str, Any], props: dict[str, Any], owner_token: Optional[str]) -> dict[str, Any]:
    """``current`` (the live client, or {} for a new one) as these inputs describe it, marked as ``owner_token``'s."""
    attributes = dict(current.get("attributes") or {})
    if owner_token is not None:
        attributes[OWNER_ATTRIBUTE] = owner_token
    return {**current, **client_representation(props), "attributes": attributes}


def is_owned_by(client: dict[str, Any], owner_token: Optional[str]) -> bool:
    """Whether the live client still carries this resource's marker (no marker on either side: made before markers)."""
    return (client.get("attributes") or {}).get(OWNER_ATTRIBUTE) == owner_token


def _clients_path(realm: str) -> str:
    return f"/{quote(realm)}/clients"


class DockerV2ClientProvider(ResourceProvider):
    """Create / read / diff / update / delete of one docker-v2 client."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        admin, path = admin_from(props), _clients_path(props["realm"])
        owner_token = secrets.token_hex(16)
        existing = admin.call("GET", path, params={"clientId": props["client_id"]}).json()
        if existing:  # adopt the client that is already there instead of failing on a duplicate clientId
            client = existing[0]
            if client.get("protocol") != PROTOCOL:
                raise ValueError(f"realm {props['realm']} already has a client {props['client_id']} with protocol "
                                 f"{client.get('protocol')}; expected {PROTOCOL}: delete or rename it")
            client_uuid = client["id"]
            admin.call("PUT", f"{path}/{client_uuid}", json=owned_representation(client, props, owner_token))
        else:
            response = admin.call("POST", path, json=owned_representation({}, props, owner_token), expect=(201,))
            client_uuid = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
        self._ensure_access_mapper(admin, f"{path}/{client_uuid}", props["access_mode"])
        return CreateResult(client_uuid, {**props, "owner_token": owner_token,
                                          **self._observed(admin, path, client_uuid)})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        admin, path = admin_from(props), _clients_path(props["realm"])
        response = admin.call("GET", f"{path}/{id_}", expect=(200, 404))
        if response.status_code == 404:
            return gone()
        state = {**props, **self._from_server(response.json()),
                 "access_mode": self._access_mode(admin, f"{path}/{id_}")}
        return ReadResult(id_, state)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = ["realm"] if olds.get("realm") != news.get("realm") else []
        changed = changed_fields(olds, news, CLIENT_FIELDS + CONNECTION_FIELDS)
        return DiffResult(changes=bool(changed or replaces), replaces=replaces, delete_before_replace=True)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        admin, path = admin_from(news), _clients_path(news["realm"])
        owner_token = olds.get("owner_token")
        current = admin.call("GET", f"{path}/{id_}").json()
        admin.call("PUT", f"{path}/{id_}", json=owned_representation(current, news, owner_token))
        self._ensure_access_mapper(admin, f"{path}/{id_}", news["access_mode"])
        return UpdateResult({**news, "owner_token": owner_token, **self._observed(admin, path, id_)})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Deletes the client unless another resource has adopted it since (its marker is no longer ours)."""
        admin, client_path = admin_from(props), f"{_clients_path(props['realm'])}/{id_}"
        response = admin.call("GET", client_path, expect=(200, 404))
        if response.status_code == 200 and is_owned_by(response.json(), props.get("owner_token")):
            admin.call("DELETE", client_path, expect=(204, 404))

    @staticmethod
    def _from_server(client: dict[str, Any]) -> dict[str, Any]:
        return {"client_id": client["clientId"], "name": client.get("name") or "",
                "description": client.get("description") or "", "enabled": bool(client.get("enabled")),
                "protocol": client.get("protocol")}

    def _observed(self, admin: KeycloakAdmin, path: str, client_uuid: str) -> dict[str, Any]:
        return self._from_server(admin.call("GET", f"{path}/{client_uuid}").json())

    @staticmethod
    def _ensure_access_mapper(admin: KeycloakAdmin, client_path: str, mode: str) -> None:
        """Exactly one docker mapper decides the token's access: the extension's, in ``mode``. It is added before
        any other (Keycloak's "Allow All") is removed, so a Keycloak without the extension keeps what it had."""
        models = f"{client_path}/protocol-mappers/models"
        mappers = admin.call("GET", models).json()
        ours = [m for m in mappers if m.get("protocolMapper") == MAPPER_ID]
        if not ours:
            try:
                admin.call("POST", models, expect=(201,), json={
                    "name": MAPPER_NAME, "protocol": PROTOCOL, "protocolMapper": MAPPER_ID, "config": {MAPPER_MODE: mode}})
            except KeycloakApiError as error:
                if error.status not in (400, 404):
                    raise
                raise ValueError(f"Keycloak has no docker-v2 mapper {MAPPER_ID}: the keycloak-registry extension is not "
                                 f"loaded (expected in /opt/keycloak/providers from the keycloak-extensions ConfigMap); "
                                 f"Keycloak said: {error}") from error
        elif mode_of(ours[0]) != mode:
            admin.call("PUT", f"{models}/{ours[0]['id']}",
                       json={**ours[0], "config": {**(ours[0].get("config") or {}), MAPPER_MODE: mode}})
        for mapper in mappers:
            if (mapper.get("protocol") == PROTOCOL and mapper.get("protocolMapper") != MAPPER_ID) or mapper in ours[1:]:
                admin.call("DELETE", f"{models}/{mapper['id']}", expect=(204, 404))

    @staticmethod
    def _access_mode(admin: KeycloakAdmin, client_path: str) -> str:
        """The mode of the client's access mapper as Keycloak has it; "" when it is gone (the next `up` adds it)."""
        mappers = admin.call("GET", f"{client_path}/protocol-mappers/models").json()
        return next((mode_of(m) for m in mappers if m.get("protocolMapper") == MAPPER_ID), "")


def mode_of(mapper: dict[str, Any]) -> str:
    """The access mode a protocol mapper representation carries ("" without one)."""
    return (mapper.get("config") or {}).get(MAPPER_MODE, "")


class DockerV2Client(Resource):
    """The registry's client: its clientId is the token ``service`` and ``aud``."""

    client_id: pulumi.Output[str]
    realm: pulumi.Output[str]
    protocol: pulumi.Output[str]
    access_mode: pulumi.Output[str]  # how its access mapper grants: allow-all or client-roles

    def __init__(self, name: str, *, server_url: pulumi.Input[str], admin_username: pulumi.Input[str],
                 admin_password: pulumi.Input[str], realm: pulumi.Input[str], client_id: pulumi.Input[str],
                 access_mode: pulumi.Input[str], description: pulumi.Input[str] = "", enabled: pulumi.Input[bool] = True,
                 ca_certificate: pulumi.Input[str] = "", opts: Optional[pulumi.ResourceOptions] = None):
        secret_outputs = pulumi.ResourceOptions(additional_secret_outputs=["admin_password"])
        super().__init__(DockerV2ClientProvider(), name, {
            "server_url": server_url, "admin_username": admin_username, "admin_password": pulumi.Output.secret(admin_password),
            "ca_certificate": ca_certificate,
            "realm": realm, "client_id": client_id, "name": client_id, "description": description, "enabled": enabled,
            "access_mode": access_mode, "protocol": None,
        }, pulumi.ResourceOptions.merge(secret_outputs, opts))
