"""What users do with the program, through the real engine: preview, change config and `pulumi up`, refresh
after out-of-band changes, read outputs from another stack. Every check goes to the real servers."""

from __future__ import annotations

import contextlib
import json
import re
import time
from pathlib import Path
from typing import Optional

import pytest
import requests
import yaml

from localenv.environment import local_stack_values
from localenv.stack import COMMITTED_CONFIG, ROOT, LocalStack
from tests.integration.clients import jwt_parts, registry_get, request_token, token_for

PROJECT = "keycloak-registry"
CONSUMER = Path(__file__).parent / "stack_consumer"
WORKLOADS = ("database", "keycloak", "registry")


def set_config(stack: LocalStack, key: str, value: str, secret: bool = False) -> None:
    stack.run("config", "set", f"{PROJECT}:{key}", value, *(["--secret"] if secret else ["--plaintext"]))


def remove_config(stack: LocalStack, key: str) -> None:
    stack.run("config", "rm", f"{PROJECT}:{key}")


def apply(local_env, stack: LocalStack, *flags: str) -> dict:
    """`pulumi up`, then (once the other registry line has followed) the environment file from the new outputs."""
    stack.up(*flags)
    local_env.wait_for_registries()
    return local_env.write_env_json()


def password_of(env: dict, username: str) -> str:
    return next(u["password"] for u in env["users"] if u["username"] == username)


@contextlib.contextmanager
def scratch_stack(stack: LocalStack, name: str, config: dict, project_dir: Path = ROOT,
                  secrets: Optional[dict[str, str]] = None):
    """Another stack in the same backend, with its own config and ``secrets``; removed afterwards."""
    stack.init(name, config, project_dir)
    for key, value in (secrets or {}).items():
        stack.run("config", "set", "--secret", "--", key, value, stack=name, cwd=project_dir)
    try:
        yield name
    finally:
        stack.run("destroy", "--yes", "--skip-preview", "--non-interactive", stack=name, cwd=project_dir, check=False)
        stack.remove(name, project_dir)


def committed_config() -> dict:
    return yaml.safe_load(COMMITTED_CONFIG.read_text())["config"]


def generated_config() -> tuple[dict, dict[str, str]]:
    """What `scripts/localenv up` adds to the committed local config (the directory's CA, placeholders for the
    secrets it generates), as config and as secrets for a scratch stack."""
    values, secret_keys = local_stack_values()
    added = {key: value for key, value in values.items() if f"{PROJECT}:{key}" not in committed_config()}
    return ({f"{PROJECT}:{key}": value for key, value in added.items() if key not in secret_keys},
            {key: value for key, value in added.items() if key in secret_keys})


