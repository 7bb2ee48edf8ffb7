"""Repository-access rules, teams and robots: validated in settings, declared as Keycloak data by the realm."""

import json
import re

import pytest

from localenv.environment import local_settings
from settings import ACCESS_ALLOW_ALL, ACCESS_CLIENT_ROLES, RepositoryGrant, SettingsError, parse_settings
from support.mock_program import VALID, is_secret, run_program

DYNAMIC = "pulumi-python:dynamic:Resource"
ROLE = "keycloak:index/role:Role"
USERS = json.dumps(["alice", "pat", "developer"])
TEAMS = json.dumps([{"name": "team-a", "members": ["alice"]}, {"name": "platform", "members": ["pat"]}])
RULES = json.dumps([
    {"group": "platform", "repositories": ["platform/*"], "actions": ["pull", "push"]},
    {"group": "platform", "repositories": ["*"], "actions": ["pull"]},
    {"group": "team-a", "repositories": ["team-a/*"], "actions": ["pull", "push"]},
    {"group": "registry-users", "catalog": True},
])
ROBOTS = json.dumps([{"name": "ci-pull", "repositories": ["team-a/*"], "actions": ["pull"]}])
WITH_RULES = {**VALID, "users": USERS, "teams": TEAMS, "repositoryAccess": RULES, "robots": ROBOTS,
              "defaultAccess": "none"}


def rules_run():
    return run_program(WITH_RULES)


def test_without_rules_or_robots_members_keep_everything():
    realm = parse_settings(VALID).realm
    assert realm.access_mode == ACCESS_ALLOW_ALL and realm.group_rules == ()


def test_robots_alone_keep_the_group_at_everything():
    realm = parse_settings({**VALID, "robots": ROBOTS}).realm
    assert realm.access_mode == ACCESS_CLIENT_ROLES
    assert [(r.group, r.grant) for r in realm.group_rules] == \
        [("registry-users", RepositoryGrant(("*",), ("*",), True))]


def test_rules_parse_into_grants():
    realm = parse_settings(WITH_RULES).realm
    assert realm.access_mode == ACCESS_CLIENT_ROLES
    assert [t.name for t in realm.teams] == ["team-a", "platform"]
    assert realm.repository_access[0].grant == RepositoryGrant(("platform/*",), ("pull", "push"))
    assert realm.repository_access[3].grant == RepositoryGrant((), (), catalog=True)
    assert realm.robots[0].grant.actions == ("pull",)


def test_role_attributes_are_single_values_keycloak_cannot_reorder():
    """Keycloak returns a multi-valued attribute's values in no fixed order, so a ``##`` list made every refresh
    propose an update (found by the engine test's clean preview after `pulumi refresh`)."""
    grant = RepositoryGrant(("test/*", "bench/*"), ("push", "pull"), catalog=True)
    assert grant.role_attributes() == {"repositories": "test/*,bench/*", "actions": "push,pull", "catalog": "true"}
    assert all("##" not in value for value in grant.role_attributes().values())
    assert RepositoryGrant(("a",), ("pull",)).role_attributes() == {"repositories": "a", "actions": "pull"}


INVALID = [
    ({"repositoryAccess": json.dumps([{"group": "team-a", "repositories": ["a/*"], "actions": ["fly"]}])},
     'actions: a non-empty list of pull, push, delete, *; "fly" is not one'),
    ({"repositoryAccess": json.dumps([{"group": "team-a", "repositories": [""], "actions": ["pull"]}])},
     "empty patterns are not allowed"),
    ({"repositoryAccess": json.dumps([{"group": "team-a", "repositories": [], "actions": ["pull"]}])},
     "at least one repository glob in repositories (or catalog: true)"),
    ({"repositoryAccess": json.dumps([{"group": "team-z", "repositories": ["a"], "actions": ["pull"]}])},
     'group: a declared group (registry-users, team-a, platform); "team-z" is not one'),
    ({"repositoryAccess": json.dumps([{"group": "team-a", "repositories": ["Team-A/*"], "actions": ["pull"]}])},
     "repositories: a list of repository globs"),
    ({"repositoryAccess": json.dumps([{"group": "team-a", "repository": ["a"], "actions": ["pull"]}])},
     "expected fields group, repositories, actions, catalog (unknown: repository)"),
    ({"repositoryAccess": json.dumps(["team-a: push"])}, 'expected a list of objects with fields group, repositories'),
    ({"robots": json.dumps([{"name": "alice", "repositories": ["a"], "actions": ["pull"]}])},
     "a robot name used by no user, admin or other robot; alice is taken"),
    ({"robots": json.dumps([{"name": "registry-admin", "repositories": ["a"], "actions": ["pull"]}])},
     "registry-admin is taken"),
    ({"robots": json.dumps([{"repositories": ["a"], "actions": ["pull"]}])}, "(missing: name)"),
    ({"teams": json.dumps([{"name": "team-a", "members": ["zed"]}])}, "members: usernames listed in users"),
    ({"teams": json.dumps([{"name": "registry-users", "members": []}])}, "a unique team name"),
    ({"robots": json.dumps([{"name": "r", "repositories": [f"team-{i:03}/*" for i in range(40)],
                             "actions": ["pull"]}])},
     "repositories of at most 255 characters in all (one Keycloak role attribute); split them into several rules"),
]


