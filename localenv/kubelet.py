"""A kubelet for process-backed pods: the database, Keycloak and registry pods that the program creates in the
local API server run as real local processes, configured from the pod spec, its Secrets and its volumes.

kwok fakes every other pod. A pod is marked Ready only once its process answers, so the program's readiness
gate and pulumi-kubernetes' await see the real servers; a rollout (new pod) restarts the process from the new
objects. Runs as its own server: ``python -m localenv.kubelet STATE_DIR`` (config in STATE_DIR/kubelet.json).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import requests
import yaml

from components.keycloak import HOME as KEYCLOAK_IMAGE_HOME

from . import processes
from .kubeapi import KubeApi, KubeApiError

POLL_SECONDS = 0.5
LABEL = "app.kubernetes.io/name"
# Fake pod IPs for the status (Endpoints refuse loopback); nothing is ever sent to them.
POD_IPS = {"database": "10.244.0.10", "keycloak": "10.244.0.11", "registry": "10.244.0.12"}


@dataclass(frozen=True)
class KubeletConfig:
    """What the kubelet needs: the API, the namespace, the local binaries and the port mapping.

    ``ports`` maps each component's container ports to loopback ports; ``services`` maps in-cluster
    service host names to the component behind them (so a pod's env can name them).
    """

    server: str
    token: str
    ca_file: str
    namespace: str
    state_dir: str
    tools: dict[str, str]
    ports: dict[str, dict[int, int]]
    services: dict[str, str]
    legacy_registry: dict[str, Any]  # the other registry line, run beside the stack's: {url, port, debug_port}

    @classmethod
    def load(cls, state_dir: Path) -> "KubeletConfig":
        raw = json.loads((state_dir / "kubelet.json").read_text())
        raw["ports"] = {c: {int(k): v for k, v in m.items()} for c, m in raw["ports"].items()}
        return cls(**raw)

    def api(self) -> KubeApi:
        return KubeApi(self.server, self.token, self.ca_file)


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def container_env(api: KubeApi, namespace: str, container: dict) -> dict[str, str]:
    """The container's env as its runtime would see it: plain values and secretKeyRefs resolved."""
    env: dict[str, str] = {}
    for item in container.get("env") or []:
        ref = ((item.get("valueFrom") or {}).get("secretKeyRef"))
        if ref:
            env[item["name"]] = api.secret_data(namespace, ref["name"])[ref["key"]].decode()
        else:
            env[item["name"]] = item.get("value", "")
    return env


def image_tag(image: str) -> str:
    return image.rsplit(":", 1)[1]


def release_line(version: str) -> str:
    """10.11.19-MariaDB-0+deb12u1 -> 10.11"""
    return ".".join(version.split(".")[:2])


def rewrite_paths(value: Any, mounts: dict[str, Path]) -> Any:
    """Every string that names a path under a container mount, moved to the local directory behind it."""
    if isinstance(value, dict):
        return {k: rewrite_paths(v, mounts) for k, v in value.items()}
    if isinstance(value, list):
        return [rewrite_paths(v, mounts) for v in value]
    if isinstance(value, str):
        for mount_path, local in mounts.items():
            if value == mount_path or value.startswith(mount_path.rstrip("/") + "/"):
                return str(local) + value[len(mount_path.rstrip("/")):]
    return value


def link_or_copy(source: str, target: str) -> None:
    """A hard link (no space, no time) where the file system allows one."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def served_on(config: dict, http_port: int, debug_port: int, public_url: str = "", data_dir: Optional[Path] = None) -> dict:
    """A registry config.yml listening on loopback ports; for an instance beside the pod's, its own public URL
    (upload locations name it) and data directory."""
    local = json.loads(json.dumps(config))
    local["http"]["addr"] = f"127.0.0.1:{http_port}"
    local["http"]["debug"] = {**local["http"].get("debug", {}), "addr": f"127.0.0.1:{debug_port}"}
    if public_url:
        local["http"]["host"] = public_url
    if data_dir is not None and "filesystem" in local["storage"]:
        local["storage"]["filesystem"]["rootdirectory"] = str(data_dir)
    return local


@dataclass
class PodProcesses:
    """The processes that run one pod, and what the kubelet last reported for it."""

    pod_name: str
    uid: str
    component: str
    pids: dict[str, int]
    ready_checks: list[Callable[[], bool]]
    restart: Callable[[], dict[str, int]]
    restarts: int = 0
    reported_ready: Optional[bool] = None
    started_at: str = field(default_factory=now)

    def alive(self) -> bool:
        return all(processes.alive(pid) for pid in self.pids.values())

    def ready(self) -> bool:
        return self.alive() and all(check() for check in self.ready_checks)

    def stop(self) -> None:
        for pid in self.pids.values():
            processes.stop(pid)


class Kubelet:
    """Polls the namespace's process-backed pods and keeps one set of processes per live pod."""

    def __init__(self, config: KubeletConfig):
        self.config = config
        self.api = config.api()
        self.state_dir = Path(config.state_dir)
        self.logs = self.state_dir / "logs"
        self.pods: dict[str, PodProcesses] = {}
        self.runtimes: dict[str, Callable[[dict], PodProcesses]] = {
            "database": self._run_database, "keycloak": self._run_keycloak, "registry": self._run_registry}

    # ------------------------------------------------------------------------------- the loop
    def sync(self) -> None:
        """One pass: start new pods, stop deleted ones, restart dead processes, report readiness."""
        try:
            pods = self.api.items(f"/api/v1/namespaces/{self.config.namespace}/pods",
                                  f"{LABEL} in ({','.join(self.runtimes)})")
        except KubeApiError as error:
            if error.status != 404:
                raise
            pods = []
        live = {p["metadata"]["uid"]: p for p in pods if p["spec"].get("nodeName")}
        for uid in list(self.pods):
            pod = live.get(uid)
            if pod is None or pod["metadata"].get("deletionTimestamp"):
                self._stop(uid, pod)
        for uid, pod in live.items():
            if pod["metadata"].get("deletionTimestamp") or uid in self.pods:
                continue
            component = pod["metadata"]["labels"][LABEL]
            try:
                self.pods[uid] = self.runtimes[component](pod)
            except Exception as error:  # a pod that cannot start stays not ready; say why, try again later
                self.log(f"cannot start {pod['metadata']['name']}: {error}")
                continue
            self.log(f"started {pod['metadata']['name']} ({component}): {self.pods[uid].pids}")
        for uid, running in self.pods.items():
            if not running.alive():
                self.log(f"{running.pod_name}: a process exited; restarting")
                running.stop()
                running.pids = running.restart()
                running.restarts += 1
            self._report(running, live[uid])
        self._write_status()

    def _report(self, running: PodProcesses, pod: dict) -> None:
        """Patch the pod's status when it differs from what the processes show (the node lifecycle
        controller may have marked it not ready meanwhile, as it does for a real kubelet)."""
        ready = running.ready()
        conditions = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions") or []}
        if conditions.get("Ready") == ("True" if ready else "False") and running.reported_ready == ready:
            return
        stamp = now()
        conditions = [{"type": t, "status": "True" if ok else "False", "lastTransitionTime": stamp}
                      for t, ok in (("PodScheduled", True), ("Initialized", True), ("ContainersReady", ready), ("Ready", ready))]
        ip = POD_IPS[running.component]
        status = {"phase": "Running", "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}], "podIP": ip,
                  "podIPs": [{"ip": ip}], "startTime": running.started_at, "conditions": conditions,
                  "containerStatuses": [{"name": running.component, "image": "", "imageID": "", "ready": ready,
                                         "started": True, "restartCount": running.restarts,
                                         "state": {"running": {"startedAt": running.started_at}}}]}
        try:
            self.api.merge_patch(f"/api/v1/namespaces/{self.config.namespace}/pods/{running.pod_name}/status",
                                 {"status": status})
            running.reported_ready = ready
            self.log(f"{running.pod_name}: ready={ready}")
        except KubeApiError as error:
            self.log(f"{running.pod_name}: status not reported: {error}")

    def _stop(self, uid: str, pod: Optional[dict]) -> None:
        running = self.pods.pop(uid)
        running.stop()
        self.log(f"stopped {running.pod_name}")
        if pod is not None:  # no real kubelet confirms the deletion: finish it
            self.api.call("DELETE", f"/api/v1/namespaces/{self.config.namespace}/pods/{running.pod_name}",
                          json={"gracePeriodSeconds": 0}, expect=(200, 202, 404))

    def stop_all(self) -> None:
        for uid in list(self.pods):
            self.pods.pop(uid).stop()
        self._write_status()

    def _write_status(self) -> None:
        status = {p.component: {"pod": p.pod_name, "uid": uid, "pids": p.pids, "ready": p.reported_ready,
                                "restarts": p.restarts} for uid, p in self.pods.items()}
        path = self.state_dir / "kubelet-status.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(status, indent=2))
        tmp.replace(path)

    def log(self, message: str) -> None:
        print(f"{now()} {message}", flush=True)

    # ------------------------------------------------------------------------------- helpers
    def _container(self, pod: dict) -> dict:
        return pod["spec"]["containers"][0]

    def _pod_dir(self, pod: dict) -> Path:
        path = self.state_dir / "pods" / pod["metadata"]["name"]
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _mounts(self, pod: dict) -> dict[str, Path]:
        """Each volume mount of the container as a local path: Secrets and ConfigMaps written out, claims
        persistent; a sub-path mount of a written-out volume is the one file."""
        volumes = {v["name"]: v for v in pod["spec"].get("volumes") or []}
        mounts: dict[str, Path] = {}
        for mount in self._container(pod).get("volumeMounts") or []:
            volume = volumes[mount["name"]]
            if "projected" in volume:  # the service-account token admission adds; no server here reads it
                continue
            if "secret" in volume or "configMap" in volume:
                local = self._pod_dir(pod) / "volumes" / mount["name"]
                local.mkdir(parents=True, exist_ok=True)
                for key, value in self._volume_files(volume).items():
                    (local / key).write_bytes(value)
            elif "persistentVolumeClaim" in volume:  # the bound volume's data: a new claim starts empty
                claim = self.api.get(f"/api/v1/namespaces/{self.config.namespace}/persistentvolumeclaims/"
                                     f"{volume['persistentVolumeClaim']['claimName']}")
                if not claim or not claim["spec"].get("volumeName"):
                    raise ValueError(f"claim {volume['persistentVolumeClaim']['claimName']} is not bound")
                local = self.state_dir / "volumes" / claim["spec"]["volumeName"]
            else:
                raise ValueError(f"volume {mount['name']}: only Secret, ConfigMap and PVC volumes are supported locally")
            if mount.get("subPath"):
                local = local / mount["subPath"]
            if not local.exists():
                local.mkdir(parents=True)
            mounts[mount["mountPath"]] = local
        return mounts

    def _volume_files(self, volume: dict) -> dict[str, bytes]:
        """The files a Secret or ConfigMap volume holds, as the API server has them now."""
        if "secret" in volume:
            return self.api.secret_data(self.config.namespace, volume["secret"]["secretName"])
        name = volume["configMap"]["name"]
        config_map = self.api.get(f"/api/v1/namespaces/{self.config.namespace}/configmaps/{name}")
        if not config_map:
            raise ValueError(f"config map {name} does not exist")
        return {**{key: value.encode() for key, value in (config_map.get("data") or {}).items()},
                **{key: base64.b64decode(value) for key, value in (config_map.get("binaryData") or {}).items()}}

    def _port(self, component: str, container_port: int) -> int:
        return self.config.ports[component][container_port]

    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> int:
        return processes.start(name, argv, self.logs, env=env)

    # ------------------------------------------------------------------------------- runtimes
    def _run_database(self, pod: dict) -> PodProcesses:
        """What the mariadb image's entrypoint does: initialise the data directory once, create the
        database and the user from the env, then serve."""
        container, tools = self._container(pod), self.config.tools
        local = subprocess.run([tools["MARIADBD"], "--version"], capture_output=True, text=True).stdout.split(" Ver ")[-1]
        if release_line(image_tag(container["image"])) != release_line(local):
            raise ValueError(f"the pod runs {container['image']}, the local server is MariaDB {local.split()[0]}")
        env = container_env(self.api, self.config.namespace, container)
        prefix = "MARIADB" if "MARIADB_USER" in env else "MYSQL"
        data = self._mounts(pod)["/var/lib/mysql"]
        run = self._pod_dir(pod) / "run"
        run.mkdir(exist_ok=True)
        socket = run / "mysqld.sock"
        port = self._port("database", int(container["ports"][0]["containerPort"]))
        fresh = not (data / "mysql").exists()
        if fresh:
            subprocess.run([tools["MARIADB_INSTALL_DB"], "--no-defaults", f"--datadir={data}", "--user=root",
                            "--auth-root-authentication-method=normal", "--skip-test-db"], check=True, capture_output=True)

        def start() -> dict[str, int]:
            return {"mariadb": self._start("mariadb", [
                tools["MARIADBD"], "--no-defaults", f"--datadir={data}", f"--socket={socket}", f"--port={port}",
                f"--pid-file={run}/mysqld.pid", "--bind-address=127.0.0.1", "--user=root", f"--tmpdir={run}",
                "--skip-name-resolve", "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci"], {})}

        pids = start()
        processes.wait_until("MariaDB", lambda: socket.exists() and processes.port_open(port), pids["mariadb"], 60,
                             self.logs / "mariadb.log")
        if fresh:
            db, user, password = env[f"{prefix}_DATABASE"], env[f"{prefix}_USER"], env[f"{prefix}_PASSWORD"]
            sql = (f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; "
                   f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'; GRANT ALL ON `{db}`.* TO '{user}'@'%'; "
                   f"ALTER USER 'root'@'localhost' IDENTIFIED BY '{env[f'{prefix}_ROOT_PASSWORD']}';")
            subprocess.run([tools["MARIADB_CLIENT"], "--no-defaults", f"--socket={socket}", "-uroot", "-e", sql],
                           check=True, capture_output=True)
        return PodProcesses(pod["metadata"]["name"], pod["metadata"]["uid"], "database", pids,
                            [lambda: processes.port_open(port)], start)

    def _run_keycloak(self, pod: dict) -> PodProcesses:
        """`kc.sh start` with the pod's env; addresses mapped to loopback (the only change)."""
        container, tools = self._container(pod), self.config.tools
        version = image_tag(container["image"])
        if version != tools["KEYCLOAK_VERSION"]:
            raise ValueError(f"the pod runs Keycloak {version}, the local install is {tools['KEYCLOAK_VERSION']}")
        env = container_env(self.api, self.config.namespace, container)
        db_component = self.config.services[env["KC_DB_URL_HOST"]]
        management = self._port("keycloak", int(env["KC_HTTP_MANAGEMENT_PORT"]))
        env.update({"KC_DB_URL_HOST": "127.0.0.1",
                    "KC_DB_URL_PORT": str(self._port(db_component, int(env["KC_DB_URL_PORT"]))),
                    "KC_HTTP_HOST": "127.0.0.1",
                    "KC_HTTP_PORT": str(self._port("keycloak", int(env["KC_HTTP_PORT"]))),
                    "KC_HTTP_MANAGEMENT_PORT": str(management),
                    "JAVA_HOME": tools["JAVA_HOME"]})

        home = self._keycloak_home(self._mounts(pod))

        def start() -> dict[str, int]:
            return {"keycloak": self._start("keycloak", [f"{home}/bin/kc.sh", *container.get("args", [])], env)}

        return PodProcesses(pod["metadata"]["name"], pod["metadata"]["uid"], "keycloak", start(),
                            [processes.http_ok(f"http://127.0.0.1:{management}/health/ready")], start)

    def _keycloak_home(self, mounts: dict[str, Path]) -> Path:
        """The installed Keycloak with the pod's files under /opt/keycloak (the extension jar) in place: one copy
        per set of such files (its big lib/lib hard-linked), so `kc.sh start` builds them in once per set."""
        files = {path[len(KEYCLOAK_IMAGE_HOME) + 1:]: local for path, local in sorted(mounts.items())
                 if path.startswith(KEYCLOAK_IMAGE_HOME + "/") and local.is_file()}
        digest = hashlib.sha256()
        for relative, local in files.items():
            digest.update(relative.encode() + b"\0" + hashlib.sha256(local.read_bytes()).digest())
        home = self.state_dir / "keycloak-homes" / digest.hexdigest()[:16]
        if not home.exists():
            installed, staging = Path(self.config.tools["KEYCLOAK_HOME"]), home.with_suffix(".tmp")
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(installed, staging, symlinks=True, ignore=shutil.ignore_patterns("lib"))
            shutil.copytree(installed / "lib", staging / "lib", symlinks=True, ignore=shutil.ignore_patterns("lib"))
            shutil.copytree(installed / "lib" / "lib", staging / "lib" / "lib", copy_function=link_or_copy)
            for relative, local in files.items():
                (staging / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(local, staging / relative)
            staging.rename(home)
        return home

    def _run_registry(self, pod: dict) -> PodProcesses:
        """The pod's `registry serve` on its mounted config and certificates, and the other registry line
        beside it from the very same files (at its own address, with its own data)."""
        container, tools = self._container(pod), self.config.tools
        mounts = self._mounts(pod)
        config = rewrite_paths(yaml.safe_load(Path(rewrite_paths(container["command"][-1], mounts)).read_text()), mounts)
        tag = image_tag(container["image"])
        line = "2.8" if tag.startswith("2.8.") else "3"
        if line == "3" and tag != tools["REGISTRY3_VERSION"]:
            raise ValueError(f"the pod runs registry {tag}, the local build is {tools['REGISTRY3_VERSION']}")
        binaries = {"3": tools["REGISTRY3_BIN"], "2.8": tools["REGISTRY2_BIN"]}
        other, legacy = "2.8" if line == "3" else "3", self.config.legacy_registry

        def container_port(addr: str) -> int:
            return self._port("registry", int(addr.rsplit(":", 1)[1]))
        http_port, debug_port = container_port(config["http"]["addr"]), container_port(config["http"]["debug"]["addr"])
        # The other line keeps its blobs beside the pod's, on the same claim's volume: they outlive the pod.
        pod_data = (config["storage"].get("filesystem") or {}).get("rootdirectory")
        beside_data = Path(f"{pod_data}-registry-{other}") if pod_data else None
        instances = {  # name -> (binary, config, debug port)
            f"registry-{line}": (binaries[line], served_on(config, http_port, debug_port), debug_port),
            f"registry-{other}": (binaries[other], served_on(config, legacy["port"], legacy["debug_port"], legacy["url"],
                                                             beside_data), legacy["debug_port"]),
        }
        files = {}
        for name, (_, instance_config, _) in instances.items():
            files[name] = self._pod_dir(pod) / f"{name}.yml"
            files[name].write_text(yaml.safe_dump(instance_config))
        env = container_env(self.api, self.config.namespace, container)

        def start() -> dict[str, int]:
            return {name: self._start(name, [binary, "serve", str(files[name])], env)
                    for name, (binary, _, _) in instances.items()}

        checks = [processes.http_ok(f"http://127.0.0.1:{debug}/debug/health") for _, _, debug in instances.values()]
        return PodProcesses(pod["metadata"]["name"], pod["metadata"]["uid"], "registry", start(), checks, start)


def main() -> int:
    state_dir = Path(sys.argv[1])
    kubelet = Kubelet(KubeletConfig.load(state_dir))
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    kubelet.log("kubelet started")
    try:
        while not stopping:
            try:
                kubelet.sync()
            except (requests.RequestException, KubeApiError, OSError) as error:
                kubelet.log(f"sync failed: {error}")
            time.sleep(POLL_SECONDS)
    finally:
        kubelet.stop_all()
        kubelet.log("kubelet stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
