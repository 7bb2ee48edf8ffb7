"""The company's OpenID Connect provider the local stack signs users in through: a second realm, ``corp``, of the
local Keycloak, standing in for Google or Entra ID as the directory's OpenLDAP stands in for the company directory.

It has the client the stack's ``sso*`` settings name (its secret generated once per environment, set as the Pulumi
secret ssoClientSecret before `pulumi up`), a groups claim, and two people with generated passwords: sam, in the
provider group the stack maps to team-a, and tess, in a group it maps to nothing. `up` creates it once the stack's
Keycloak runs, and the tests again if one of them redeployed Keycloak's database; they read the people's passwords
from env.json (``sso``).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from lib.keycloak_admin import KeycloakAdmin
from settings import Settings

REALM = "corp"
CLIENT_ID = "keycloak-registry"
SECRETS_FILE = "sso-secrets.json"
PEOPLE = {"sam": ("Sam", "Signon", "registry-team-a"), "tess": ("Tess", "Elsewhere", "finance")}


def generated(state_dir: Path) -> dict[str, str]:
    """The client's secret and each person's password, made once (0600)."""
    path = state_dir / SECRETS_FILE
    if not path.exists():
        path.write_text(json.dumps({name: secrets.token_urlsafe(24) for name in ("client", *PEOPLE)}, indent=2))
        path.chmod(0o600)
    return json.loads(path.read_text())


def realm_representation(broker_redirect: str, groups_claim: str, generated_secrets: dict[str, str]) -> dict[str, Any]:
    """The provider realm: its groups, its people in them, and the client the registry's realm brokers through."""
    return {
        "realm": REALM, "enabled": True, "displayName": "Corp SSO (local stand-in)",
        "groups": [{"name": group} for group in sorted({group for _, _, group in PEOPLE.values()})],
        "users": [{"username": name, "enabled": True, "email": f"{name}@corp.example", "emailVerified": True,
                   "firstName": first, "lastName": last, "groups": [f"/{group}"],
                   "credentials": [{"type": "password", "value": generated_secrets[name], "temporary": False}]}
                  for name, (first, last, group) in PEOPLE.items()],
        "clients": [{
            "clientId": CLIENT_ID, "enabled": True, "publicClient": False, "secret": generated_secrets["client"],
            "standardFlowEnabled": True, "directAccessGrantsEnabled": False, "redirectUris": [broker_redirect],
            "attributes": {"pkce.code.challenge.method": "S256"},
            "protocolMappers": [{"name": "groups", "protocol": "openid-connect",
                                 "protocolMapper": "oidc-group-membership-mapper",
                                 "config": {"claim.name": groups_claim, "full.path": "false", "id.token.claim": "true",
                                            "access.token.claim": "true", "userinfo.token.claim": "true"}}],
        }],
    }


def ensure(admin: KeycloakAdmin, settings: Settings, state_dir: Path) -> None:
    """The provider realm in the running Keycloak, as the stack's sso* settings expect it; created if missing (after
    `up`, and after a test that destroyed and redeployed the stack)."""
    sso = settings.realm.sso
    if sso.client_id != CLIENT_ID or f"/realms/{REALM}" not in sso.issuer:
        raise ValueError(f"the local stack's ssoClientId/ssoIssuer ({sso.client_id}, {sso.issuer}) are not the local "
                         f"provider's ({CLIENT_ID}, .../realms/{REALM})")
    if admin.call("GET", f"/{REALM}", expect=(200, 404)).status_code == 200:
        return
    public_url = settings.keycloak.public_url.rstrip("/")
    broker_redirect = f"{public_url}/realms/{settings.realm.name}/broker/sso/endpoint"
    admin.call("POST", "", json=realm_representation(broker_redirect, sso.groups_claim, generated(state_dir)),
               expect=(201,))