def admin_logins_since(env: dict, since_ms: int, token: str) -> list[dict]:
    """LOGIN events of the master realm's admin-cli client after a moment (events are enabled by the caller)."""
    response = requests.get(f"{env['keycloak_url']}/admin/realms/master/events", timeout=30,
                            params={"type": "LOGIN", "client": "admin-cli", "max": 1000},
                            headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    return [e for e in response.json() if e["time"] >= since_ms]


def admin_token(env: dict) -> str:
    response = requests.post(f"{env['keycloak_url']}/realms/master/protocol/openid-connect/token", timeout=30, data={
        "grant_type": "password", "client_id": "admin-cli", "username": env["admin"]["username"],
        "password": env["admin"]["password"]})
    response.raise_for_status()
    return response.json()["access_token"]


# ------------------------------------------------------------------------------------ read-only
def test_preview_of_a_fresh_stack_never_logs_in_to_keycloak(stack, admin, env_json):
    admin.call("PUT", "/master/events/config", json={"eventsEnabled": True, "enabledEventTypes": ["LOGIN"]})
    token = admin_token(env_json)  # taken before the moment, so reading the events adds none
    since = int(time.time() * 1000)
    # A second stack beside the running one: its own namespace, and ClusterIP Services (a dry-run of the local stack's
    # NodePorts would collide with the running stack's: node ports are cluster-wide).
    generated, secrets = generated_config()
    config = {**committed_config(), **generated, f"{PROJECT}:namespace": "fresh-preview",
              f"{PROJECT}:keycloakServiceType": "ClusterIP", f"{PROJECT}:registryServiceType": "ClusterIP"}
    with scratch_stack(stack, "fresh-preview", config, secrets=secrets) as name:
        result = stack.run("preview", "--non-interactive", stack=name)
        assert re.search(r"\+ [1-9][0-9]* to create", result.stdout), result.stdout[-2000:]
        assert admin_logins_since(env_json, since, token) == []


def test_invalid_configuration_is_refused_before_anything_is_registered(stack):
    config = {**committed_config(), f"{PROJECT}:registryReplicas": "0", f"{PROJECT}:realm": "master"}
    with scratch_stack(stack, "invalid-config", config) as name:
        result = stack.run("preview", "--non-interactive", "--json", check=False, stack=name)
    assert result.returncode != 0
    assert "invalid stack configuration" in result.stdout
    assert f"{PROJECT}:registryReplicas = 0: expected a positive whole number" in result.stdout
    assert f'{PROJECT}:realm = \\"master\\": expected a realm name' in result.stdout  # JSON-escaped quotes
    steps = json.loads(result.stdout)["steps"]
    assert [s["newState"]["type"] for s in steps] == ["pulumi:pulumi:Stack"]  # nothing else registered


def test_no_changes_after_up_and_after_refresh(stack):
    stack.run("preview", "--expect-no-changes", "--non-interactive")
    stack.run("refresh", "--yes", "--non-interactive", "--skip-preview")
    stack.run("preview", "--expect-no-changes", "--non-interactive")


def test_every_workload_pod_is_admitted_under_restricted(kube, env_json):
    namespace = env_json["namespace"]
    labels = kube.get(f"/api/v1/namespaces/{namespace}")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    pods = kube.items(f"/api/v1/namespaces/{namespace}/pods", "app.kubernetes.io/part-of=keycloak-registry")
    running = {p["metadata"]["labels"]["app.kubernetes.io/name"] for p in pods if p["status"].get("phase") == "Running"}
    assert running == set(WORKLOADS)
    failed = [e for e in kube.items(f"/api/v1/namespaces/{namespace}/events") if e["reason"] == "FailedCreate"]
    assert failed == []
    # the control: a pod that baseline allows but restricted does not (no hardening at all) is refused
    refused = kube.call("POST", f"/api/v1/namespaces/{namespace}/pods", expect=(403,), json={
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "unhardened-probe"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    assert 'violates PodSecurity "restricted' in refused.json()["message"]


def test_another_stack_reads_the_outputs_through_a_stack_reference(stack):
    outputs = json.loads(stack.run("stack", "output", "--json").stdout)
    config = {"stack-consumer:registryStack": f"organization/{PROJECT}/local"}
    with scratch_stack(stack, "consumer", config, CONSUMER) as name:
        stack.run("up", "--yes", "--skip-preview", "--non-interactive", stack=name, cwd=CONSUMER)
        read = json.loads(stack.run("stack", "output", "--json", stack=name, cwd=CONSUMER).stdout)
        shown = json.loads(stack.run("stack", "output", "--json", "--show-secrets", stack=name, cwd=CONSUMER).stdout)
    wanted = ("registryUrl", "tokenRealm", "tokenService", "tokenIssuer", "repositoryAccess")
    assert {k: read[k] for k in wanted} == {k: outputs[k] for k in wanted}
    assert read["ciPullPassword"] == "[secret]"  # still a secret in the consuming stack
    robots = json.loads(stack.run("stack", "output", "robotPasswords", "--json", "--show-secrets").stdout)
    assert shown["ciPullPassword"] == robots["ci-pull"]


# ------------------------------------------------------------------------------------ changes
@pytest.mark.changes_stack
def test_a_new_token_lifespan_applies_and_outsiders_stay_out(local_env, stack, env_json, strangers, user):
    outsider = strangers["outside the group"]
    set_config(stack, "tokenLifespanSeconds", "600")
    try:
        env = apply(local_env, stack)
        claims = jwt_parts(token_for(env, user["username"], user["password"]))[1]
        assert claims["exp"] - claims["iat"] == 600
        assert request_token(env, *outsider).status_code == 401
    finally:
        remove_config(stack, "tokenLifespanSeconds")
        env = apply(local_env, stack)
    claims = jwt_parts(token_for(env, user["username"], user["password"]))[1]
    assert claims["exp"] - claims["iat"] == 300
    assert request_token(env, *outsider).status_code == 401


@pytest.mark.changes_stack
def test_a_user_added_to_the_stack_logs_in_and_a_removed_one_cannot(local_env, stack, env_json):
    users = committed_config()[f"{PROJECT}:users"]
    added = f"{PROJECT}:users[{len(users)}]"
    stack.run("config", "set", "--path", added, "carol")
    try:
        env = apply(local_env, stack)
        carol = password_of(env, "carol")
        assert request_token(env, "carol", carol).status_code == 200
    finally:
        stack.run("config", "rm", "--path", added)
        env = apply(local_env, stack)
    assert sorted(u["username"] for u in env["users"]) == sorted(users)
    assert request_token(env, "carol", carol).status_code == 401


@pytest.mark.changes_stack
def test_a_changed_user_password_is_applied(local_env, stack, env_json, user):
    old = user["password"]
    new = "a-new-password-for-" + user["username"]
    set_config(stack, "userPasswords", json.dumps({user["username"]: new}), secret=True)
    try:
        env = apply(local_env, stack)
        assert password_of(env, user["username"]) == new
        assert request_token(env, user["username"], new).status_code == 200
        assert request_token(env, user["username"], old).status_code == 401
    finally:
        remove_config(stack, "userPasswords")
        env = apply(local_env, stack)
    assert request_token(env, user["username"], password_of(env, user["username"])).status_code == 200
    assert request_token(env, user["username"], new).status_code == 401


@pytest.mark.changes_stack
def test_a_client_deleted_out_of_band_is_recreated_by_up_with_refresh(local_env, stack, admin, env_json, user):
    realm = env_json["realm"]
    (client,) = admin.call("GET", f"/{realm}/clients", params={"clientId": env_json["service"]}).json()
    admin.call("DELETE", f"/{realm}/clients/{client['id']}")
    assert request_token(env_json, user["username"], user["password"]).status_code != 200
    env = apply(local_env, stack, "--refresh")
    assert len(admin.call("GET", f"/{realm}/clients", params={"clientId": env["service"]}).json()) == 1
    token = token_for(env, user["username"], user["password"])
    assert all(registry_get(r, token).status_code == 200 for r in env["registries"])
    stack.run("preview", "--expect-no-changes", "--non-interactive")


@pytest.mark.changes_stack
def test_a_changed_admin_password_reaches_keycloak(local_env, stack, env_json):
    old = env_json["admin"]
    set_config(stack, "keycloakAdminPassword", "rotated-admin-password-1", secret=True)
    env = apply(local_env, stack)
    assert env["admin"]["password"] == "rotated-admin-password-1"
    assert admin_token(env)
    with pytest.raises(requests.HTTPError):
        admin_token({**env, "admin": old})
    stack.run("preview", "--expect-no-changes", "--non-interactive")  # the provider logs in with the new one


def changed_resources(stack: LocalStack, command: str) -> set[tuple[str, str]]:
    """(op, URN) of every resource `pulumi <command> --json` changes: a preview prints one document with its steps,
    an update streams engine events, one per line."""
    extra = ("--yes", "--skip-preview") if command == "up" else ()
    output = stack.run(command, "--non-interactive", "--json", *extra).stdout
    if command == "preview":
        steps = json.loads(output)["steps"]
    else:
        events = [json.loads(line) for line in output.splitlines() if line.strip()]
        steps = [e["resOutputsEvent"]["metadata"] for e in events if "resOutputsEvent" in e]
    return {(step["op"], step["urn"]) for step in steps
            if step["op"] not in ("same", "read") and "::pulumi:pulumi:Stack::" not in step["urn"]}


@pytest.mark.changes_stack
def test_a_preview_of_a_keycloak_change_lists_exactly_what_up_then_changes(stack):
    """Before the fix the admin URL turned unknown in the preview of any Deployment change, so the preview listed the
    admin credentials, every dynamic resource, the certificate Secret and a registry rollout (issue 14, item 12)."""
    set_config(stack, "resourceProfile", "medium")
    try:
        previewed = changed_resources(stack, "preview")
        applied = changed_resources(stack, "up")
    finally:
        remove_config(stack, "resourceProfile")
        stack.up()
    print(f"preview and up changed: {sorted(previewed)}")
    assert previewed == applied
    names = {urn.rsplit("::", 1)[-1] for _, urn in previewed}
    assert "keycloak" in names and not names & {"keycloak-admin-credentials", "realm-docker-client", "signing-certs"}


@pytest.mark.changes_stack
def test_a_storage_class_change_is_refused_and_the_data_stays(local_env, stack, env_json, user):
    """A new storageClassName replaces the claim (delete, then create: the same name); refused before anything
    changes, naming the key (issue 14, item 9)."""
    set_config(stack, "databaseStorageClass", "another-class")
    try:
        for command in (("preview",), ("up", "--yes", "--skip-preview")):
            result = stack.run(*command, "--non-interactive", check=False)
            assert result.returncode != 0
            output = result.stdout + result.stderr
            assert "keycloak-registry:databaseStorageClass changed from '' to 'another-class'" in output, output[-3000:]
            assert "allowVolumeReplacement" in output
    finally:
        remove_config(stack, "databaseStorageClass")
    assert request_token(env_json, user["username"], user["password"]).status_code == 200  # the realm is still there
    stack.run("preview", "--expect-no-changes", "--non-interactive")


@pytest.mark.restarts_environment
def test_destroy_removes_everything_and_up_again_works(local_env, stack, kube, env_json):
    namespace = env_json["namespace"]
    refused = stack.run("destroy", "--yes", "--skip-preview", "--non-interactive", check=False)
    assert refused.returncode != 0 and "protected" in refused.stdout + refused.stderr  # the claims hold data
    assert request_token(env_json, *(env_json["users"][0][k] for k in ("username", "password"))).status_code == 200
    pod_uids = [p["metadata"]["uid"] for p in kube.items(f"/api/v1/namespaces/{namespace}/pods")]
    assert pod_uids
    set_config(stack, "allowVolumeReplacement", "true")  # the documented way: unprotect with `up`, then destroy
    stack.up()
    stack.run("destroy", "--yes", "--skip-preview", "--non-interactive")
    remove_config(stack, "allowVolumeReplacement")
    assert json.loads(stack.run("stack", "export").stdout)["deployment"].get("resources") in (None, [])
    deadline = time.monotonic() + 60
    while kube.get(f"/api/v1/namespaces/{namespace}") is not None and time.monotonic() < deadline:
        time.sleep(1)
    assert kube.get(f"/api/v1/namespaces/{namespace}") is None
    def pod_cgroups() -> list[Path]:  # a pod's cgroup goes once the kubelet has stopped its containers
        return [p for uid in pod_uids for p in Path("/sys/fs/cgroup/memory/kubepods").rglob(f"pod{uid}")]
    while pod_cgroups() and time.monotonic() < deadline + 60:
        time.sleep(1)
    assert pod_cgroups() == [], "containers of the destroyed stack still run"

    env = apply(local_env, stack)
    user = env["users"][0]
    token = token_for(env, user["username"], user["password"])
    assert all(registry_get(r, token).status_code == 200 for r in env["registries"])
