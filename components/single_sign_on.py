"""The company's OpenID Connect provider as an identity provider of the realm, and the client its users mint app
passwords with.

Users who sign in through it have no Keycloak password to give `docker login`. They sign in to Keycloak (browser or
device flow) with the public client ``registry-app-passwords`` and, with that token, mint app passwords at the
extension's ``/realms/{realm}/registry-app-passwords`` endpoint: named, expiring, revocable, stored hashed, shown once.
`docker login` takes one through the same docker-v2 endpoint as any password (scripts/app-password does it all).

What they may do comes from the provider's groups claim: each mapped value puts the user in that team's Keycloak group,
re-read at every sign-in (sync mode FORCE), so a user the provider drops from a group loses the team at their next
sign-in. An app password does not outlive its user: disabled or deleted in Keycloak, the docker flow refuses it.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_keycloak as keycloak

from lib import kube
from settings import SingleSignOnSettings

from .directory import after_realm_contents

ALIAS = "sso"
# The extension's AppPasswordsResource.SELF_SERVICE_CLIENT_ID and AppPasswordsProviderFactory.ID (a unit test keeps
# them equal): only tokens issued to this client may mint, at this path of the realm.
SELF_SERVICE_CLIENT_ID = "registry-app-passwords"
APP_PASSWORDS_PATH = "registry-app-passwords"
# Where a command-line client on the user's machine receives the authorization code (RFC 8252 loopback redirect).
LOOPBACK_REDIRECTS = ["http://127.0.0.1/*", "http://localhost/*"]


class SingleSignOn(pulumi.ComponentResource):
    """The identity provider, one claim-to-group mapper per mapped provider group, and the self-service client."""

    identity_provider: keycloak.oidc.IdentityProvider
    group_mappers: dict[str, keycloak.CustomIdentityProviderMapping]  # provider group -> its mapper
    self_service_client: keycloak.openid.Client

    def __init__(self, name: str, sso: SingleSignOnSettings, realm_id: pulumi.Input[str],
                 member_groups: dict[str, keycloak.Group], provider: keycloak.Provider, realm_contents: pulumi.Resource,
                 opts: pulumi.ResourceOptions | None = None):
        """``member_groups``: the Keycloak group of each team and of the group, which mapped users join.
        ``realm_contents``: the realm's users, deleted only after the provider (directory.after_realm_contents)."""
        super().__init__(kube.component_type("SingleSignOn"), name, None, opts)
        kc = pulumi.ResourceOptions(parent=self, provider=provider)
        self.identity_provider = keycloak.oidc.IdentityProvider(
            f"{name}-provider", realm=realm_id, alias=ALIAS, display_name=sso.display_name, issuer=sso.issuer,
            authorization_url=sso.authorization_url, token_url=sso.token_url, jwks_url=sso.jwks_url,
            validate_signature=True, client_id=sso.client_id, client_secret=pulumi.Output.secret(sso.client_secret),
            default_scopes="openid profile email", sync_mode="FORCE", trust_email=False, store_token=False,
            extra_config={"pkceEnabled": "true", "pkceMethod": "S256"}, opts=after_realm_contents(kc, realm_contents))
        self.group_mappers = {}
        for group, team in sso.group_teams:
            self.group_mappers[group] = keycloak.CustomIdentityProviderMapping(
                f"{name}-group-{group}", realm=realm_id, identity_provider_alias=self.identity_provider.alias,
                name=f"group {group}", identity_provider_mapper="oidc-advanced-group-idp-mapper",
                extra_config={"syncMode": "FORCE", "are.claim.values.regex": "false",
                              "claims": json.dumps([{"key": sso.groups_claim, "value": group}]),
                              "group": member_groups[team].path}, opts=kc)
        self.self_service_client = keycloak.openid.Client(
            f"{name}-self-service-client", realm_id=realm_id, client_id=SELF_SERVICE_CLIENT_ID,
            name="Registry app passwords", access_type="PUBLIC", standard_flow_enabled=True,
            direct_access_grants_enabled=False, implicit_flow_enabled=False, service_accounts_enabled=False,
            oauth2_device_authorization_grant_enabled=True, pkce_code_challenge_method="S256",
            valid_redirect_uris=LOOPBACK_REDIRECTS, full_scope_allowed=False, opts=kc)
        self.register_outputs({"identityProviderAlias": self.identity_provider.alias,
                               "selfServiceClientId": self.self_service_client.client_id})
