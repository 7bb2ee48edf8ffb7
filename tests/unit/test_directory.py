"""LDAP/AD federation: the ldap* keys validated in settings, and what components/directory.py declares with
pulumi-keycloak (the logins themselves run against a real OpenLDAP in tests/integration/test_directory_users.py)."""

import json

import pytest

from settings import SettingsError, parse_settings
from support.mock_program import VALID, is_secret, run_program

USERS = json.dumps(["alice", "pat"])
TEAMS = json.dumps([{"name": "team-a", "members": ["alice"]}, {"name": "platform", "members": ["pat"]}])
RULES = json.dumps([{"group": "team-a", "repositories": ["team-a/*"], "actions": ["pull", "push"]},
                    {"group": "platform", "repositories": ["platform/*"], "actions": ["pull", "push"]}])
DIRECTORY = {**VALID, "users": USERS, "teams": TEAMS, "repositoryAccess": RULES, "defaultAccess": "pull",
             "ldapUrl": "ldaps://ldap.example.org", "ldapBindDn": "cn=keycloak,ou=services,dc=example,dc=org",
             "ldapBindCredential": "bind-secret-1", "ldapUsersDn": "ou=people,dc=example,dc=org",
             "ldapGroupsDn": "ou=groups,dc=example,dc=org",
             "ldapGroupTeams": json.dumps([{"group": "registry-team-a", "team": "team-a"},
                                           {"group": "everyone", "team": "registry-users"}])}
SECRET = {"ldapBindCredential"}
FEDERATION, MAPPER = "keycloak:ldap/userFederation:UserFederation", "keycloak:ldap/groupMapper:GroupMapper"


def test_the_directory_settings_and_how_each_vendor_finds_nested_groups():
    directory = parse_settings(DIRECTORY, SECRET).realm.directory
    assert directory.group_teams == (("registry-team-a", "team-a"), ("everyone", "registry-users"))
    assert (directory.username_attribute, directory.membership_strategy) == \
        ("uid", "GET_GROUPS_FROM_USER_MEMBEROF_ATTRIBUTE")
    ad = parse_settings({**DIRECTORY, "ldapVendor": "ad"}, SECRET).realm.directory
    assert (ad.username_attribute, ad.membership_strategy) == \
        ("sAMAccountName", "LOAD_GROUPS_BY_MEMBER_ATTRIBUTE_RECURSIVELY")
    assert parse_settings(VALID).realm.directory is None


INVALID = [
    ({"ldapUrl": ""}, 'ldapUsersDn = "ou=people,dc=example,dc=org": expected empty unless ldapUrl is set'),
    ({"ldapUrl": "https://ldap.example.org"}, "ldap://host[:port] or ldaps://host[:port]"),
    ({"ldapUrl": "ldap://user:pw@ldap.example.org"}, "ldap://host[:port] or ldaps://host[:port]"),
    ({"ldapUsersDn": "people"}, 'ldapUsersDn = "people": expected a DN such as ou=people,dc=example,dc=org'),
    ({"ldapBindCredential": ""}, "ldapBindDn and ldapBindCredential set together"),
    ({"ldapVendor": "novell"}, "ldapVendor"),
    ({"ldapGroupTeams": json.dumps([{"group": "ops", "team": "team-z"}])},
     "team: a declared team or the group (registry-users, team-a, platform)"),
    ({"ldapGroupTeams": json.dumps([{"group": "ops", "team": "team-a"}, {"group": "ops", "team": "platform"}])},
     "group: the cn of a directory group, once"),
    ({"ldapGroupTeams": "[]"}, "at least one {group, team}"),
    ({"ldapGroupTeams": json.dumps([{"group": "ops"}])}, "(missing: team)"),
    ({"ldapCaCertificate": "not a certificate"}, "one or more PEM certificates"),
]


@pytest.mark.parametrize("overrides,message", INVALID, ids=[m[:40] for _, m in INVALID])
def test_bad_directory_settings_are_one_clear_error_before_anything_is_registered(overrides, message):
    with pytest.raises(SettingsError) as error:
        run_program({**DIRECTORY, **overrides}, SECRET)
    assert message in str(error.value)


def test_a_bind_credential_in_plain_text_is_refused():
    with pytest.raises(SettingsError, match="ldapBindCredential is set in plain text"):
        parse_settings(DIRECTORY)


def test_the_federation_is_read_only_uncached_and_fails_fast_with_a_secret_bind_credential():
    federation = run_program(DIRECTORY, SECRET).one(FEDERATION).inputs
    assert (federation["editMode"], federation["cache"]["policy"]) == ("READ_ONLY", "NO_CACHE")
    assert (federation["connectionTimeout"], federation["readTimeout"]) == ("2s", "5s")
    assert federation["connectionUrl"] == "ldaps://ldap.example.org" and federation["usersDn"] == DIRECTORY[
        "ldapUsersDn"]
    assert is_secret(federation["bindCredential"])
    assert federation["userObjectClasses"] == ["inetOrgPerson", "organizationalPerson"]


