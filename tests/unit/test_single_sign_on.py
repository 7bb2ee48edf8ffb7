"""Single sign-on users: the sso* keys validated in settings, and what components/single_sign_on.py declares with
pulumi-keycloak (sign-in, minting and docker logins run against the real Keycloak in
tests/integration/test_sso_users.py)."""

import json

import pytest

from settings import SettingsError, parse_settings
from support.mock_program import VALID, is_secret, run_program

TEAMS = json.dumps([{"name": "team-a", "members": []}])
SSO = {**VALID, "teams": TEAMS, "ssoIssuer": "https://login.example.com",
       "ssoAuthorizationUrl": "https://login.example.com/oauth2/v1/authorize",
       "ssoTokenUrl": "https://login.example.com/oauth2/v1/token",
       "ssoJwksUrl": "https://login.example.com/oauth2/v1/keys", "ssoClientId": "keycloak-registry",
       "ssoClientSecret": "client-secret-1",
       "ssoGroupTeams": json.dumps([{"group": "registry-team-a", "team": "team-a"},
                                    {"group": "engineering", "team": "registry-users"}])}
SECRET = {"ssoClientSecret"}
PROVIDER = "keycloak:oidc/identityProvider:IdentityProvider"
MAPPER = "keycloak:index/customIdentityProviderMapping:CustomIdentityProviderMapping"
CLIENT = "keycloak:openid/client:Client"


def test_the_sso_settings():
    sso = parse_settings(SSO, SECRET).realm.sso
    assert sso.group_teams == (("registry-team-a", "team-a"), ("engineering", "registry-users"))
    assert (sso.groups_claim, sso.display_name) == ("groups", "Company SSO")
    assert parse_settings(VALID).realm.sso is None


INVALID = [
    ({"ssoIssuer": ""}, 'ssoTokenUrl = "https://login.example.com/oauth2/v1/token": expected empty unless ssoIssuer'),
    ({"ssoTokenUrl": "login.example.com/token"}, "an http(s) URL without credentials or #fragment"),
    ({"ssoJwksUrl": "https://user:pw@login.example.com/keys"}, "an http(s) URL without credentials"),
    ({"ssoClientSecret": ""}, "the client Keycloak is registered as at the provider, and its secret"),
    ({"ssoGroupsClaim": ""}, "the name of the ID-token claim"),
    ({"ssoGroupTeams": json.dumps([{"group": "ops", "team": "team-z"}])},
     "team: a declared team or the group (registry-users, team-a)"),
    ({"ssoGroupTeams": json.dumps([{"group": "two words", "team": "team-a"}])}, "no spaces or commas"),
    ({"ssoGroupTeams": "[]"}, "at least one {group, team}"),
]


@pytest.mark.parametrize("overrides,message", INVALID, ids=[m[:40] for _, m in INVALID])
def test_bad_sso_settings_are_one_clear_error_before_anything_is_registered(overrides, message):
    with pytest.raises(SettingsError) as error:
        run_program({**SSO, **overrides}, SECRET)
    assert message in str(error.value)


def test_a_client_secret_in_plain_text_is_refused():
    with pytest.raises(SettingsError, match="ssoClientSecret is set in plain text"):
        parse_settings(SSO)


def test_the_provider_checks_signatures_uses_pkce_and_rereads_groups_at_every_sign_in():
    provider = run_program(SSO, SECRET).one(PROVIDER).inputs
    assert (provider["alias"], provider["syncMode"], provider["validateSignature"]) == ("sso", "FORCE", True)
    assert (provider["issuer"], provider["jwksUrl"]) == (SSO["ssoIssuer"], SSO["ssoJwksUrl"])
    assert provider["extraConfig"] == {"pkceEnabled": "true", "pkceMethod": "S256"}
    assert is_secret(provider["clientSecret"]) and not provider["trustEmail"] and not provider["storeToken"]


def test_each_mapped_provider_group_puts_its_members_in_the_teams_keycloak_group():
    run = run_program(SSO, SECRET)
    mappers = {m.inputs["name"]: m.inputs for m in run.of_type(MAPPER)}
    assert set(mappers) == {"group registry-team-a", "group engineering"}
    team_a = mappers["group registry-team-a"]
    assert team_a["identityProviderMapper"] == "oidc-advanced-group-idp-mapper"
    assert json.loads(team_a["extraConfig"]["claims"]) == [{"key": "groups", "value": "registry-team-a"}]
    assert team_a["extraConfig"]["syncMode"] == "FORCE"


def test_the_self_service_client_is_public_with_pkce_and_the_device_flow_and_no_password_grant():
    client = run_program(SSO, SECRET).one(CLIENT, "sso-self-service-client").inputs
    assert (client["clientId"], client["accessType"], client["pkceCodeChallengeMethod"]) == \
        ("registry-app-passwords", "PUBLIC", "S256")
    assert client["oauth2DeviceAuthorizationGrantEnabled"] and client["standardFlowEnabled"]
    assert not client["directAccessGrantsEnabled"] and not client["serviceAccountsEnabled"]
    assert client["validRedirectUris"] == ["http://127.0.0.1/*", "http://localhost/*"]


def test_without_sso_nothing_of_it_is_declared(dev_run):
    assert not dev_run.of_type(PROVIDER) and not dev_run.of_type(MAPPER)
