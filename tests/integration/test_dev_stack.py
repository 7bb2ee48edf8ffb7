"""The dev stack as a newcomer deploys it to kind: `scripts/up dev` against this node's kubeconfig, a file backend,
the committed stacks/Pulumi.dev.yaml with three switches (below), then `docker login`, push and pull through the
NodePorts 30080 and 30500 on localhost.

The switches, each because of this machine, not the program: databaseEngine mariadb and databaseVersion 10.11.19
(no MySQL image can be built here, and Debian ships MariaDB 10.11, not the 11.4 the engine pins), and namespace
registry-dev (the local stack already holds `registry` on this node). The project is copied first, so the committed
stack file is never written (`scripts/up` runs `stack select --create`, which stores the passphrase salt there).

The copy starts as the last commit before settings, providers and helpers left components/ (OLD_LAYOUT): the stack
comes up on it, then the code and the extension jar are switched to this tree's, an upgrade whose preview must
change exactly UPGRADE_CHANGES; then up, login, push, pull and destroy must work. Its state names the dynamic
providers' old modules, which is why components/ keeps an import shim for each.
"""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import shutil
import subprocess
import tarfile
import time

import pytest
import yaml

from localenv.stack import ROOT
from tests.integration.clients import registry_get, token_for, write_oci_image
from tests.integration.load import report
from tests.integration.test_faults import wait_until

NAMESPACE = "registry-dev"
SWITCHES = {"databaseEngine": "mariadb", "databaseVersion": "10.11.19", "namespace": NAMESPACE}
OLD_LAYOUT = "f411686304b7ea91d3175e954e06afcb8378c256"
JAR = "keycloak-extension/keycloak-registry-extension.jar"
OLD_CODE = ("Pulumi.yaml", "__main__.py", "requirements.txt", "components", "scripts")
CODE = (*OLD_CODE, "settings", "lib", "providers")
OLD_PROVIDER_MODULES = (b"components.docker_client", b"components.keycloak_resources", b"components.storage_guard")
# What upgrading from OLD_LAYOUT changes, and nothing else: brute-force detection (realm attributes, the
# extension's counted docker login in the flow, concurrent logins allowed), user-event metrics and the scrape
# annotations (Keycloak rolls, with the new jar), the registry's Prometheus endpoint and token realm (it rolls).
UPGRADE_CHANGES = {
    ("update", "kubernetes:apps/v1:Deployment", "keycloak"),
    ("replace", "kubernetes:core/v1:ConfigMap", "keycloak-extensions"),
    ("update", "pulumi-python:dynamic:Resource", "realm-realm"),
    # the docker-v2 client gains the refresh-token lifetimes (attributes the extension's token endpoint reads)
    ("update", "pulumi-python:dynamic:Resource", "realm-docker-client"),
    ("replace", "keycloak:authentication/execution:Execution", "realm-docker-basic-auth"),
    ("update", "kubernetes:core/v1:Secret", "registry-config"),
    ("update", "kubernetes:apps/v1:Deployment", "registry"),
    # the guard holds one more key (databaseBackupStorageClass); no loss: it was unset before
    ("update", "pulumi-python:dynamic:Resource", "storage-guard"),
    # the database's NetworkPolicy, renamed when it began to admit the backup jobs as well
    ("create", "kubernetes:networking.k8s.io/v1:NetworkPolicy", "keycloak-db-clients"),
    ("delete", "kubernetes:networking.k8s.io/v1:NetworkPolicy", "keycloak-db-only-keycloak"),
}


def old_layout(project) -> None:
    """The program and stacks as of OLD_LAYOUT, from this clone's history."""
    if subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{OLD_LAYOUT}^{{commit}}"]).returncode != 0:
        pytest.fail(f"commit {OLD_LAYOUT} (the old layout) is not in this clone: clone with history, not --depth")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", OLD_LAYOUT, *OLD_CODE, JAR, "stacks"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(project, filter="data")


def switch_to_this_layout(project, names: tuple[str, ...]) -> None:
    for name in names:
        if (project / name).exists():
            (shutil.rmtree if (project / name).is_dir() else os.remove)(project / name)
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copyfile)(ROOT / name, project / name)