@pytest.mark.parametrize("overrides,message", INVALID, ids=[m[:40] for _, m in INVALID])
def test_invalid_rules_are_one_clear_error(overrides, message):
    with pytest.raises(SettingsError) as error:
        parse_settings({**WITH_RULES, **overrides})
    assert message in str(error.value)


def test_invalid_rules_stop_the_program_before_anything_is_registered():
    with pytest.raises(SettingsError):
        run_program({**WITH_RULES, "repositoryAccess": json.dumps([{"group": "nobody", "actions": ["pull"]}])})


def test_each_rule_and_robot_is_a_client_role_of_the_docker_client_one_at_a_time():
    run = rules_run()
    client = run.one(DYNAMIC, "realm-docker-client")
    assert client.inputs["access_mode"] == ACCESS_CLIENT_ROLES
    roles = [r for r in run.of_type(ROLE) if r.inputs.get("clientId")]
    assert [r.inputs["name"] for r in roles] == [
        "rule:platform:1", "rule:platform:2", "rule:team-a:1", "rule:registry-users:1", "robot:ci-pull"]
    assert all(client.urn in r.property_dependencies["clientId"] for r in roles)
    assert roles[0].inputs["attributes"] == {"repositories": "platform/*", "actions": "pull,push"}
    assert roles[3].inputs["attributes"] == {"catalog": "true"}
    # Serialized: concurrent role-attribute writes deadlock in MariaDB (measured: Keycloak answers 500).
    for previous, role in zip(roles, roles[1:]):
        assert previous.urn in role.dependencies


def test_teams_are_subgroups_holding_their_rules_and_members_join_them():
    run = rules_run()
    groups = {g.inputs["name"]: g for g in run.of_type("keycloak:index/group:Group")}
    assert set(groups) == {"registry-users", "team-a", "platform"}
    assert groups["team-a"].inputs["parentId"] and "parentId" not in groups["registry-users"].inputs
    group_roles = {g.name: g.inputs["roleIds"] for g in run.of_type("keycloak:index/groupRoles:GroupRoles")}
    assert set(group_roles) == {"realm-group-roles", "realm-team-platform-roles", "realm-team-team-a-roles"}
    assert len(group_roles["realm-team-platform-roles"]) == 2 and len(group_roles["realm-group-roles"]) == 2
    memberships = {m.name: m.inputs["groupIds"] for m in run.of_type("keycloak:index/userGroups:UserGroups")}
    assert len(memberships["realm-user-alice-groups"]) == 2 and len(memberships["realm-user-developer-groups"]) == 1


def test_a_robot_is_a_user_in_no_group_with_exactly_its_roles_and_a_generated_secret_password():
    run = rules_run()
    robot = run.one("keycloak:index/user:User", "realm-robot-ci-pull")
    assert robot.inputs["username"] == "ci-pull"
    assert "realm-robot-ci-pull-groups" not in {m.name for m in run.of_type("keycloak:index/userGroups:UserGroups")}
    roles = run.one("keycloak:index/userRoles:UserRoles", "realm-robot-ci-pull-roles").inputs
    assert len(roles["roleIds"]) == 2 and roles.get("exhaustive", True) is True
    assert "random:index/randomPassword:RandomPassword" == run.one(
        "random:index/randomPassword:RandomPassword", "realm-robot-ci-pull-password").type
    assert is_secret(run.one(DYNAMIC, "realm-robot-ci-pull-credential").inputs["password"])
    assert set(run.outputs["robotPasswords"]) == {"ci-pull"} and "robotPasswords" in run.secret_outputs


