"""What every admin-API dynamic resource shares: the connection it takes, the secrets it wraps, the client it builds.

The providers are serialized into the state with dill and run in another process: they keep no session, and every
method builds its own ``KeycloakAdmin`` from the (secret) connection inputs.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import pulumi
from pulumi.dynamic import ReadResult, Resource, ResourceProvider

from lib.keycloak_admin import KeycloakAdmin

# Inputs that say how a dynamic resource reaches the admin API (KeycloakAdminCredentials.connection() gives them).
CONNECTION_FIELDS = ("server_url", "admin_username", "admin_password", "ca_certificate")


def admin_from(props: dict[str, Any]) -> KeycloakAdmin:
    """The admin-API client a dynamic resource's connection inputs describe."""
    return KeycloakAdmin(props["server_url"].rstrip("/"), props["admin_username"], props["admin_password"],
                         ca_certificate=props.get("ca_certificate") or "")


def gone() -> ReadResult:
    """read()'s answer for an object deleted outside Pulumi: the provider host sends it as an empty id, which
    the engine records as deleted (the next `up` creates it again). Outputs must be a dict: the host adds to them."""
    return ReadResult(None, {})


def changed_fields(olds: dict[str, Any], news: dict[str, Any], fields: tuple[str, ...]) -> list[str]:
    return [k for k in fields if olds.get(k) != news.get(k)]


class AdminApiResource(Resource):
    """A dynamic resource that calls Keycloak's admin API through ``connection``. The admin password and any
    ``secret_fields`` are wrapped as secrets here, once, in both the inputs and the outputs."""

    def __init__(self, provider: ResourceProvider, name: str, connection: Mapping[str, pulumi.Input[str]],
                 props: dict[str, Any], secret_fields: tuple[str, ...] = (),
                 opts: Optional[pulumi.ResourceOptions] = None):
        secrets = ("admin_password", *secret_fields)
        inputs = {field: connection.get(field, "") for field in CONNECTION_FIELDS} | props
        inputs |= {field: pulumi.Output.secret(inputs[field]) for field in secrets}
        super().__init__(provider, name, inputs, pulumi.ResourceOptions.merge(
            pulumi.ResourceOptions(additional_secret_outputs=list(secrets)), opts))
