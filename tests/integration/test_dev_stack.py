"""The dev stack as a newcomer deploys it to kind: `scripts/up dev` against this node's kubeconfig, a file backend,
the committed stacks/Pulumi.dev.yaml with three switches (below), then `docker login`, push and pull through the
NodePorts 30080 and 30500 on localhost.

The switches, each because of this machine, not the program: databaseEngine mariadb and databaseVersion 10.11.19
(no MySQL image can be built here, and Debian ships MariaDB 10.11, not the 11.4 the engine pins), and namespace
registry-dev (the local stack already holds `registry` on this node). The project is copied first, so the committed
stack file is never written (`scripts/up` runs `stack select --create`, which stores the passphrase salt there).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time

import pytest
import yaml

from localenv.stack import ROOT
from tests.integration.clients import registry_get, token_for, write_oci_image
from tests.integration.load import report
from tests.integration.test_faults import wait_until

NAMESPACE = "registry-dev"
SWITCHES = {"databaseEngine": "mariadb", "databaseVersion": "10.11.19", "namespace": NAMESPACE}
PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "requirements.txt", "components", "stacks", "scripts",
                 "keycloak-extension/keycloak-registry-extension.jar")


@pytest.fixture(scope="module")
def dev_project(local_env, kube, tmp_path_factory):
    """A copy of the project whose stacks/Pulumi.dev.yaml has the switches; the namespace goes afterwards."""
    project = tmp_path_factory.mktemp("dev-project")
    for name in PROJECT_FILES:
        source, target = ROOT / name, project / name
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copyfile)(source, target)
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


def test_the_dev_stack_comes_up_with_scripts_up_and_serves_login_push_and_pull_on_its_node_ports(
        dev_project, local_env, skopeo, tmp_path):
    project, env = dev_project
    started = time.monotonic()
    up = subprocess.run([str(project / "scripts" / "up"), "dev", "--yes", "--skip-preview", "--non-interactive"],
                        cwd=project, env=env, capture_output=True, text=True, timeout=1500)
    assert up.returncode == 0, f"scripts/up dev failed:\n{up.stdout[-4000:]}\n{up.stderr[-3000:]}"
    report("dev-stack", {"scripts_up_s": round(time.monotonic() - started)})
    assert not (ROOT / "stacks" / "Pulumi.dev.yaml").read_text().count("encryptionsalt")
    pulumi = local_env.stack().bin_dir / "pulumi"
    outputs = json.loads(subprocess.run([str(pulumi), "stack", "output", "--json", "--show-secrets", "--stack", "dev"],
                                        cwd=project, env=env, capture_output=True, text=True, check=True).stdout)
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