def test_the_access_summary_output_lets_other_stacks_audit_the_rules():
    summary = rules_run().outputs["repositoryAccess"]
    assert summary["mode"] == ACCESS_CLIENT_ROLES
    assert summary["teams"] == {"team-a": ["alice"], "platform": ["pat"]}
    assert summary["robots"] == [{"robot": "ci-pull", "repositories": ["team-a/*"], "actions": ["pull"],
                                  "catalog": False}]
    assert summary["groups"][0] == {"group": "platform", "repositories": ["platform/*"], "actions": ["pull", "push"],
                                    "catalog": False}


def test_without_robots_robot_passwords_is_an_empty_map_not_a_list(dev_run):
    assert dev_run.outputs["robotPasswords"] == {} and dev_run.outputs["robots"] == []
    assert dev_run.one(DYNAMIC, "realm-docker-client").inputs["access_mode"] == ACCESS_ALLOW_ALL
    assert [r for r in dev_run.of_type(ROLE) if r.inputs.get("clientId")] == []


def test_the_local_stack_declares_the_readme_example():
    realm = local_settings().realm
    teams = {t.name: t.members for t in realm.teams}
    assert teams["team-a"] and teams["platform"] and realm.robots
    assert set(realm.robots[0].grant.actions) == {"pull"}
    assert {(r.group, r.grant.repositories, r.grant.actions) for r in realm.repository_access} >= {
        ("platform", ("platform/*",), ("pull", "push")), ("platform", ("*",), ("pull",)),
        ("team-a", ("team-a/*",), ("pull", "push"))}


def test_docs_show_the_rules_syntax_that_parses():
    """The example in docs/configuration.md is valid configuration, so people copy something that works."""
    from pathlib import Path

    import yaml
    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    example = re.search(r"<!-- repository-access-example -->\s*```yaml\n(.*?)```", doc, re.S).group(1)
    config = yaml.safe_load(example)["config"]
    raw = {k.split(":", 1)[1]: json.dumps(v) for k, v in config.items()}
    realm = parse_settings({**VALID, **raw}).realm
    assert realm.access_mode == ACCESS_CLIENT_ROLES and realm.robots


def test_rule_and_robot_role_names_cannot_collide_by_construction():
    """A team "robot" and a robot "rule-1" both made "robot-rule-1" (Keycloak answered 409 halfway through `up`);
    ":" occurs in no group, team or robot name (issue 14, item 10)."""
    run = run_program({**VALID, "users": USERS, "teams": json.dumps([{"name": "robot", "members": ["alice"]}]),
                       "repositoryAccess": json.dumps([{"group": "robot", "repositories": ["a/*"],
                                                        "actions": ["pull"]}]),
                       "robots": json.dumps([{"name": "rule-1", "repositories": ["a/*"], "actions": ["pull"]}])})
    names = [r.inputs["name"] for r in run.of_type(ROLE) if r.inputs.get("clientId")]
    assert names == ["default:registry-users", "rule:robot:1", "robot:rule-1"] and len(set(names)) == len(names)


@pytest.mark.parametrize("default_access, grant", [
    ("all", {"repositories": "*", "actions": "*", "catalog": "true"}),
    ("pull", {"repositories": "*", "actions": "pull", "catalog": "true"}),
    ("none", None)])
def test_what_every_member_may_do_is_a_stated_role_and_a_named_input_of_the_client(default_access, grant):
    """Removing the last rule never widens access: the members keep exactly defaultAccess, which the client carries
    as an input, so a pull request that changes it shows as such in the preview (issue 14, item 5)."""
    run = run_program({**WITH_RULES, "defaultAccess": default_access})
    client = run.one(DYNAMIC, "realm-docker-client").inputs
    assert (client["access_mode"], client["default_access"]) == (ACCESS_CLIENT_ROLES, default_access)
    defaults = [r for r in run.of_type(ROLE) if r.inputs.get("name") == "default:registry-users"]
    assert [r.inputs["attributes"] for r in defaults] == ([grant] if grant else [])
    held = run.one("keycloak:index/groupRoles:GroupRoles", "realm-group-roles").inputs["roleIds"]
    assert len(held) == (3 if grant else 2)  # the access role, the catalog rule and the default grant


def test_removing_the_last_rule_leaves_members_with_the_stated_default_only():
    run = run_program({**WITH_RULES, "repositoryAccess": "[]", "defaultAccess": "none"})
    client = run.one(DYNAMIC, "realm-docker-client").inputs
    assert client["access_mode"] == ACCESS_CLIENT_ROLES  # not allow-all: the robot's rule stays the only grant
    assert [r.inputs["name"] for r in run.of_type(ROLE) if r.inputs.get("clientId")] == ["robot:ci-pull"]
    assert run.outputs["repositoryAccess"]["groups"] == []


