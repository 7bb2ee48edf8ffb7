"""The whole system on one real node, deployed by the program itself: a Kubernetes control plane and a node
(localenv.cluster, localenv.node), the images built here imported into the node's containerd, then `pulumi up` of
the local stack through the real engine. The kubelet runs the pods the program created from their specs alone;
the public URLs are NodePorts on 127.0.0.1. Beside the stack's registry the environment runs the other registry
line as a second Deployment made from the stack's own (same config Secret, same keys), so tests cover both.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

import yaml

from components.registry import CONFIG_SECRET, HTTP_PORT
from lib import kube
from lib.database_restore import Restore, command_runner
from lib.keycloak_admin import KeycloakAdmin
from settings import Settings, other_registry_line, parse_settings, registry_line, stack_file_values

from . import identity_provider, images, ldap, pods, processes, prometheus, s3
from .cluster import APISERVER_PORT, ETCD_PEER_PORT, ETCD_PORT, LocalCluster
from .cluster import versions as cluster_versions
from .kubeapi import KubeApi
from .node import (
    KUBE_PROXY_HEALTHZ_PORT,
    KUBE_PROXY_METRICS_PORT,
    KUBE_ROUTER_HEALTH_PORT,
    KUBELET_HEALTHZ_PORT,
    KUBELET_PORT,
    NODE_IP,
    Node,
    NodeFiles,
    cleanup_host,
)
from .stack import LocalStack

ROOT = Path(__file__).resolve().parents[1]
STATE_DIR = ROOT / ".localenv"
LOCAL_STACK = ROOT / "stacks" / "Pulumi.local.yaml"
# The other registry line: a Deployment and a NodePort Service beside the stack's registry.
OTHER_LINE_NAME = "registry-other-line"
OTHER_LINE_NODE_PORT = 31528
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")


def local_stack_values(state_dir: Path = STATE_DIR) -> tuple[dict[str, str], frozenset[str]]:
    """The committed local stack's config as the program gets it, with what `up` sets: the directory's CA
    (localenv/ldap.py), and placeholders for the secrets it generates (the bind password, the SSO client's secret)."""
    raw, secret_keys = stack_file_values(yaml.safe_load(LOCAL_STACK.read_text()).get("config"))
    generated: dict[str, str] = {}
    if raw.get("ldapBindDn") and "ldapBindCredential" not in raw:
        generated |= {"ldapBindCredential": "set-by-localenv-up", "ldapCaCertificate": ldap.ca_certificate(state_dir)}
    if raw.get("ssoIssuer") and "ssoClientSecret" not in raw:
        generated |= {"ssoClientSecret": "set-by-localenv-up"}
    return {**raw, **generated}, secret_keys | ({"ldapBindCredential", "ssoClientSecret"} & set(generated))


def local_settings() -> Settings:
    return parse_settings(*local_stack_values())


def port_of(url: str) -> int:
    return urlsplit(url).port or 80


def line_of(image: str) -> str:
    """The registry line an image tag belongs to: 2.8 or 3."""
    return registry_line(image.rsplit(":", 1)[1])


def copy_labels(name: str) -> dict[str, str]:
    """Labels of a registry copy: its own name, so the stack's Service never selects it."""
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "localenv"}


