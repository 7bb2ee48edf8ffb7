"""Per-repository access rules and robots, as the local stack declares them (stacks/Pulumi.local.yaml), enforced by
the extension's mapper in the real Keycloak and by both real registry lines, with skopeo as the client."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import time
import uuid
from typing import Callable, Iterator

import pytest
import yaml

from localenv.stack import COMMITTED_CONFIG
from settings import KEYS_BY_NAME
from tests.integration.clients import (
    Skopeo,
    expired,
    granted,
    jwt_parts,
    registry_get,
    registry_host,
    request_token,
    token_for,
    write_oci_image,
)
from tests.integration.test_engine_scenarios import PROJECT, apply

PLATFORM_IMAGE = "platform/base"
TEAM_IMAGE = "team-a/app"


def account(env: dict, team: str = "", robot: bool = False) -> tuple[str, str]:
    """(username, password) of the first account of that team, or of the first robot that has not expired."""
    if robot:
        first = next(r for r in env["robots"] if not expired(r))
    else:
        first = next(u for u in env["users"] if team in u["teams"] or (not team and not u["teams"]))
    return first["username"], first["password"]


def refused(result: subprocess.CompletedProcess) -> bool:
    return result.returncode != 0 and any(word in result.stderr.lower()
                                          for word in ("denied", "unauthorized", "401", "403"))


@pytest.fixture
def image(tmp_path) -> str:
    path = tmp_path / "image"
    write_oci_image(path, "v1", os.urandom(64 * 1024))
    return str(path)


def test_the_token_holds_exactly_what_the_rules_grant_each_scope_on_its_own(env_json):
    """One request with several repeated ``scope`` parameters, as skopeo sends them; each decided alone."""
    scopes = [f"repository:{TEAM_IMAGE}:pull,push", f"repository:{PLATFORM_IMAGE}:pull,push",
              "repository:team-b/app:pull", "registry:catalog:*", "repository:test/scratch:pull,push,delete"]
    everyone = {"registry:catalog": ["*"], "repository:test/scratch": ["pull", "push", "delete"]}  # the group's rules
    expected = {
        "team-a": {f"repository:{TEAM_IMAGE}": ["pull", "push"], f"repository:{PLATFORM_IMAGE}": ["pull"], **everyone},
        "platform": {f"repository:{TEAM_IMAGE}": ["pull"], f"repository:{PLATFORM_IMAGE}": ["pull", "push"],
                     "repository:team-b/app": ["pull"], **everyone},
        "": everyone,  # a member of no team
    }
    for team, access in expected.items():
        assert granted(token_for(env_json, *account(env_json, team), scope=scopes)) == access, team
    assert granted(token_for(env_json, *account(env_json, robot=True), scope=scopes)) == {
        f"repository:{TEAM_IMAGE}": ["pull"], f"repository:{PLATFORM_IMAGE}": ["pull"]}


def test_team_member_pushes_and_pulls_its_own_pulls_platform_and_nothing_else(env_json, registry, skopeo, image,
                                                                              tmp_path):
    assert skopeo.push(registry, account(env_json, "platform"), image, PLATFORM_IMAGE).returncode == 0
    team_a = account(env_json, "team-a")
    assert skopeo.push(registry, team_a, image, TEAM_IMAGE).returncode == 0
    assert skopeo.pull(registry, team_a, TEAM_IMAGE, tmp_path / "own").returncode == 0
    assert skopeo.pull(registry, team_a, PLATFORM_IMAGE, tmp_path / "platform").returncode == 0
    assert refused(skopeo.push(registry, team_a, image, PLATFORM_IMAGE))
    assert refused(skopeo.push(registry, team_a, image, "team-b/app"))
    assert refused(skopeo.pull(registry, team_a, "team-b/app", tmp_path / "other"))


def test_the_registry_itself_refuses_what_the_token_does_not_grant(env_json, registry, skopeo, image):
    """Not only Keycloak: a valid token for platform/base with pull alone is refused a push by the registry."""
    assert skopeo.push(registry, account(env_json, "platform"), image, PLATFORM_IMAGE).returncode == 0
    token = token_for(env_json, *account(env_json, "team-a"), scope=f"repository:{PLATFORM_IMAGE}:pull,push")
    assert granted(token) == {f"repository:{PLATFORM_IMAGE}": ["pull"]}
    assert registry_get(registry, token, f"/v2/{PLATFORM_IMAGE}/tags/list").status_code == 200
    upload = registry_get(registry, token, f"/v2/{PLATFORM_IMAGE}/blobs/uploads/", method="POST")
    assert upload.status_code in (401, 403), upload.text
    assert "insufficient_scope" in upload.headers.get("WWW-Authenticate", "") or upload.status_code == 403
    nothing = token_for(env_json, *account(env_json, "team-a"), scope="repository:team-b/app:pull")
    assert jwt_parts(nothing)[1]["access"] == []
    assert registry_get(registry, nothing, "/v2/team-b/app/tags/list").status_code in (401, 403)
    # The catalog only through a catalog rule: the group has one, the robot none.
    catalog = token_for(env_json, *account(env_json, "team-a"), scope="registry:catalog:*")
    assert registry_get(registry, catalog, "/v2/_catalog").status_code == 200
    robot = token_for(env_json, *account(env_json, robot=True), scope="registry:catalog:*")
    assert jwt_parts(robot)[1]["access"] == []
    assert registry_get(registry, robot, "/v2/_catalog").status_code in (401, 403)


def test_a_pull_only_robot_pulls_and_cannot_push(env_json, registry, skopeo, image, tmp_path):
    assert skopeo.push(registry, account(env_json, "team-a"), image, TEAM_IMAGE).returncode == 0
    robot = account(env_json, robot=True)
    assert skopeo.pull(registry, robot, TEAM_IMAGE, tmp_path / "pulled").returncode == 0
    assert refused(skopeo.push(registry, robot, image, TEAM_IMAGE))


def layer_of(image: str) -> str:
    index = json.loads(open(f"{image}/index.json").read())
    manifest = json.loads(open(f"{image}/blobs/sha256/" + index["manifests"][0]["digest"].split(":")[1]).read())
    return manifest["layers"][0]["digest"]


def assert_second_push_mounts(skopeo: Skopeo, registry: dict, credentials: tuple[str, str], image: str,
                              source: str, target: str) -> None:
    """Push to ``source``, then the same image to ``target``: skopeo asks for the target (pull,push) and the source
    (pull) in two ``scope`` parameters, and mounts the layer instead of uploading it (its debug log says so)."""
    assert skopeo.push(registry, credentials, image, source).returncode == 0
    result = skopeo.copy(f"oci:{image}:v1", f"docker://{registry_host(registry)}/{target}:1", "--debug")
    assert result.returncode == 0, result.stderr[-2000:]
    log, layer = result.stderr, layer_of(image)
    quoted_source, quoted_layer = source.replace("/", "%2F"), layer.replace(":", "%3A")
    assert (f"scope=repository%3A{target.replace('/', '%2F')}%3Apull%2Cpush"
            f"&scope=repository%3A{quoted_source}%3Apull") in log
    assert f"Trying to mount /v2/{target}/blobs/uploads/?from={quoted_source}&mount={quoted_layer}" in log
    assert "mount OK" in log
    assert f"digest={quoted_layer}" not in log  # the layer's bytes were never uploaded to the target


def test_a_second_push_of_shared_layers_mounts_them_instead_of_uploading(env_json, registry, skopeo, image):
    """Keycloak's own mapper granted only the first scope, so this mount was refused and the layer uploaded again."""
    suffix = uuid.uuid4().hex[:8]
    assert_second_push_mounts(skopeo, registry, account(env_json), image, f"test/mount-source-{suffix}",
                              f"test/mount-target-{suffix}")


