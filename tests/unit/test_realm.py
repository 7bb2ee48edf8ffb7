import json

import pytest

from components.realm import flow_aliases, go_duration
from components.settings import parse_settings
from tests.unit.harness import VALID, is_secret, run_program, stack_file_config


@pytest.mark.parametrize("seconds,expected", [(300, "5m0s"), (45, "45s"), (3600, "1h0m0s"), (5430, "1h30m30s"), (600, "10m0s")])
def test_go_duration(seconds, expected):
    assert go_duration(seconds) == expected


def test_realm_group_role_and_users(dev_run):
    realm = dev_run.one("keycloak:index/realm:Realm").inputs
    assert realm["realm"] == "registry" and realm["enabled"] is True
    assert realm["accessTokenLifespan"] == "5m0s"
    assert dev_run.one("keycloak:index/group:Group").inputs["name"] == "registry-users"
    assert dev_run.one("keycloak:index/role:Role").inputs["name"] == "registry-users-access"
    users = {u.inputs["username"]: u.inputs for u in dev_run.of_type("keycloak:index/user:User")}
    assert set(users) == {"developer", "ci-bot"}
    for name, user in users.items():
        assert is_secret(user["initialPassword"])
        assert user["initialPassword"]["value"] == {"temporary": False, "value": f"generated-realm-user-{name}-password"}
    memberships = dev_run.of_type("keycloak:index/userGroups:UserGroups")
    assert len(memberships) == 2 and all(m.inputs["groupIds"] == ["realm-group-id"] for m in memberships)


def test_given_passwords_are_used_instead_of_generated_ones():
    config, secrets = stack_file_config("dev")
    config = {**config, "userPasswords": json.dumps({"developer": "given-password-123"})}
    run = run_program(config, secrets | {"userPasswords"})
    assert run.outputs["userPasswords"]["developer"] == "given-password-123"
    assert run.outputs["userPasswords"]["ci-bot"].startswith("generated-")
    assert [r.name for r in run.of_type("random:index/randomPassword:RandomPassword") if "user" in r.name] == \
        ["realm-user-ci-bot-password"]


def test_docker_flow_denies_users_without_the_group_role(dev_run):
    flow_alias, subflow_alias = flow_aliases(parse_settings(VALID).realm)
    flow = dev_run.one("keycloak:authentication/flow:Flow").inputs
    assert flow["alias"] == flow_alias
    executions = {e.inputs["authenticator"]: e.inputs for e in dev_run.of_type("keycloak:authentication/execution:Execution")}
    assert executions["docker-http-basic-authenticator"]["parentFlowAlias"] == flow_alias
    assert executions["docker-http-basic-authenticator"]["requirement"] == "REQUIRED"
    subflow = dev_run.one("keycloak:authentication/subflow:Subflow").inputs
    assert (subflow["alias"], subflow["requirement"]) == (subflow_alias, "CONDITIONAL")
    assert executions["conditional-user-role"]["parentFlowAlias"] == subflow_alias
    assert executions["deny-access-authenticator"]["parentFlowAlias"] == subflow_alias
    config = dev_run.one("keycloak:authentication/executionConfig:ExecutionConfig").inputs["config"]
    assert config == {"condUserRole": "registry-users-access", "negate": "true"}
    assert dev_run.one("keycloak:authentication/bindings:Bindings").inputs["dockerAuthenticationFlow"] == flow_alias


def test_restriction_can_be_turned_off():
    config, secrets = stack_file_config("dev")
    run = run_program({**config, "restrictToGroup": "false"}, secrets)
    assert run.of_type("keycloak:authentication/flow:Flow") == []
    assert run.of_type("keycloak:authentication/bindings:Bindings") == []


def test_docker_client_inputs(dev_run):
    client = dev_run.one("pulumi-python:dynamic:Resource", "realm-docker-client").inputs
    assert client["client_id"] == "registry" and client["realm"] == "registry"
    assert client["server_url"] == "http://localhost:30080"
    assert is_secret(client["admin_password"])


def test_profile_prompt_that_basic_auth_cannot_answer_is_off(dev_run):
    action = dev_run.one("keycloak:index/requiredAction:RequiredAction").inputs
    assert (action["alias"], action["enabled"]) == ("VERIFY_PROFILE", False)
