"""Access never widens by itself: a foreign mapper added out of band, a deleted or renamed access role, the last rule
removed. Each on the real Keycloak and both registry lines, the stack changed through the real engine."""

from __future__ import annotations

import threading
import time

import pytest

from tests.integration.clients import granted, registry_get, request_token, token_for
from tests.integration.test_engine_scenarios import PROJECT, apply
from tests.integration.test_repository_access import TEAM_IMAGE, account, stack_config_changed

OTHER_TEAM_IMAGE = "team-b/app"
BUILT_IN_ALLOW_ALL = "docker-v2-allow-all-mapper"


def docker_client_path(admin, env: dict) -> str:
    (client,) = admin.call("GET", f"/{env['realm']}/clients", params={"clientId": env["service"]}).json()
    return f"/{env['realm']}/clients/{client['id']}"


@pytest.mark.changes_stack
def test_an_allow_all_mapper_added_in_the_console_shows_in_a_refreshing_preview_and_up_removes_it(
        local_env, stack, admin, env_json):
    team_a, scope = account(env_json, "team-a"), f"repository:{OTHER_TEAM_IMAGE}:pull,push"
    assert granted(token_for(env_json, *team_a, scope=scope)) == {}
    client_path = docker_client_path(admin, env_json)
    admin.call("POST", f"{client_path}/protocol-mappers/models", expect=(201,), json={
        "name": "console allow all", "protocol": "docker-v2", "protocolMapper": BUILT_IN_ALLOW_ALL, "config": {}})
    try:
        preview = stack.run("preview", "--refresh", "--expect-no-changes", "--non-interactive", "--diff", check=False)
        assert preview.returncode != 0 and "console allow all" in preview.stdout, preview.stdout[-3000:]
        env = apply(local_env, stack, "--refresh")
    finally:  # never leave the environment granting everything, whatever failed above
        for mapper in admin.call("GET", f"{client_path}/protocol-mappers/models").json():
            if mapper["protocolMapper"] == BUILT_IN_ALLOW_ALL:
                admin.call("DELETE", f"{client_path}/protocol-mappers/models/{mapper['id']}", expect=(204, 404))
    mappers = admin.call("GET", f"{client_path}/protocol-mappers/models").json()
    assert [m["protocolMapper"] for m in mappers] == ["keycloak-registry-repository-access"]
    assert granted(token_for(env, *team_a, scope=scope)) == {}
    stack.run("preview", "--refresh", "--expect-no-changes", "--non-interactive")


@pytest.mark.changes_stack
def test_a_deleted_access_role_turns_everyone_away_until_up_restores_it(local_env, stack, admin, env_json, strangers):
    """Keycloak's "Condition - User Role" would let every realm user in once its role is gone (issue 14, item 4)."""
    realm, role = env_json["realm"], f"{local_env.settings.realm.access_role}"
    member, outsider = account(env_json), strangers["outside the group"]
    assert request_token(env_json, *member).status_code == 200
    admin.call("DELETE", f"/{realm}/roles/{role}")
    try:
        assert request_token(env_json, *outsider).status_code == 401
        assert request_token(env_json, *member).status_code == 401
    finally:
        env = apply(local_env, stack, "--refresh")
    assert request_token(env, *member).status_code == 200
    assert request_token(env, *outsider).status_code == 401


class OutsiderProbe(threading.Thread):
    """Asks for an outsider's token every 0.2 s until stopped; records every status it got."""

    def __init__(self, env: dict, credentials: tuple[str, str]):
        super().__init__(daemon=True)
        self.env, self.credentials, self.statuses, self.stopping = env, credentials, [], threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.statuses.append(request_token(self.env, *self.credentials).status_code)
            except Exception as error:  # a refused connection is no token either
                self.statuses.append(type(error).__name__)
            time.sleep(0.2)


@pytest.mark.changes_stack
def test_a_group_rename_keeps_outsiders_out_at_every_point(local_env, stack, env_json, strangers):
    old, new = local_env.settings.realm.group, "registry-members"

    def rename_group(config: dict) -> None:
        config[f"{PROJECT}:group"] = new
        for rule in config[f"{PROJECT}:repositoryAccess"]:
            rule["group"] = new if rule["group"] == old else rule["group"]

    probe = OutsiderProbe(env_json, strangers["outside the group"])
    probe.start()
    try:
        with stack_config_changed(local_env, stack, rename_group) as env:
            assert request_token(env, *account(env)).status_code == 200
    finally:
        probe.stopping.set()
        probe.join()
    print(f"outsider token requests during the rename and back: {len(probe.statuses)}")
    assert len(probe.statuses) > 20 and 200 not in probe.statuses
    assert request_token(env_json, *account(env_json)).status_code == 200


@pytest.mark.changes_stack
def test_removing_the_last_rule_leaves_members_exactly_the_stated_default(local_env, stack, env_json):
    """A pull request that deletes the last rule no longer opens every repository (issue 14, item 5)."""
    team_a = account(env_json, "team-a")
    scopes = [f"repository:{TEAM_IMAGE}:pull,push", "repository:anything/else:pull,push,delete", "registry:catalog:*"]

    def remove_rules(config: dict) -> None:
        del config[f"{PROJECT}:repositoryAccess"]

    with stack_config_changed(local_env, stack, remove_rules) as env:
        assert env["repository_access"]["defaultAccess"] == "none" and env["repository_access"]["groups"] == []
        token = token_for(env, *team_a, scope=scopes)
        assert granted(token) == {}
        for registry in env["registries"]:
            assert registry_get(registry, token, f"/v2/{TEAM_IMAGE}/tags/list").status_code == 401
        robot = token_for(env, *account(env, robot=True), scope=scopes)
        assert granted(robot) == {f"repository:{TEAM_IMAGE}": ["pull"]}  # the robot keeps its own rule

        def pull_for_everyone(config: dict) -> None:
            config[f"{PROJECT}:defaultAccess"] = "pull"
        with stack_config_changed(local_env, stack, pull_for_everyone) as widened:
            assert granted(token_for(widened, *team_a, scope=scopes)) == {
                f"repository:{TEAM_IMAGE}": ["pull"], "repository:anything/else": ["pull"], "registry:catalog": ["*"]}
    assert granted(token_for(env_json, *team_a, scope=scopes))[f"repository:{TEAM_IMAGE}"] == ["pull", "push"]