def registry_copy(registry: dict, name: str, image: str, public_url: str, claim: str = "",
                  config_secret: str = "", bucket: str = "") -> dict:
    """A Deployment of the stack's registry pod (as the API server has it) under another name and image: its own
    data (on ``claim``, else scratch; on S3, its own ``bucket``), upload URLs naming its own NodePort, and optionally
    another config Secret."""
    labels = copy_labels(name)
    template = copy.deepcopy(registry["spec"]["template"])
    template["metadata"] = {"labels": labels, "annotations": template["metadata"].get("annotations") or {}}
    container = template["spec"]["containers"][0]
    container["image"] = image
    overrides = {"REGISTRY_HTTP_HOST": public_url, **({"REGISTRY_STORAGE_S3_BUCKET": bucket} if bucket else {})}
    container["env"] = [e for e in container.get("env") or [] if e["name"] not in overrides] + \
        [{"name": key, "value": value} for key, value in overrides.items()]
    volumes = []
    for volume in template["spec"].get("volumes") or []:
        if "persistentVolumeClaim" in volume:
            volume = {"name": volume["name"], **({"persistentVolumeClaim": {"claimName": claim}} if claim else
                                                 {"emptyDir": {}})}
        elif config_secret and (volume.get("secret") or {}).get("secretName") == CONFIG_SECRET:
            volume = {**volume, "secret": {**volume["secret"], "secretName": config_secret}}
        volumes.append(volume)
    template["spec"]["volumes"] = volumes
    template["spec"].pop("affinity", None)  # it names the stack's registry pods, not the copy's
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": registry["metadata"]["namespace"], "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template,
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0}}}}


def claim(namespace: str, name: str, size: str) -> dict:
    """A claim on the node's default StorageClass."""
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": namespace, "labels": copy_labels(name)},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}}


