"""A docker-v2 protocol client in a Keycloak realm, as a Pulumi dynamic resource.

pulumi-keycloak has no such resource (pulumi-keycloak#87), so this provider calls the admin REST API.
It takes its connection through ``providers.base.AdminApiResource``.
"""

from __future__ import annotations

import secrets
from typing import Any, Mapping, Optional
from urllib.parse import quote

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from lib.keycloak_admin import KeycloakAdmin, KeycloakApiError
from lib.keycloak_extension import MAPPER_ID, MAPPER_MODE
from providers.base import CONNECTION_FIELDS, AdminApiResource, admin_from, changed_fields, gone

PROTOCOL = "docker-v2"
MAPPER_NAME = "repository access"
# Inputs that describe the client itself; the rest say how to reach the admin API. ``foreign_mappers`` is always []
# in the inputs: read() reports any other mapper that can shape tokens there, so it shows as drift.
CLIENT_FIELDS = ("client_id", "name", "description", "enabled", "access_mode", "default_access", "foreign_mappers",
                 "refresh_idle_seconds", "refresh_max_age_seconds")
# Client attribute naming the resource that created or adopted the client (its state's owner_token): after a
# URN change, the new resource adopts the client first and the old one's delete must then leave it alone.
OWNER_ATTRIBUTE = "keycloak-registry.owner"
# Client attribute stating what every member may do beyond the rules (settings' defaultAccess): audit trail in the
# console, and a named input, so a pull request that widens it shows as such in `pulumi preview --diff`.
DEFAULT_ACCESS_ATTRIBUTE = "keycloak-registry.default-access"
# Client attributes the extension's token endpoint reads its refresh-token lifetimes from (RefreshTokenPolicy's
# IDLE_ATTRIBUTE and MAX_AGE_ATTRIBUTE; a unit test keeps them equal): 0 turns refresh tokens off.
REFRESH_IDLE_ATTRIBUTE = "keycloak-registry.refresh-token.idle-seconds"
REFRESH_MAX_AGE_ATTRIBUTE = "keycloak-registry.refresh-token.max-age-seconds"
REFRESH_ATTRIBUTES = {"refresh_idle_seconds": REFRESH_IDLE_ATTRIBUTE,
                      "refresh_max_age_seconds": REFRESH_MAX_AGE_ATTRIBUTE}


def client_representation(props: dict[str, Any]) -> dict[str, Any]:
    """The admin-API body for the client these inputs describe."""
    return {"clientId": props["client_id"], "name": props.get("name") or "",
            "description": props.get("description") or "", "enabled": bool(props.get("enabled", True)),
            "protocol": PROTOCOL}


def owned_representation(current: dict[str, Any], props: dict[str, Any], owner_token: Optional[str]) -> dict[str, Any]:
    """``current`` (the live client, or {} for a new one) as these inputs describe it, marked as ``owner_token``'s."""
    attributes = dict(current.get("attributes") or {})
    if owner_token is not None:
        attributes[OWNER_ATTRIBUTE] = owner_token
    if props.get("default_access"):
        attributes[DEFAULT_ACCESS_ATTRIBUTE] = props["default_access"]
    for field, attribute in REFRESH_ATTRIBUTES.items():
        attributes[attribute] = str(int(props.get(field) or 0))
    return {**current, **client_representation(props), "attributes": attributes}


def access_mapper(mode: str) -> dict[str, Any]:
    """The extension's mapper as the admin API takes it."""
    return {"name": MAPPER_NAME, "protocol": PROTOCOL, "protocolMapper": MAPPER_ID, "config": {MAPPER_MODE: mode}}


def describe_mapper(mapper: dict[str, Any], holder: str) -> str:
    return f"{holder}: {mapper.get('name')} ({mapper.get('protocolMapper')})"


