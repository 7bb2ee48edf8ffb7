import json

import support.mock_program as harness
from components.realm import flow_alias
from lib.keycloak_extension import DOCKER_PASSWORD_ID, MEMBER_GATE_ID
from providers.keycloak_resources import realm_update
from settings import parse_settings
from support.mock_program import VALID, is_secret, run_program, stack_file_config

DYNAMIC = "pulumi-python:dynamic:Resource"
USER = "keycloak:index/user:User"


def deps(resource) -> set[str]:
    return set(resource.dependencies) | {urn for urns in resource.property_dependencies.values() for urn in urns}


def waits_for(run, resource) -> set[str]:
    """Every resource the engine finishes before this one (dependencies, transitively)."""
    seen: set[str] = set()
    todo = deps(resource)
    while todo:
        urn = todo.pop()
        if urn not in seen:
            seen.add(urn)
            todo |= deps(run.by_urn(urn))
    return seen


def test_realm_group_role_and_users(dev_run):
    realm = dev_run.one(DYNAMIC, "realm-realm").inputs
    assert realm["realm"] == "registry" and realm["enabled"] is True
    assert realm["access_token_lifespan"] == 300
    # Pulumi.yaml's defaults: on, 30 wrong passwords lock for 60 s, at most 15 min; never a permanent lock
    assert {key: realm["brute_force"][key] for key in ("bruteForceProtected", "permanentLockout", "failureFactor",
                                                        "waitIncrementSeconds", "maxFailureWaitSeconds")} == {
        "bruteForceProtected": True, "permanentLockout": False, "failureFactor": 30, "waitIncrementSeconds": 60,
        "maxFailureWaitSeconds": 900}
    assert dev_run.one("keycloak:index/group:Group").inputs["name"] == "registry-users"
    assert dev_run.one("keycloak:index/role:Role").inputs["name"] == "registry-users-access"
    users = {u.inputs["username"]: u.inputs for u in dev_run.of_type(USER)}
    assert set(users) == {"developer", "ci-bot"}
    memberships = dev_run.of_type("keycloak:index/userGroups:UserGroups")
    assert len(memberships) == 2 and all(m.inputs["groupIds"] == ["realm-group-id"] for m in memberships)


def test_the_realm_is_not_the_bridged_resource_whose_updates_unbind_the_docker_flow(dev_run):
    """pulumi-keycloak's Realm update sends back the docker flow it read at create time (issue 8, item 1)."""
    assert dev_run.of_type("keycloak:index/realm:Realm") == []
    realm = dev_run.one(DYNAMIC, "realm-realm")
    in_realm = [r for r in dev_run.resources if r.type.startswith("keycloak:") and "realmId" in r.inputs]
    assert in_realm and all(r.inputs["realmId"] == "registry" and realm.urn in deps(r) for r in in_realm)


def test_a_realm_update_changes_only_the_attributes_the_program_owns():
    live = {"realm": "registry", "enabled": False, "displayName": "old", "accessTokenLifespan": 60,
            "dockerAuthenticationFlow": "docker auth registry-users", "browserFlow": "browser", "sslRequired": "all"}
    props = {"realm": "registry", "enabled": True, "display_name": "Container registry", "access_token_lifespan": 300.0,
             "brute_force": {"bruteForceProtected": True}}
    assert realm_update(live, props) == {**live, "enabled": True, "displayName": "Container registry",
                                         "accessTokenLifespan": 300, "bruteForceProtected": True}


def test_given_passwords_are_used_instead_of_generated_ones():
    config, secrets = stack_file_config("dev")
    config = {**config, "userPasswords": json.dumps({"developer": "given-password-123"})}
    run = run_program(config, secrets | {"userPasswords"})
    assert run.outputs["userPasswords"]["developer"] == "given-password-123"
    assert run.outputs["userPasswords"]["ci-bot"].startswith("generated-")
    assert [r.name for r in run.of_type("random:index/randomPassword:RandomPassword") if "user" in r.name] == \
        ["realm-user-ci-bot-password"]


def test_user_passwords_are_set_by_a_resource_that_applies_every_change(dev_run):
    """keycloak.User's initial_password is applied on create only (issue 8, item 7)."""
    users = {u.name: u for u in dev_run.of_type(USER)}
    assert all("initialPassword" not in u.inputs for u in users.values())
    for username in ("developer", "ci-bot"):
        applied = dev_run.one(DYNAMIC, f"realm-user-{username}-credential")
        user = users[f"realm-user-{username}"]
        assert (applied.inputs["realm"], applied.inputs["user_id"]) == ("registry", f"realm-user-{username}-id")
        assert user.urn in applied.property_dependencies["user_id"]
        assert is_secret(applied.inputs["password"]) and is_secret(applied.inputs["admin_password"])
        assert applied.inputs["password"]["value"] == f"generated-realm-user-{username}-password"


def _mocks_answering(monkeypatch, outputs: dict[str, dict]):
    """Make the mocked engine answer the named resources with these outputs instead of their inputs."""
    original = harness.PlatformMocks.new_resource

    def new_resource(self, args):
        id_, state = original(self, args)
        return id_, {**state, **outputs.get(args.name, {})}
    monkeypatch.setattr(harness.PlatformMocks, "new_resource", new_resource)