def test_mapped_directory_groups_hold_their_teams_roles_and_the_mapper_finds_them_under_directory():
    run = run_program(DIRECTORY, SECRET)
    groups = {g.name: g.inputs for g in run.of_type("keycloak:index/group:Group")}
    assert groups["directory-groups"]["name"] == "directory" and "parentId" not in groups["directory-groups"]
    assert {groups[f"directory-group-{cn}"]["name"] for cn in ("registry-team-a", "everyone")} == \
        {"registry-team-a", "everyone"}
    roles = {r.name: r.inputs["roleIds"] for r in run.of_type("keycloak:index/groupRoles:GroupRoles")}
    group_roles, team_roles = roles["realm-group-roles"], roles["realm-team-team-a-roles"]
    # team-a's members inherit the group's roles (the access role among them) through their parent group
    assert roles["directory-group-registry-team-a-roles"] == group_roles + team_roles
    assert roles["directory-group-everyone-roles"] == group_roles
    mapper = run.one(MAPPER).inputs
    assert (mapper["mode"], mapper["groupsPath"], mapper["preserveGroupInheritance"]) == \
        ("READ_ONLY", "/directory", False)
    assert mapper["userRolesRetrieveStrategy"] == "GET_GROUPS_FROM_USER_MEMBEROF_ATTRIBUTE"


def test_without_a_directory_nothing_of_it_is_declared(dev_run):
    assert not dev_run.of_type(FEDERATION) and not dev_run.of_type(MAPPER)


def test_an_ldaps_ca_is_mounted_into_keycloaks_truststore_and_a_new_one_rolls_the_pods(tmp_path):
    from localenv.ldap import ca_certificate  # a real CA, as `scripts/localenv up` makes for the local directory
    ca = ca_certificate(tmp_path)
    run = run_program({**DIRECTORY, "ldapCaCertificate": ca}, SECRET)
    assert run.one(FEDERATION).inputs["useTruststoreSpi"] == "ALWAYS"
    truststore = run.one("kubernetes:core/v1:ConfigMap", "keycloak-truststore").inputs
    assert truststore["data"] == {"directory-ca.pem": ca}
    pod = run.one("kubernetes:apps/v1:Deployment", "keycloak").inputs["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert {"name": "KC_TRUSTSTORE_PATHS", "value": "/opt/keycloak/truststores"} in container["env"]
    assert {"name": "truststore", "mountPath": "/opt/keycloak/truststores", "readOnly": True} in \
        container["volumeMounts"]
    assert {"name": "truststore", "configMap": {"name": "keycloak-truststore"}} in pod["spec"]["volumes"]
    other = run_program({**DIRECTORY, "ldapCaCertificate": ca_certificate(tmp_path / "other")}, SECRET)
    other_pod = other.one("kubernetes:apps/v1:Deployment", "keycloak").inputs["spec"]["template"]
    assert other_pod["metadata"]["annotations"]["checksum/truststore"] != \
        pod["metadata"]["annotations"]["checksum/truststore"]


def test_without_a_ca_keycloak_trusts_the_jdks_cas_only_and_its_pod_is_unchanged():
    run = run_program(DIRECTORY, SECRET)  # ldaps:// to a directory whose certificate a public CA signed
    assert run.one(FEDERATION).inputs["useTruststoreSpi"] == "NEVER"
    assert not [c for c in run.of_type("kubernetes:core/v1:ConfigMap") if c.name == "keycloak-truststore"]
    pod = run.one("kubernetes:apps/v1:Deployment", "keycloak").inputs["spec"]["template"]
    assert "checksum/truststore" not in pod["metadata"]["annotations"]
    assert all(e["name"] != "KC_TRUSTSTORE_PATHS" for e in pod["spec"]["containers"][0]["env"])


REFERRAL = "pulumi-python:dynamic:Resource"


def test_on_openldap_the_federation_follows_referrals_so_dynlists_nested_memberof_reaches_keycloak():
    run = run_program(DIRECTORY, SECRET)
    referral = run.one(REFERRAL, "directory-referral").inputs
    assert referral["referral"] == "follow" and is_secret(referral["revision"])
    changed = run_program({**DIRECTORY, "ldapBindCredential": "bind-secret-2"}, SECRET)
    assert changed.one(REFERRAL, "directory-referral").inputs["revision"] != referral["revision"]
    ad = run_program({**DIRECTORY, "ldapVendor": "ad"}, SECRET)
    assert not [r for r in ad.of_type(REFERRAL) if r.name == "directory-referral"]


def test_setting_the_referral_keeps_every_other_setting_of_the_federation():
    from providers.directory_referral import with_referral
    component = {"id": "f1", "providerId": "ldap", "config": {"connectionUrl": ["ldaps://ldap"], "referral": ["x"]}}
    assert with_referral(component, "follow") == {
        "id": "f1", "providerId": "ldap", "config": {"connectionUrl": ["ldaps://ldap"], "referral": ["follow"]}}