# ------------------------------------------------------------------ robots with a lifecycle (issue 17)
LIFECYCLE = json.dumps([
    {"name": "ci-pull", "repositories": ["team-a/*"], "actions": ["pull"], "expiresAt": "2027-03-31T20:00:00+02:00",
     "rotation": "2026-11", "rotationOverlapSeconds": 600},
    {"name": "ci-push", "repositories": ["team-a/*"], "actions": ["push"], "expiresAt": "2027-04-01"},
    {"name": "ci-forever", "repositories": ["team-a/*"], "actions": ["pull"]},
])


def lifecycle_run():
    return run_program({**WITH_RULES, "robots": LIFECYCLE})


def test_a_robot_expiry_is_one_utc_instant_and_a_date_means_its_midnight():
    robots = {r.name: r for r in parse_settings({**WITH_RULES, "robots": LIFECYCLE}).realm.robots}
    assert robots["ci-pull"].expires_at.isoformat() == "2027-03-31T18:00:00+00:00"
    assert robots["ci-push"].expires_at.isoformat() == "2027-04-01T00:00:00+00:00"
    assert robots["ci-forever"].expires_at is None
    assert (robots["ci-pull"].rotation, robots["ci-pull"].rotation_overlap_seconds) == ("2026-11", 600)
    assert (robots["ci-forever"].rotation, robots["ci-forever"].rotation_overlap_seconds) == ("", 86400)


LIFECYCLE_INVALID = [
    ({"expiresAt": "2027-03-31T18:00:00"}, "expiresAt: an RFC 3339 time with its offset"),
    ({"expiresAt": "next year"}, "expiresAt: an RFC 3339 time with its offset"),
    ({"expiresAt": 1800000000}, "expiresAt: an RFC 3339 time with its offset"),
    ({"rotation": ["a"]}, "rotation: a string of at most 100 characters"),
    ({"rotation": True}, "rotation: a string of at most 100 characters"),
    ({"rotationOverlapSeconds": -1}, "rotationOverlapSeconds: whole seconds from 0 to 2592000 (30 days)"),
    ({"rotationOverlapSeconds": 2592001}, "rotationOverlapSeconds: whole seconds from 0 to 2592000"),
    ({"rotationOverlapSeconds": "1h"}, "rotationOverlapSeconds: whole seconds from 0 to 2592000"),
    ({"expires": "2027-01-01"}, "(unknown: expires)"),
]


@pytest.mark.parametrize("field,message", LIFECYCLE_INVALID, ids=[m[:40] for _, m in LIFECYCLE_INVALID])
def test_a_bad_robot_lifecycle_field_is_one_clear_error_before_anything_is_registered(field, message):
    robots = json.dumps([{"name": "ci-pull", "repositories": ["a"], "actions": ["pull"], **field}])
    with pytest.raises(SettingsError) as error:
        run_program({**WITH_RULES, "robots": robots})
    assert message in str(error.value)


def test_the_robot_role_carries_its_expiry_for_the_docker_login_to_enforce():
    roles = {r.inputs["name"]: r.inputs.get("attributes", {}) for r in lifecycle_run().of_type(ROLE)}
    assert roles["robot:ci-pull"] == {"repositories": "team-a/*", "actions": "pull", "expires-at": "1806516000"}
    assert roles["robot:ci-push"]["expires-at"] == "1806537600"
    assert "expires-at" not in roles["robot:ci-forever"]


def test_a_rotation_value_keys_the_generated_password_and_the_credential_gets_the_overlap():
    run = lifecycle_run()
    passwords = {p.name: p.inputs for p in run.of_type("random:index/randomPassword:RandomPassword")}
    assert passwords["realm-robot-ci-pull-password"]["keepers"] == {"rotation": "2026-11"}
    assert "keepers" not in passwords["realm-robot-ci-forever-password"]  # as before rotations existed: no new one
    credentials = {c.name: c.inputs for c in run.of_type(DYNAMIC)}
    assert credentials["realm-robot-ci-pull-credential"]["overlap_seconds"] == 600
    assert credentials["realm-robot-ci-forever-credential"]["overlap_seconds"] == 86400
    assert "overlap_seconds" not in credentials["realm-user-alice-credential"]  # people: reset, no overlap


def test_the_access_summary_states_each_robot_expiry():
    robots = {r["robot"]: r for r in lifecycle_run().outputs["repositoryAccess"]["robots"]}
    assert robots["ci-pull"]["expiresAt"] == "2027-03-31T18:00:00Z" and "expiresAt" not in robots["ci-forever"]