def pulumi(local_env, project, env, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([str(local_env.stack().bin_dir / "pulumi"), *args, "--stack", "dev"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=timeout)


def planned_changes(local_env, project, env) -> set[tuple[str, str, str]]:
    """(operation, type, name) of every resource a preview would change."""
    preview = pulumi(local_env, project, env, "preview", "--json", "--non-interactive")
    assert preview.returncode == 0, preview.stdout[-4000:] + preview.stderr[-2000:]
    steps = json.loads(preview.stdout).get("steps") or []
    replacing = ("replace", "create-replacement", "delete-replaced")
    return {("replace" if step["op"] in replacing else step["op"], step["urn"].split("::")[-2].split("$")[-1],
             step["urn"].split("::")[-1]) for step in steps if step["op"] not in ("same", "read")}


def provider_modules(local_env, project, env) -> set[bytes]:
    """The old modules the state's dynamic providers are pickled against."""
    state = json.loads(pulumi(local_env, project, env, "stack", "export", "--show-secrets").stdout)["deployment"]
    values = [r["inputs"]["__provider"] for r in state["resources"] if "__provider" in r.get("inputs", {})]
    # the engine keeps it as a secret: {sig, plaintext: the JSON-encoded string}
    pickled = [base64.b64decode(json.loads(v["plaintext"]) if isinstance(v, dict) else v) for v in values]
    return {module for module in OLD_PROVIDER_MODULES if any(module in provider for provider in pickled)}


@pytest.fixture(scope="module")
def dev_project(local_env, kube, tmp_path_factory):
    """A copy of the project (old layout) whose stacks/Pulumi.dev.yaml has the switches; the namespace goes after."""
    project = tmp_path_factory.mktemp("dev-project")
    old_layout(project)
    (project / "venv").symlink_to(ROOT / "venv")
    stack_file = project / "stacks" / "Pulumi.dev.yaml"
    stack = yaml.safe_load(stack_file.read_text())
    stack["config"].update({f"keycloak-registry:{key}": value for key, value in SWITCHES.items()})
    stack_file.write_text(yaml.safe_dump(stack))
    env = {**os.environ, "KUBECONFIG": json.loads(local_env.env_file.read_text())["kubeconfig"],
           "PULUMI_BACKEND_URL": f"file://{project / 'state'}", "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(16),
           "PULUMI_SKIP_UPDATE_CHECK": "true",
           # the copy is not beside ../shared: point the engine's cache key at the same recipe
           "UPSTREAM_SOURCES": os.environ.get("UPSTREAM_SOURCES") or str(ROOT.parent / "shared" / "upstream")}
    (project / "state").mkdir()
    yield project, env
    kube.call("DELETE", f"/api/v1/namespaces/{NAMESPACE}", expect=(200, 202, 404))
    wait_until(lambda: kube.get(f"/api/v1/namespaces/{NAMESPACE}") is None, 180, f"namespace {NAMESPACE} deleted")


def scripts_up(project, env) -> float:
    started = time.monotonic()
    up = subprocess.run([str(project / "scripts" / "up"), "dev", "--yes", "--skip-preview", "--non-interactive"],
                        cwd=project, env=env, capture_output=True, text=True, timeout=1500)
    assert up.returncode == 0, f"scripts/up dev failed:\n{up.stdout[-4000:]}\n{up.stderr[-3000:]}"
    return round(time.monotonic() - started)


def test_the_dev_stack_comes_up_with_scripts_up_and_serves_login_push_and_pull_on_its_node_ports(
        dev_project, local_env, kube, skopeo, tmp_path):
    """Made by the old layout, then upgraded to this tree: the planned changes only, an up, login, push and pull,
    destroy."""
    project, env = dev_project
    figures = {"scripts_up_old_layout_s": scripts_up(project, env)}
    assert not (ROOT / "stacks" / "Pulumi.dev.yaml").read_text().count("encryptionsalt")
    assert provider_modules(local_env, project, env) == set(OLD_PROVIDER_MODULES)

    switch_to_this_layout(project, (*CODE, JAR))
    assert planned_changes(local_env, project, env) == UPGRADE_CHANGES
    figures["scripts_up_upgrade_s"] = scripts_up(project, env)
    clean = pulumi(local_env, project, env, "preview", "--expect-no-changes", "--non-interactive", "--diff")
    assert clean.returncode == 0, clean.stdout[-4000:]
    figures["old_modules_still_in_state"] = sorted(m.decode() for m in provider_modules(local_env, project, env))
    report("dev-stack", figures)
    # One `up` on this layout re-pickles every provider against the new modules: the shims serve until then
    # (a refresh or destroy before it loads the old ones).
    assert figures["old_modules_still_in_state"] == []
    outputs = json.loads(pulumi(local_env, project, env, "stack", "output", "--json", "--show-secrets").stdout)
    assert (outputs["keycloakUrl"], outputs["registryUrl"]) == ("http://localhost:30080", "http://localhost:30500")
    user = outputs["usernames"][0]
    password = outputs["userPasswords"][user]
    env_json = {"token_realm": outputs["tokenRealm"], "service": outputs["tokenService"]}
    registry = {"line": "3", "url": outputs["registryUrl"]}
    assert registry_get(registry, None).status_code == 401
    assert registry_get(registry, token_for(env_json, user, password)).status_code == 200
    image = tmp_path / "image"
    digest = write_oci_image(image, "v1", b"dev stack\n")
    pushed = skopeo.push(registry, (user, password), image, f"{user}/hello")
    assert pushed.returncode == 0, pushed.stderr
    pulled = skopeo.pull(registry, (user, password), f"{user}/hello", tmp_path / "pulled")
    assert pulled.returncode == 0, pulled.stderr
    index = json.loads((tmp_path / "pulled" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest
    refused = skopeo.login("localhost:30500", user, password + "-wrong")
    assert refused.returncode != 0

    # Destroy, the documented way (the claims are protected): unprotect with `up`, then destroy.
    assert pulumi(local_env, project, env, "config", "set", "keycloak-registry:allowVolumeReplacement",
                  "true").returncode == 0
    unprotected = pulumi(local_env, project, env, "up", "--yes", "--skip-preview", "--non-interactive")
    assert unprotected.returncode == 0, unprotected.stdout[-3000:] + unprotected.stderr[-2000:]
    destroyed = pulumi(local_env, project, env, "destroy", "--yes", "--skip-preview", "--non-interactive")
    assert destroyed.returncode == 0, destroyed.stdout[-3000:] + destroyed.stderr[-2000:]
    wait_until(lambda: kube.get(f"/api/v1/namespaces/{NAMESPACE}") is None, 180, f"namespace {NAMESPACE} deleted")