@contextlib.contextmanager
def stack_config_changed(local_env, stack, change: Callable[[dict], None]) -> Iterator[dict]:
    """The local stack's config changed by ``change`` and applied with `pulumi up` (yields the new env.json);
    restored and applied again afterwards, whatever happened."""
    config_file = stack.config_file()
    original = config_file.read_text()
    document = yaml.safe_load(original)
    change(document["config"])
    config_file.write_text(yaml.safe_dump(document))
    try:
        yield apply(local_env, stack)
    finally:
        config_file.write_text(original)
        apply(local_env, stack)


def remove_access_keys(config: dict) -> None:
    """No rules, robots or teams: the directory's and the provider's groups then give the group's access."""
    for key in ("teams", "repositoryAccess", "robots"):
        del config[f"{PROJECT}:{key}"]
    config[f"{PROJECT}:defaultAccess"] = "all"
    group = config.get(f"{PROJECT}:group", KEYS_BY_NAME["group"].default)
    for key in ("ldapGroupTeams", "ssoGroupTeams"):
        if config.get(f"{PROJECT}:{key}"):
            config[f"{PROJECT}:{key}"] = [{**mapping, "team": group} for mapping in config[f"{PROJECT}:{key}"]]


@pytest.mark.changes_stack
def test_without_rules_members_may_push_anywhere_and_shared_layers_still_mount(local_env, stack, skopeo, image):
    """What stacks without rules state with defaultAccess all: the mapper in allow-all mode."""
    with stack_config_changed(local_env, stack, remove_access_keys) as env:
        assert env["repository_access"]["mode"] == "allow-all" and env["robots"] == []
        for registry in env["registries"]:
            suffix = uuid.uuid4().hex[:8]
            assert_second_push_mounts(skopeo, registry, account(env), image, f"anything-{suffix}/app",
                                      f"elsewhere-{suffix}/app")
    assert json.loads(local_env.env_file.read_text())["repository_access"]["mode"] == "client-roles"