def foreign_mappers(client_mappers: list[dict[str, Any]], scopes: dict[str, dict[str, Any]]) -> list[str]:
    """Every docker-v2 mapper other than our one access mapper that Keycloak would run for this client's tokens: on
    the client itself (a second copy of ours included) and in its client scopes (name -> representation).
    Keycloak orders mappers of equal priority arbitrarily, and "Allow All" clears what ours computed."""
    docker = [m for m in client_mappers if m.get("protocol") == PROTOCOL]
    ours = next((i for i, m in enumerate(docker) if m.get("protocolMapper") == MAPPER_ID), None)
    found = [describe_mapper(m, "client") for i, m in enumerate(docker) if i != ours]
    for name, scope in sorted(scopes.items()):
        found += [describe_mapper(m, f"client scope {name}") for m in scope.get("protocolMappers") or []
                  if m.get("protocol", scope.get("protocol")) == PROTOCOL]
    return sorted(found)


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
            self._ensure_access_mapper(admin, f"{path}/{client_uuid}", props["access_mode"])
            return CreateResult(client_uuid, {**props, "owner_token": owner_token,
                                              **self._observed(admin, path, client_uuid)})
        # Created with our mapper in the same request, so Keycloak never attaches its "Allow All" to it; if anything
        # after the POST fails, the client goes again: a half-made client outside the state would grant everything.
        body = {**owned_representation({}, props, owner_token),
                "protocolMappers": [access_mapper(props["access_mode"])]}
        response = admin.call("POST", path, json=body, expect=(201,))
        client_uuid = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
        try:
            self._ensure_access_mapper(admin, f"{path}/{client_uuid}", props["access_mode"])
            observed = self._observed(admin, path, client_uuid)
        except BaseException:
            admin.call("DELETE", f"{path}/{client_uuid}", expect=(204, 404))
            raise
        return CreateResult(client_uuid, {**props, "owner_token": owner_token, **observed})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        admin, path = admin_from(props), _clients_path(props["realm"])
        response = admin.call("GET", f"{path}/{id_}", expect=(200, 404))
        if response.status_code == 404:
            return gone()
        return ReadResult(id_, {**props, **self._observed(admin, path, id_, response.json())})

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

    def _observed(self, admin: KeycloakAdmin, path: str, client_uuid: str,
                  client: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        """The client as Keycloak has it: its fields, its access mapper's mode ("" when gone: the next `up` adds it)
        and every other mapper that would shape its tokens."""
        client = client or admin.call("GET", f"{path}/{client_uuid}").json()
        mappers = admin.call("GET", f"{path}/{client_uuid}/protocol-mappers/models").json()
        return {**self._from_server(client),
                "access_mode": next((mode_of(m) for m in mappers if m.get("protocolMapper") == MAPPER_ID), ""),
                "default_access": (client.get("attributes") or {}).get(DEFAULT_ACCESS_ATTRIBUTE, ""),
                **refresh_lifetimes(client),
                "foreign_mappers": foreign_mappers(mappers, {scope.get("name", scope["id"]): scope for _, scope in
                                                             self._scope_links(admin, f"{path}/{client_uuid}")})}

    @staticmethod
    def _ensure_access_mapper(admin: KeycloakAdmin, client_path: str, mode: str) -> None:
        """Exactly one docker mapper decides the token's access: the extension's, in ``mode``. It is added before
        any other (Keycloak's "Allow All") is removed, so a Keycloak without the extension keeps what it had."""
        models = f"{client_path}/protocol-mappers/models"
        mappers = admin.call("GET", models).json()
        ours = [m for m in mappers if m.get("protocolMapper") == MAPPER_ID]
        if not ours:
            try:
                admin.call("POST", models, expect=(201,), json=access_mapper(mode))
            except KeycloakApiError as error:
                if error.status not in (400, 404):
                    raise
                raise DockerV2ClientProvider._missing_extension(error) from error
        elif mode_of(ours[0]) != mode:
            admin.call("PUT", f"{models}/{ours[0]['id']}",
                       json={**ours[0], "config": {**(ours[0].get("config") or {}), MAPPER_MODE: mode}})
        for mapper in mappers:
            if (mapper.get("protocol") == PROTOCOL and mapper.get("protocolMapper") != MAPPER_ID) or mapper in ours[1:]:
                admin.call("DELETE", f"{models}/{mapper['id']}", expect=(204, 404))
        for kind, scope in DockerV2ClientProvider._scope_links(admin, client_path):
            if any(m.get("protocol", scope.get("protocol")) == PROTOCOL for m in scope.get("protocolMappers") or []):
                admin.call("DELETE", f"{client_path}/{kind}/{scope['id']}", expect=(204, 404))

    @staticmethod
    def _scope_links(admin: KeycloakAdmin, client_path: str) -> list[tuple[str, dict[str, Any]]]:
        """(link kind, full scope representation) of every client scope linked to the client, default or optional."""
        realm_path, links = client_path.split("/clients/")[0], []
        for kind in ("default-client-scopes", "optional-client-scopes"):
            for link in admin.call("GET", f"{client_path}/{kind}").json():
                links.append((kind, admin.call("GET", f"{realm_path}/client-scopes/{link['id']}").json()))
        return links

    @staticmethod
    def _missing_extension(error: KeycloakApiError) -> ValueError:
        return ValueError(f"Keycloak has no docker-v2 mapper {MAPPER_ID}: the keycloak-registry extension is not "
                          f"loaded (expected in /opt/keycloak/providers from the keycloak-extensions ConfigMap); "
                          f"Keycloak said: {error}")


def refresh_lifetimes(client: dict[str, Any]) -> dict[str, int]:
    """The refresh-token lifetimes a live client carries; 0 for a missing or unreadable one (the extension's "off")."""
    attributes = client.get("attributes") or {}
    return {field: int(value) if (value := str(attributes.get(attribute, "0"))).isdigit() else 0
            for field, attribute in REFRESH_ATTRIBUTES.items()}


def mode_of(mapper: dict[str, Any]) -> str:
    """The access mode a protocol mapper representation carries ("" without one)."""
    return (mapper.get("config") or {}).get(MAPPER_MODE, "")


class DockerV2Client(AdminApiResource):
    """The registry's client: its clientId is the token ``service`` and ``aud``."""

    client_id: pulumi.Output[str]
    realm: pulumi.Output[str]
    protocol: pulumi.Output[str]
    access_mode: pulumi.Output[str]  # how its access mapper grants: allow-all or client-roles
    default_access: pulumi.Output[str]  # what every member may do beyond the rules: all, pull or none
    foreign_mappers: pulumi.Output[list]  # other docker-v2 mappers found on the client or its scopes (drift)
    refresh_idle_seconds: pulumi.Output[int]  # refresh tokens unused this long end (0: no refresh tokens)
    refresh_max_age_seconds: pulumi.Output[int]  # refresh tokens end this long after their login (0: none)

    def __init__(self, name: str, *, connection: Mapping[str, pulumi.Input[str]], realm: pulumi.Input[str],
                 client_id: pulumi.Input[str], access_mode: pulumi.Input[str], default_access: pulumi.Input[str],
                 refresh_lifetimes: tuple[int, int] = (0, 0), description: pulumi.Input[str] = "",
                 enabled: pulumi.Input[bool] = True,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(DockerV2ClientProvider(), name, connection, {
            "realm": realm, "client_id": client_id, "name": client_id, "description": description, "enabled": enabled,
            "access_mode": access_mode, "default_access": default_access, "foreign_mappers": [], "protocol": None,
            "refresh_idle_seconds": refresh_lifetimes[0], "refresh_max_age_seconds": refresh_lifetimes[1],
        }, opts=opts)