def test_password_outputs_show_only_what_keycloak_accepted(monkeypatch):
    """userPasswords and keycloakAdminPassword come from the resources that applied them, not from config."""
    _mocks_answering(monkeypatch, {"realm-user-developer-credential": {"password": "applied-developer"},
                                   "realm-user-ci-bot-credential": {"password": "applied-ci-bot"},
                                   "keycloak-admin-credentials": {"accepted_username": "applied-admin",
                                                                  "accepted_password": "applied-pw"}})
    run = run_program(*stack_file_config("dev"))
    assert run.outputs["userPasswords"] == {"developer": "applied-developer", "ci-bot": "applied-ci-bot"}
    assert (run.outputs["keycloakAdminUsername"], run.outputs["keycloakAdminPassword"]) == \
        ("applied-admin", "applied-pw")
    assert {"userPasswords", "keycloakAdminPassword"} <= run.secret_outputs


def test_everything_logs_in_with_the_credentials_keycloak_accepted(dev_run):
    """A changed admin login reaches Keycloak first (KC_BOOTSTRAP_ADMIN_* applies only once; issue 8, item 6)."""
    credentials = dev_run.one(DYNAMIC, "keycloak-admin-credentials")
    assert (credentials.inputs["server_url"], credentials.inputs["username"]) == \
        ("http://localhost:30080", "registry-admin")
    assert is_secret(credentials.inputs["password"])
    # not inputs: only the provider's create/update sets them, so a preview of a change sees them unknown
    assert not {"accepted_url", "accepted_username", "accepted_password"} & set(credentials.inputs)
    provider = dev_run.one("pulumi:providers:keycloak")
    assert all(credentials.urn in provider.property_dependencies[key] for key in ("username", "password"))
    assert provider.inputs["username"] == "registry-admin"
    dynamic = [r for r in dev_run.of_type(DYNAMIC) if "admin_password" in r.inputs]
    assert {r.name for r in dynamic} == {"realm-realm", "realm-docker-client", "realm-user-developer-credential",
                                         "realm-user-ci-bot-credential"}
    for resource in dynamic:
        assert all(credentials.urn in resource.property_dependencies[key]
                   for key in ("server_url", "admin_username", "admin_password")), resource.name


def test_docker_flow_admits_only_holders_of_the_group_role_through_a_gate_that_fails_closed(dev_run):
    """Keycloak's "Condition - User Role" skips its deny sub-flow when the role is missing (deleted in the console,
    or mid-rename), letting every realm user in; the extension's gate denies everyone then (issue 14, item 4)."""
    alias = flow_alias(parse_settings(VALID).realm)
    assert dev_run.one("keycloak:authentication/flow:Flow").inputs["alias"] == alias
    executions = dev_run.of_type("keycloak:authentication/execution:Execution")
    assert [(e.inputs["authenticator"], e.inputs["requirement"], e.inputs["parentFlowAlias"]) for e in executions] == [
        (DOCKER_PASSWORD_ID, "REQUIRED", alias), (MEMBER_GATE_ID, "REQUIRED", alias)]
    assert dev_run.of_type("keycloak:authentication/subflow:Subflow") == []
    config = dev_run.one("keycloak:authentication/executionConfig:ExecutionConfig")
    assert config.inputs["config"] == {"role": "registry-users-access"}
    role = dev_run.one("keycloak:index/role:Role", "realm-access-role")
    assert role.urn in config.dependencies  # a renamed role renames it in the gate after, never before
    assert dev_run.one("keycloak:authentication/bindings:Bindings").inputs["dockerAuthenticationFlow"] == alias


def test_the_restricted_flow_is_bound_only_once_complete(dev_run):
    """Bound before the gate has its config, the flow would deny members too (issue 8, item 2)."""
    binding = dev_run.one("keycloak:authentication/bindings:Bindings")
    flow_parts = dev_run.of_type("keycloak:authentication/execution:Execution") + \
        dev_run.of_type("keycloak:authentication/executionConfig:ExecutionConfig") + \
        dev_run.of_type("keycloak:authentication/flow:Flow")
    assert len(flow_parts) == 4
    assert {part.urn for part in flow_parts} <= waits_for(dev_run, binding)


def test_restriction_can_be_turned_off_and_failed_docker_logins_still_count_towards_a_lock():
    """Unrestricted, the flow keeps the extension's password login: Keycloak's own docker flow files its logins
    where brute-force detection never counts them."""
    config, secrets = stack_file_config("dev")
    run = run_program({**config, "restrictToGroup": "false"}, secrets)
    alias = run.one("keycloak:authentication/flow:Flow").inputs["alias"]
    executions = run.of_type("keycloak:authentication/execution:Execution")
    assert [(e.inputs["authenticator"], e.inputs["parentFlowAlias"]) for e in executions] == [
        (DOCKER_PASSWORD_ID, alias)]
    assert run.of_type("keycloak:authentication/executionConfig:ExecutionConfig") == []
    assert run.one("keycloak:authentication/bindings:Bindings").inputs["dockerAuthenticationFlow"] == alias


def test_docker_client_inputs(dev_run):
    client = dev_run.one(DYNAMIC, "realm-docker-client").inputs
    assert client["client_id"] == "registry" and client["realm"] == "registry"
    assert client["server_url"] == "http://localhost:30080"
    assert is_secret(client["admin_password"])


def test_profile_prompt_that_basic_auth_cannot_answer_is_off(dev_run):
    action = dev_run.one("keycloak:index/requiredAction:RequiredAction", "realm-no-profile-prompt").inputs
    assert (action["alias"], action["enabled"]) == ("VERIFY_PROFILE", False)