@pytest.mark.changes_stack
def test_a_changed_rule_applies_to_the_next_token_without_a_keycloak_restart_and_a_removed_robot_is_locked_out(
        local_env, stack, env_json):
    """`pulumi up` updates the rules (role attributes) and deletes the robot; Keycloak keeps running."""
    keycloak_before = local_env.workload("keycloak")
    team_a, robot = account(env_json, "team-a"), account(env_json, robot=True)
    scope = f"repository:{TEAM_IMAGE}:pull,push"
    assert granted(token_for(env_json, *team_a, scope=scope)) == {f"repository:{TEAM_IMAGE}": ["pull", "push"]}

    def team_a_pulls_only_and_no_robots(config: dict) -> None:
        rules = config[f"{PROJECT}:repositoryAccess"]
        next(r for r in rules if r["group"] == "team-a" and "push" in r["actions"])["actions"] = ["pull"]
        del config[f"{PROJECT}:robots"]

    started = time.monotonic()
    with stack_config_changed(local_env, stack, team_a_pulls_only_and_no_robots) as env:
        print(f"rule change and robot removal applied in {time.monotonic() - started:.1f} s")
        assert granted(token_for(env, *team_a, scope=scope)) == {f"repository:{TEAM_IMAGE}": ["pull"]}
        assert request_token(env, *robot).status_code == 401
        assert env["robots"] == []
    env = json.loads(local_env.env_file.read_text())
    assert granted(token_for(env, *team_a, scope=scope)) == {f"repository:{TEAM_IMAGE}": ["pull", "push"]}
    assert request_token(env, *account(env, robot=True)).status_code == 200  # back, with a new password
    keycloak_after = local_env.workload("keycloak")
    assert (keycloak_after["pod"], keycloak_after["pids"], keycloak_after["restarts"]) == \
        (keycloak_before["pod"], keycloak_before["pids"], keycloak_before["restarts"])
    assert COMMITTED_CONFIG.read_text().count("ci-pull") == 1  # the committed stack file was never written


def test_keycloak_logs_each_scope_decision_naming_user_scope_and_rule_never_the_password(local_env, kube, env_json):
    """The local stack sets keycloakLogLevel to debug for the extension's category: one line per requested scope."""
    username, password = account(env_json)  # a member of no team: the group's rules only
    hidden = f"team-b/audit-{uuid.uuid4().hex[:8]}"
    token_for(env_json, username, password, scope=[f"repository:{hidden}:pull", "repository:test/scratch:pull"])
    refused_line = f"registry scope repository:{hidden}:pull refused to user {username}: no rule covers the repository"
    logs = ""
    deadline = time.monotonic() + 30
    while refused_line not in logs and time.monotonic() < deadline:
        # whichever replica answered the login logged it
        logs = "".join(kube.call("GET", f"/api/v1/namespaces/{env_json['namespace']}/pods/{pod['metadata']['name']}"
                                 "/log", params={"sinceSeconds": 300}).text for pod in local_env.pods("keycloak"))
        time.sleep(1)
    assert refused_line in logs
    assert re.search(rf"registry scope repository:test/scratch:pull granted to user {re.escape(username)}: pull by "
                     r"rules? \S", logs)
    assert password not in logs
