"""The one setting of an LDAP user federation that pulumi-keycloak has no field for: how Keycloak treats referrals.

Keycloak leaves JNDI's default, ``ignore``, which sends the ManageDsaIT control with every search. OpenLDAP's
dynlist overlay (the 2.5 successor of memberof, and the one that expands nested groups) computes no memberOf
under that control, so every directory user would have no groups and be refused. ``follow`` sends no such control.
pulumi-keycloak writes the whole component on each update, dropping the setting: ``revision`` changes with every
federation input, so the same `up` sets it again (until then, directory logins fail closed: no groups, 401).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional
from urllib.parse import quote

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from providers.base import CONNECTION_FIELDS, AdminApiResource, admin_from, changed_fields, gone

FIELD = "referral"


def _component_path(props: dict[str, Any]) -> str:
    return f"/{quote(props['realm'])}/components/{quote(props['federation_id'])}"


def with_referral(component: dict[str, Any], referral: str) -> dict[str, Any]:
    """The component as Keycloak returned it, with only the referral setting changed."""
    return {**component, "config": {**component.get("config", {}), FIELD: [referral]}}


def _apply(props: dict[str, Any]) -> None:
    admin = admin_from(props)
    component = admin.call("GET", _component_path(props)).json()
    admin.call("PUT", _component_path(props), json=with_referral(component, props["referral"]))


class FederationReferralProvider(ResourceProvider):
    """Sets ``referral`` on the federation component; read() reports what Keycloak has, so a refresh shows drift."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        _apply(props)
        return CreateResult(props["federation_id"], dict(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        response = admin_from(props).call("GET", _component_path(props), expect=(200, 404))
        if response.status_code == 404:
            return gone()
        live = (response.json().get("config", {}).get(FIELD) or [""])[0]
        return ReadResult(id_, {**props, "referral": live})

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = changed_fields(olds, news, ("realm", "federation_id"))
        changed = changed_fields(olds, news, ("realm", "federation_id", "referral", "revision") + CONNECTION_FIELDS)
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        _apply(news)
        return UpdateResult(dict(news))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Nothing to undo: the setting goes with its federation, which pulumi-keycloak deletes."""


class FederationReferral(AdminApiResource):
    """``referral`` of one LDAP federation, set again whenever ``revision`` (a digest of the federation's inputs,
    secret because the bind credential is among them) changes."""

    referral: pulumi.Output[str]

    def __init__(self, name: str, *, connection: Mapping[str, pulumi.Input[str]], realm: pulumi.Input[str],
                 federation_id: pulumi.Input[str], referral: str, revision: pulumi.Input[str],
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(FederationReferralProvider(), name, connection,
                         {"realm": realm, "federation_id": federation_id, "referral": referral,
                          "revision": revision}, ("revision",), opts)
