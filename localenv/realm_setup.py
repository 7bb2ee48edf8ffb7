"""Realm objects for the local environment, through the admin REST API.

Until the Pulumi engine drives the local stack, this mirrors what components/realm.py declares (same
names, same flow structure, from the same settings); the docker-v2 client is made by the program's own
dynamic provider and the certificate files by its own derivation code.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from components.docker_client import DockerV2ClientProvider
from components.keycloak_admin import KeycloakAdmin
from components.realm import (CONDITION_USER_ROLE, DENY_ACCESS, DOCKER_AUTHENTICATOR, VERIFY_PROFILE,
                              flow_aliases)
from components.settings import RealmSettings
from components.signing_keys import RealmKey, signing_material


def created_id(response) -> str:
    return response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]


def configure_realm(admin: KeycloakAdmin, realm: RealmSettings, passwords: dict[str, str]) -> dict[str, Any]:
    """Realm, access role, group, users (in the group) and, if asked, the restricted docker flow."""
    r = f"/{quote(realm.name)}"
    admin.call("POST", "", json={"realm": realm.name, "enabled": True,
                                 "accessTokenLifespan": realm.token_lifespan_seconds})
    action = admin.call("GET", f"{r}/authentication/required-actions/{VERIFY_PROFILE}").json()
    admin.call("PUT", f"{r}/authentication/required-actions/{VERIFY_PROFILE}", json={**action, "enabled": False})
    admin.call("POST", f"{r}/roles", json={"name": realm.access_role})
    role = admin.call("GET", f"{r}/roles/{quote(realm.access_role)}").json()
    group_id = created_id(admin.call("POST", f"{r}/groups", json={"name": realm.group}))
    admin.call("POST", f"{r}/groups/{group_id}/role-mappings/realm", json=[role])
    for username in realm.users:
        add_user(admin, realm.name, username, passwords[username], group_id)
    if realm.restrict_to_group:
        restrict_docker_flow(admin, realm)
    return {"group_id": group_id}


def add_user(admin: KeycloakAdmin, realm: str, username: str, password: str, group_id: str = "",
             enabled: bool = True) -> str:
    r = f"/{quote(realm)}"
    user_id = created_id(admin.call("POST", f"{r}/users", json={
        "username": username, "enabled": enabled, "requiredActions": [],
        "credentials": [{"type": "password", "value": password, "temporary": False}]}))
    if group_id:
        admin.call("PUT", f"{r}/users/{user_id}/groups/{group_id}")
    return user_id


def _set_requirements(admin: KeycloakAdmin, r: str, flow_alias: str, requirements: dict[str, str]) -> list[dict]:
    """Executions are created DISABLED; set each one's requirement (keyed by authenticator or sub-flow alias)."""
    executions = admin.call("GET", f"{r}/authentication/flows/{quote(flow_alias)}/executions").json()
    for execution in executions:
        key = execution.get("providerId") or execution.get("displayName")
        if key in requirements:
            admin.call("PUT", f"{r}/authentication/flows/{quote(flow_alias)}/executions",
                       json={**execution, "requirement": requirements[key]})
    return executions


def restrict_docker_flow(admin: KeycloakAdmin, realm: RealmSettings) -> None:
    """The structure components/realm.py declares: basic auth, then deny users lacking the group's role."""
    r = f"/{quote(realm.name)}"
    flow_alias, subflow_alias = flow_aliases(realm)
    admin.call("POST", f"{r}/authentication/flows", json={"alias": flow_alias, "providerId": "basic-flow",
                                                          "topLevel": True, "builtIn": False})
    flows = f"{r}/authentication/flows"
    admin.call("POST", f"{flows}/{quote(flow_alias)}/executions/execution", json={"provider": DOCKER_AUTHENTICATOR})
    admin.call("POST", f"{flows}/{quote(flow_alias)}/executions/flow", json={"alias": subflow_alias, "type": "basic-flow"})
    _set_requirements(admin, r, flow_alias, {DOCKER_AUTHENTICATOR: "REQUIRED", subflow_alias: "CONDITIONAL"})
    for provider in (CONDITION_USER_ROLE, DENY_ACCESS):
        admin.call("POST", f"{flows}/{quote(subflow_alias)}/executions/execution", json={"provider": provider})
    executions = _set_requirements(admin, r, subflow_alias, {CONDITION_USER_ROLE: "REQUIRED", DENY_ACCESS: "REQUIRED"})
    condition = next(e for e in executions if e.get("providerId") == CONDITION_USER_ROLE)
    admin.call("POST", f"{r}/authentication/executions/{condition['id']}/config", json={
        "alias": f"lacks {realm.access_role}", "config": {"condUserRole": realm.access_role, "negate": "true"}})
    admin.call("PUT", r, json={"dockerAuthenticationFlow": flow_alias})


def create_docker_client(admin: KeycloakAdmin, realm: RealmSettings) -> str:
    """The docker-v2 client, made by the program's own dynamic provider; returns its id."""
    result = DockerV2ClientProvider().create(client_props(admin, realm.name, realm.client_id))
    return result.id


def client_props(admin: KeycloakAdmin, realm: str, client_id: str, description: str = "") -> dict[str, Any]:
    return {"server_url": admin.base_url, "admin_username": admin.username, "admin_password": admin.password,
            "realm": realm, "client_id": client_id, "name": client_id, "description": description, "enabled": True}


def realm_signing_files(admin: KeycloakAdmin, realm: str) -> dict[str, str]:
    """The certificate Secret's files, derived from the live realm exactly as the program derives them."""
    keys = admin.call("GET", f"/{quote(realm)}/keys").json()["keys"]
    return signing_material(RealmKey.from_api(k) for k in keys)
