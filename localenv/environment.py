"""The whole system on 127.0.0.1, deployed by the program itself: a real Kubernetes control plane (kwok node),
`pulumi up` of the local stack through the real engine, and localenv.kubelet running the database, Keycloak
and registry pods the program created as real processes, configured from those very objects.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

import yaml

from components import database
from components.keycloak import Listen
from components.keycloak_admin import KeycloakAdmin
from components.registry import DEBUG_PORT, HTTP_PORT
from components.settings import Settings, parse_settings, stack_file_values

from . import processes
from .cluster import APISERVER_PORT, ETCD_PEER_PORT, ETCD_PORT, KWOK_PORT, LocalCluster, versions as cluster_versions
from .kubeapi import KubeApi
from .kubelet import KubeletConfig
from .stack import LocalStack

ROOT = Path(__file__).resolve().parents[1]
STATE_DIR = ROOT / ".localenv"
LOCAL_STACK = ROOT / "stacks" / "Pulumi.local.yaml"
# Loopback ports behind the pods' container ports (as a port-forward would give them).
DATABASE_PORT = 13306
KEYCLOAK_MANAGEMENT_PORT = 19000
LEGACY_REGISTRY_PORT = 15028  # the 2.8 line, run beside the stack's (3.x) registry from the same Secrets
PROCESS_BACKED = ("database", "keycloak", "registry")


def local_settings() -> Settings:
    doc = yaml.safe_load(LOCAL_STACK.read_text())
    return parse_settings(*stack_file_values(doc.get("config")))


def port_of(url: str) -> int:
    return urlsplit(url).port or 80


class LocalEnvironment:
    def __init__(self, state_dir: Path = STATE_DIR):
        self.state_dir = state_dir
        self.logs = state_dir / "logs"
        self.settings = local_settings()
        self.state_file = state_dir / "state.json"
        self.env_file = state_dir / "env.json"

    # ----------------------------------------------------------------------------------- public
    def up(self) -> dict[str, Any]:
        """Start everything and `pulumi up` the local stack, or report the environment already running."""
        if self.running():
            return json.loads(self.env_file.read_text())
        if self.state_file.exists():
            self.down()
        started = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        state: dict[str, Any] = {"pids": {}, "timings": {}}
        try:
            state["tools"] = self.install()
            self._save(state)
            cluster = LocalCluster(self.state_dir / "cluster", Path(state["tools"]["KUBE_BIN_DIR"]), self.logs)
            api = cluster.start(state["pids"], PROCESS_BACKED)
            state["kube_token"] = api.token
            state["timings"]["control_plane"] = round(time.monotonic() - started, 1)
            self._save(state)
            self._start_kubelet(state, api)
            self._save(state)
            stack = self.stack(state)
            stack.init()
            deployed = time.monotonic()
            stack.up()
            state["timings"]["pulumi_up"] = round(time.monotonic() - deployed, 1)
        except BaseException:
            self._save(state)
            self._keep_logs()
            self.down()
            raise
        state["timings"]["up"] = round(time.monotonic() - started, 1)
        state["versions"] = {**cluster_versions(Path(state["tools"]["KUBE_BIN_DIR"])), **self._server_versions(state)}
        self._save(state)
        return self.write_env_json()

    def _keep_logs(self) -> None:
        """A failed `up` tears everything down; its server logs go to .localenv-failed-logs/ for the post-mortem."""
        kept = self.state_dir.parent / ".localenv-failed-logs"
        shutil.rmtree(kept, ignore_errors=True)
        if self.logs.exists():
            shutil.copytree(self.logs, kept)
            print(f"localenv: up failed; server logs kept in {kept}", file=sys.stderr)

    def down(self) -> None:
        """Stop the kubelet (and the servers it runs), then the control plane; remove .localenv (caches stay)."""
        state = self._load()
        pids = state.get("pids") or {}
        if "kubelet" in pids:
            processes.stop(pids.pop("kubelet"), timeout=90)
        for pod in self.kubelet_status().values():  # if the kubelet died, its servers are still ours to stop
            for pid in pod["pids"].values():
                processes.stop(pid)
        for pid in reversed(list(pids.values())):
            processes.stop(pid)
        if self.state_dir.exists():
            shutil.rmtree(self.state_dir)

    def running(self) -> bool:
        state = self._load()
        pids = state.get("pids") or {}
        return bool(pids) and self.env_file.exists() and all(processes.alive(pid) for pid in pids.values()) and \
            processes.http_ok(f"http://127.0.0.1:{KEYCLOAK_MANAGEMENT_PORT}/health/ready")()

    def listening_ports(self) -> list[int]:
        """Every loopback port this environment serves on, for checks that `down` left nothing behind."""
        keycloak, registry = port_of(self.settings.keycloak.public_url), port_of(self.settings.registry.public_url)
        ports = [ETCD_PORT, ETCD_PEER_PORT, APISERVER_PORT, KWOK_PORT, DATABASE_PORT, keycloak, KEYCLOAK_MANAGEMENT_PORT,
                 registry, registry + 1, LEGACY_REGISTRY_PORT, LEGACY_REGISTRY_PORT + 1]
        return [p for p in ports if processes.port_open(p)]

    def stack(self, state: Optional[dict] = None) -> LocalStack:
        state = state or self._load()
        return LocalStack(self.state_dir, Path(state["tools"]["ENGINE_BIN_DIR"]), self.state_dir / "cluster" / "kubeconfig")

    def kube(self) -> KubeApi:
        state = self._load()
        return LocalCluster(self.state_dir / "cluster", Path(state["tools"]["KUBE_BIN_DIR"]), self.logs).api(state["kube_token"])

    def admin(self) -> KeycloakAdmin:
        env = json.loads(self.env_file.read_text())
        return KeycloakAdmin(env["keycloak_url"], env["admin"]["username"], env["admin"]["password"])

    def write_env_json(self) -> dict[str, Any]:
        """.localenv/env.json from the stack's outputs: what a person or a test needs to log in."""
        state = self._load()
        out = self.stack(state).outputs()
        legacy_url = f"http://127.0.0.1:{LEGACY_REGISTRY_PORT}"
        server_versions = state.get("versions") or {}
        access = out["repositoryAccess"]
        line = self.settings.registry.line
        other = "2.8" if line == "3" else "3"  # the line the kubelet runs beside the stack's
        env = {
            "keycloak_url": out["keycloakUrl"],
            "admin": {"username": out["keycloakAdminUsername"], "password": out["keycloakAdminPassword"]},
            "realm": out["realm"],
            "service": out["tokenService"],
            "issuer": out["tokenIssuer"],
            "token_realm": out["tokenRealm"],
            "users": [{"username": u, "password": out["userPasswords"][u],
                       "teams": [t for t, members in access["teams"].items() if u in members]} for u in out["usernames"]],
            "robots": [{"username": r, "password": p} for r, p in out["robotPasswords"].items()],
            "repository_access": access,
            "registries": [
                {"line": line, "url": out["registryUrl"], "version": server_versions.get(f"registry-{line}", "")},
                {"line": other, "url": legacy_url, "version": server_versions.get(f"registry-{other}", "")},
            ],
            "kubeconfig": str(self.state_dir / "cluster" / "kubeconfig"),
            "namespace": out["namespace"],
        }
        self.env_file.write_text(json.dumps(env, indent=2) + "\n")
        self.env_file.chmod(0o600)
        return env

    def install(self) -> dict[str, str]:
        """Servers (scripts/install-test-deps), the control plane (scripts/kube-binaries) and the engine
        (scripts/pulumi-engine), side by side, each built or downloaded once and cached; fails naming what is missing."""
        env = {**os.environ, "KEYCLOAK_VERSION": self.settings.keycloak.version,
               "REGISTRY3_VERSION": self.settings.registry.version}
        scripts = ("install-test-deps", "kube-binaries", "pulumi-engine")
        running = {name: subprocess.Popen([str(ROOT / "scripts" / name)], env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True) for name in scripts}
        outputs = {name: process.communicate() for name, process in running.items()}
        for name, process in running.items():
            if process.returncode != 0:
                raise processes.ServerError(f"scripts/{name} failed:\n{outputs[name][1][-3000:]}")
        tools = dict(line.split("=", 1) for line in outputs["install-test-deps"][0].splitlines() if "=" in line)
        tools["KUBE_BIN_DIR"] = outputs["kube-binaries"][0].strip().splitlines()[-1]
        tools["ENGINE_BIN_DIR"] = outputs["pulumi-engine"][0].strip().splitlines()[-1]
        return tools

    # ----------------------------------------------------------------------------------- steps
    def _start_kubelet(self, state: dict, api: KubeApi) -> None:
        registry = self.settings.registry
        config = KubeletConfig(
            server=api.server, token=api.token, ca_file=api.ca_file, namespace=self.settings.namespace,
            state_dir=str(self.state_dir), tools=state["tools"],
            ports={"database": {self.settings.database.port: DATABASE_PORT},
                   "keycloak": {Listen().http_port: port_of(self.settings.keycloak.public_url),
                                Listen().management_port: KEYCLOAK_MANAGEMENT_PORT},
                   "registry": {HTTP_PORT: port_of(registry.public_url), DEBUG_PORT: port_of(registry.public_url) + 1}},
            services={database.service_host(self.settings.namespace): "database"},
            legacy_registry={"url": f"http://127.0.0.1:{LEGACY_REGISTRY_PORT}", "port": LEGACY_REGISTRY_PORT,
                             "debug_port": LEGACY_REGISTRY_PORT + 1})
        (self.state_dir / "kubelet.json").write_text(json.dumps(config.__dict__, indent=2))
        (self.state_dir / "kubelet.json").chmod(0o600)
        state["pids"]["kubelet"] = processes.start("kubelet", [sys.executable, "-u", "-m", "localenv.kubelet",
                                                               str(self.state_dir)], self.logs, cwd=ROOT)

    def _server_versions(self, state: dict) -> dict[str, str]:
        tools = state["tools"]

        def version(binary: str) -> str:
            words = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.split()
            return words[-1] if words else "unknown"
        mariadb = subprocess.run([tools["MARIADBD"], "--version"], capture_output=True, text=True).stdout
        return {"keycloak": tools["KEYCLOAK_VERSION"], "registry-3": version(tools["REGISTRY3_BIN"]),
                "registry-2.8": version(tools["REGISTRY2_BIN"]),
                "mariadb": mariadb.split(" Ver ")[-1].split()[0] if mariadb else "unknown",
                "pulumi": subprocess.run([str(Path(tools["ENGINE_BIN_DIR"]) / "pulumi"), "version"],
                                         capture_output=True, text=True).stdout.strip()}

    def kubelet_status(self) -> dict[str, Any]:
        try:
            return json.loads((self.state_dir / "kubelet-status.json").read_text())
        except (OSError, ValueError):
            return {}

    # ----------------------------------------------------------------------------------- files
    def _save(self, state: dict) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(state, indent=2))
        self.state_file.chmod(0o600)

    def _load(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def state(self) -> dict:
        return self._load()