def node_port_service(namespace: str, name: str, node_port: int) -> dict:
    """A NodePort Service (127.0.0.1:node_port) in front of a registry copy."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "labels": copy_labels(name)},
            "spec": {"type": "NodePort", "selector": copy_labels(name), "ports": [
                {"name": "http", "port": HTTP_PORT, "targetPort": HTTP_PORT, "nodePort": node_port}]}}


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
        state: dict[str, Any] = {"pids": {}, "timings": {}, "node": {}}
        try:
            state["tools"] = self.install()
            state["timings"]["install"] = round(time.monotonic() - started, 1)
            self._save(state)
            node = self.node(state)
            node.prepare_host(state["node"])
            self._save(state)
            cluster = LocalCluster(self.state_dir / "cluster", Path(state["tools"]["KUBE_BIN_DIR"]), self.logs)
            api, daemon_tokens = cluster.start(state["pids"])
            state["kube_token"] = api.token
            state["timings"]["control_plane"] = round(time.monotonic() - started, 1)
            self._save(state)
            node.start(state["pids"], api, daemon_tokens, cluster.files / "ca.crt", self._import_images)
            state["timings"]["node"] = round(time.monotonic() - started, 1)
            self._save(state)
            stack = self.stack(state)
            stack.init()
            if self.settings.registry.storage == "s3":
                s3.start(api, self.settings, self.state_dir)
                for key, value in zip(("s3AccessKey", "s3SecretKey"), s3.credentials(self.state_dir)):
                    stack.run("config", "set", "--secret", "--", key, value)  # a generated value may begin with -
                state["timings"]["s3"] = round(time.monotonic() - started, 1)
            if self.settings.realm.directory:
                ldap.start(api, self.settings, self.state_dir)
                stack.run("config", "set", "--secret", "--", "ldapBindCredential",
                          ldap.passwords(self.state_dir)["keycloak"])
                stack.run("config", "set", "--", "ldapCaCertificate", ldap.ca_certificate(self.state_dir))
                state["timings"]["directory"] = round(time.monotonic() - started, 1)
            if self.settings.realm.sso:
                stack.run("config", "set", "--secret", "--", "ssoClientSecret",
                          identity_provider.generated(self.state_dir)["client"])
            deployed = time.monotonic()
            stack.up()
            state["timings"]["pulumi_up"] = round(time.monotonic() - deployed, 1)
            if self.settings.realm.sso:
                out = stack.outputs()
                identity_provider.ensure(KeycloakAdmin(out["keycloakUrl"], out["keycloakAdminUsername"],
                                                       out["keycloakAdminPassword"]), self.settings, self.state_dir)
            state["pids"].update(prometheus.start(self.settings, self.state_dir, self.logs))
            state["pids"]["other-line"] = processes.start("other-line", [
                sys.executable, "-u", "-m", "localenv.other_line", str(self.state_dir)], self.logs, cwd=ROOT)
            self._save(state)
            processes.wait_until("the other registry line", lambda: self.other_line_ready(api),
                                 state["pids"]["other-line"], 180, self.logs / "other-line.log")
            dead = [name for name, pid in state["pids"].items() if not processes.alive(pid)]
            if dead:
                raise processes.ServerError(f"{', '.join(dead)} exited during start-up (logs: .localenv-failed-logs/)")
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
        """A failed `up` tears everything down; its logs (servers and pods) go to .localenv-failed-logs/."""
        kept = self.state_dir.parent / ".localenv-failed-logs"
        shutil.rmtree(kept, ignore_errors=True)
        if self.logs.exists():
            shutil.copytree(self.logs, kept)
        pod_logs = self.node_files / "pod-logs"
        if pod_logs.exists():
            shutil.copytree(pod_logs, kept / "pods", dirs_exist_ok=True)
        if kept.exists():
            print(f"localenv: up failed; logs kept in {kept}", file=sys.stderr)

    def down(self) -> None:
        """Stop the node (its pods with it), then the control plane, and undo what the node did to the host; remove
        .localenv (caches stay)."""
        state = self._load()
        pids = state.get("pids") or {}
        if "other-line" in pids:
            processes.stop(pids.pop("other-line"))
        if state.get("tools"):
            self.node(state).stop(pids)
        for name in reversed(CONTROL_PLANE):
            if name in pids:
                processes.stop(pids.pop(name))
        for pid in pids.values():
            processes.stop(pid)
        cleanup_host(self.node_files, state.get("node") or {})
        if self.state_dir.exists():
            shutil.rmtree(self.state_dir)

    def running(self) -> bool:
        state = self._load()
        pids = state.get("pids") or {}
        return bool(pids) and self.env_file.exists() and all(processes.alive(pid) for pid in pids.values()) and \
            self.kube().ready()

    def listening_ports(self) -> list[str]:
        """Every address this environment serves on ("host:port"), for checks that `down` left nothing behind."""
        loopback = [ETCD_PORT, ETCD_PEER_PORT, KUBELET_HEALTHZ_PORT, KUBE_PROXY_METRICS_PORT, KUBE_PROXY_HEALTHZ_PORT,
                    KUBE_ROUTER_HEALTH_PORT, port_of(self.settings.keycloak.public_url),
                    port_of(self.settings.registry.public_url), OTHER_LINE_NODE_PORT, prometheus.PORT]
        addresses = [("127.0.0.1", p) for p in loopback] + [(NODE_IP, APISERVER_PORT), (NODE_IP, KUBELET_PORT)]
        serving = processes.listening()
        return [f"{host}:{port}" for host, port in addresses
                if (host, port) in serving or ("0.0.0.0", port) in serving
                or host.startswith("127.") and processes.port_open(port, host)]  # NodePorts are iptables rules

    @property
    def node_files(self) -> NodeFiles:
        """Where the node keeps its state, volumes and pod logs."""
        return NodeFiles(self.state_dir / "node")

    def node(self, state: Optional[dict] = None) -> Node:
        state = state or self._load()
        return Node(self.node_files.base, Path(state["tools"]["NODE_BIN_DIR"]), self.logs)

    def stack(self, state: Optional[dict] = None) -> LocalStack:
        state = state or self._load()
        return LocalStack(self.state_dir, Path(state["tools"]["ENGINE_BIN_DIR"]),
                          self.state_dir / "cluster" / "kubeconfig")

    def database_restore(self) -> Restore:
        """lib.database_restore's steps against this environment: its engine and stack, its node's kubectl."""
        stack, tools = self.stack(), self._load()["tools"]

        def pulumi(args, stdin=None) -> subprocess.CompletedProcess:
            return subprocess.run(stack.command(args), cwd=ROOT, env=stack.environment(), input=stdin,
                                  capture_output=True, text=True)
        kubectl = [str(Path(tools["NODE_BIN_DIR"]) / "kubectl"), "--kubeconfig", str(stack.kubeconfig)]
        return Restore(pulumi, command_runner(kubectl))

    def kube(self) -> KubeApi:
        state = self._load()
        return LocalCluster(self.state_dir / "cluster", Path(state["tools"]["KUBE_BIN_DIR"]),
                            self.logs).api(state["kube_token"])

    def admin(self) -> KeycloakAdmin:
        env = json.loads(self.env_file.read_text())
        return KeycloakAdmin(env["keycloak_url"], env["admin"]["username"], env["admin"]["password"])

    def database_query(self, sql: str) -> list[str]:
        """Rows of one SQL statement in Keycloak's database, tab-separated, run by the database's own client in its
        container, with the credentials of the stack's Secret."""
        database = self.workload("database")
        credentials = self.kube().secret_data(self.settings.namespace, "keycloak-db-credentials")
        result = subprocess.run(
            ["nsenter", "-t", str(database["pids"][0]), "-m", "-n", "--", "mariadb", "-N",
             "-u", credentials["username"].decode(), f"-p{credentials['password'].decode()}",
             self.settings.database.name, "-e", sql], capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise processes.ServerError(f"{sql!r} failed: {result.stderr.strip()}")
        return result.stdout.splitlines()

    def ensure_identity_provider(self) -> None:
        """The local single sign-on provider's realm, again if a test redeployed Keycloak's database."""
        identity_provider.ensure(self.admin(), self.settings, self.state_dir)

    def kubectl(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
        """The node's kubectl (the pinned version) against this environment; result unchecked."""
        tools = self._load()["tools"]
        return subprocess.run([str(Path(tools["NODE_BIN_DIR"]) / "kubectl"), "--kubeconfig",
                               str(self.state_dir / "cluster" / "kubeconfig"), *args], input=stdin,
                              capture_output=True, text=True, timeout=120)

    def pods(self, component: str, include_terminating: bool = False) -> list[dict]:
        """The live pods of one workload of the stack (or OTHER_LINE_NAME), oldest first."""
        pods = self.kube().items(f"/api/v1/namespaces/{self.settings.namespace}/pods",
                                 f"{next(iter(kube.labels(component)))}={component}")
        live = [p for p in pods if include_terminating or not p["metadata"].get("deletionTimestamp")]
        return sorted(live, key=lambda p: p["metadata"]["creationTimestamp"])

    def workload(self, component: str) -> dict[str, Any]:
        """The newest live pod of a workload as the kubelet reports it, with its container's host pids; {} if none."""
        live = self.pods(component)
        if not live:
            return {}
        pod = live[-1]
        container = pods.container_of(pod)
        status = next((c for c in (pod.get("status") or {}).get("containerStatuses") or []
                       if c["name"] == container), {})
        try:
            pids = pods.container_pids(pod, container)
        except (pods.PodNotRunning, OSError, KeyError):
            pids = []
        return {"pod": pod["metadata"]["name"], "uid": pod["metadata"]["uid"], "ready": bool(status.get("ready")),
                "restarts": status.get("restartCount", 0), "pids": pids,
                "container_id": (status.get("containerID") or "").split("://")[-1]}

    def wait_for_registries(self, timeout: float = 180) -> None:
        """After a `pulumi up`: until the other line's copy has caught up with the stack's registry (same pod
        template annotations: keys, config), both Deployments are rolled out and their old pods are gone (a
        terminating pod serves through its preStop pause, and proxies drop it only a moment after it stops being
        ready: a request may reach it until it has exited)."""
        api, namespace = self.kube(), self.settings.namespace

        def annotations(name: str) -> Optional[dict]:
            deployment = api.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
            return deployment and deployment["spec"]["template"]["metadata"].get("annotations")

        def only_current_pods() -> bool:
            return all(len(self.pods(name, include_terminating=True)) == len(self.pods(name))
                       for name in ("registry", OTHER_LINE_NAME))

        deadline = time.monotonic() + timeout
        while not (annotations("registry") == annotations(OTHER_LINE_NAME) is not None and
                   api.deployment_available(namespace, "registry") and self.other_line_ready(api) and
                   only_current_pods()):
            if time.monotonic() > deadline:
                raise processes.ServerError(f"the registry Deployments did not settle within {timeout:.0f}s")
            time.sleep(0.5)

    def wait_for_keycloak(self, timeout: float = 180) -> None:
        """Until every Keycloak replica is ready, no old pod is left and the Service routes to exactly those pods: a
        test that disturbed Keycloak or its database leaves it settled (a pod not yet routed, or one whose readiness
        still follows the database, refuses or drops the next test's first connections)."""
        api, namespace = self.kube(), self.settings.namespace
        replicas = self.settings.keycloak.replicas

        def settled() -> bool:
            return api.deployment_available(namespace, "keycloak") and \
                len(self.pods("keycloak", include_terminating=True)) == replicas and \
                api.serving_endpoints(namespace, "keycloak") == (replicas, 0)

        deadline = time.monotonic() + timeout
        while not settled():
            if time.monotonic() > deadline:
                raise processes.ServerError(f"Keycloak did not settle within {timeout:.0f}s")
            time.sleep(0.5)

    def registry_workload(self, line: str) -> str:
        """The workload serving one registry line: the stack's registry or the copy beside it."""
        return "registry" if line == self.settings.registry.line else OTHER_LINE_NAME

    def other_line_url(self) -> str:
        return f"http://127.0.0.1:{OTHER_LINE_NODE_PORT}"

    def other_line_ready(self, api: Optional[KubeApi] = None) -> bool:
        api = api or self.kube()
        return api.deployment_available(self.settings.namespace, OTHER_LINE_NAME) and \
            processes.http_ok(f"{self.other_line_url()}/v2/", expect=(401,))()

    def write_env_json(self) -> dict[str, Any]:
        """.localenv/env.json from the stack's outputs: what a person or a test needs to log in."""
        state = self._load()
        out = self.stack(state).outputs()
        server_versions = state.get("versions") or {}
        access = out["repositoryAccess"]
        line = self.settings.registry.line
        other = other_registry_line(line)
        env = {
            "keycloak_url": out["keycloakUrl"],
            "admin": {"username": out["keycloakAdminUsername"], "password": out["keycloakAdminPassword"]},
            "realm": out["realm"],
            "service": out["tokenService"],
            "issuer": out["tokenIssuer"],
            "token_realm": out["tokenRealm"],
            "users": [{"username": u, "password": out["userPasswords"][u],
                       "teams": [t for t, members in access["teams"].items() if u in members]}
                      for u in out["usernames"]],
            # in the stack's order, with each robot's expiry (the first robots of the local stack do not expire)
            "robots": [{"username": r["robot"], "password": out["robotPasswords"][r["robot"]],
                        "expires_at": r.get("expiresAt")} for r in access["robots"]],
            "repository_access": access,
            "registries": [
                {"line": line, "url": out["registryUrl"], "version": server_versions.get(f"registry-{line}", "")},
                {"line": other, "url": self.other_line_url(), "version": server_versions.get(f"registry-{other}", "")},
            ],
            "kubeconfig": str(self.state_dir / "cluster" / "kubeconfig"),
            "prometheus_url": f"http://127.0.0.1:{prometheus.PORT}",
            "namespace": out["namespace"],
        }
        if self.settings.realm.sso:  # the provider's people and passwords (localenv/identity_provider.py)
            people = identity_provider.generated(self.state_dir)
            env["sso"] = {"realm": identity_provider.REALM, "users": {name: people[name]
                                                                       for name in identity_provider.PEOPLE}}
        if self.settings.realm.directory:  # the directory's people and their generated passwords (localenv/ldap.py)
            env["directory"] = {"namespace": ldap.NAMESPACE, "suffix": ldap.SUFFIX, "users": {
                uid: password for uid, password in ldap.passwords(self.state_dir).items()
                if uid not in ("admin", "keycloak")}}
        self.env_file.write_text(json.dumps(env, indent=2) + "\n")
        self.env_file.chmod(0o600)
        return env

    def install(self) -> dict[str, str]:
        """Servers and tools (scripts/lib/install-test-deps), the control plane (scripts/lib/kube-binaries), the node
        (scripts/lib/node-binaries) and the engine (scripts/lib/pulumi-engine) side by side, and the images as soon as
        install-test-deps has fetched what they are made of; each built or downloaded once and cached. Fails
        naming what could not be obtained."""
        env = {**os.environ, "KEYCLOAK_VERSION": self.settings.keycloak.version,
               "REGISTRY3_VERSION": self.settings.registry.version}
        scripts = ("install-test-deps", "kube-binaries", "node-binaries", "pulumi-engine")
        running = {name: subprocess.Popen([str(ROOT / "scripts" / "lib" / name)], env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True) for name in scripts}
        with ThreadPoolExecutor(len(scripts)) as pool:  # each script's output drained as it comes
            output_of = {name: pool.submit(process.communicate) for name, process in running.items()}
            output_of["install-test-deps"].result()
            image_error = ""
            if running["install-test-deps"].returncode == 0:
                for name in images.RECIPES:
                    try:
                        images.build_image(name)
                    except images.BuildError as error:
                        image_error = f"could not obtain the {name} image: {error}"
                        break
            outputs = {name: future.result() for name, future in output_of.items()}
        for name, process in running.items():
            if process.returncode != 0:
                raise processes.ServerError(f"scripts/{name} failed:\n{outputs[name][1][-3000:]}")
        if image_error:
            raise processes.ServerError(image_error)
        tools = dict(line.split("=", 1) for line in outputs["install-test-deps"][0].splitlines() if "=" in line)
        tools["KUBE_BIN_DIR"] = outputs["kube-binaries"][0].strip().splitlines()[-1]
        tools["NODE_BIN_DIR"] = outputs["node-binaries"][0].strip().splitlines()[-1]
        tools["ENGINE_BIN_DIR"] = outputs["pulumi-engine"][0].strip().splitlines()[-1]
        return tools

    # ----------------------------------------------------------------------------------- steps
    def _import_images(self, containerd_address: str) -> None:
        """Every image the node runs, under the names the pod specs use (nothing can be pulled)."""
        for name in images.RECIPES:
            try:
                images.import_image(name, containerd_address)
            except images.BuildError as error:
                raise processes.ServerError(f"could not import the {name} image: {error}") from None

    def _server_versions(self, state: dict) -> dict[str, str]:
        def tag(name: str) -> str:
            return images.reference(name).rsplit(":", 1)[1]
        registry_lines = {line_of(images.reference(n)): tag(n) for n in ("registry", "registry_legacy")}
        return {"keycloak": tag("keycloak"), "mariadb": tag("mariadb"),
                **{f"registry-{line}": version for line, version in registry_lines.items()},
                "containerd": subprocess.run(["containerd", "--version"], capture_output=True,
                                             text=True).stdout.split()[2],
                "pulumi": subprocess.run([str(Path(state["tools"]["ENGINE_BIN_DIR"]) / "pulumi"), "version"],
                                         capture_output=True, text=True).stdout.strip()}

    # ----------------------------------------------------------------------------------- files
    def _save(self, state: dict) -> None:
        """The daemons (prometheus-targets, other-line) read the state while `up` still writes it."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        processes.write_atomically(self.state_file, json.dumps(state, indent=2), mode=0o600)

    def _load(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def state(self) -> dict:
        return self._load()
