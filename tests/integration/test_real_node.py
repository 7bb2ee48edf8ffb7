"""What only a real node shows: NetworkPolicy enforced, cgroup limits and a heap sized from them, liveness probes
restarting a container, every process running as its declared uid, in-cluster DNS, and the database's data on the
provisioner's volume. Each is checked from the host (cgroups, /proc, network namespaces) or through the API server."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid

import requests

from components.database import DATA_DIR
from localenv import pods
from settings import other_registry_line
from tests.integration.clients import registry_get, token_for
from tests.integration.load import report
from tests.integration.test_faults import serving, wait_until

BUSYBOX = "docker.io/library/busybox:1.35.0"


def probe_pod(namespace: str, name: str, command: str, pod_labels: dict[str, str]) -> dict:
    """A busybox pod that passes Pod Security `restricted` (as the stack's namespace enforces) and runs ``command``."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace, "labels": pod_labels},
            "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                     "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534,
                                         "seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [{"name": "probe", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent",
                                     "command": ["sh", "-c", command],
                                     "securityContext": {"allowPrivilegeEscalation": False,
                                                         "capabilities": {"drop": ["ALL"]}}}]}}


def run_probe_pod(kube, namespace: str, command: str, pod_labels: dict[str, str]) -> str:
    """Create the pod, wait for it to finish, return its log (read through the API server from the kubelet)."""
    name = f"probe-{uuid.uuid4().hex[:8]}"
    kube.call("POST", f"/api/v1/namespaces/{namespace}/pods", json=probe_pod(namespace, name, command, pod_labels))
    path = f"/api/v1/namespaces/{namespace}/pods/{name}"
    try:
        wait_until(lambda: (kube.get(path) or {}).get("status", {}).get("phase") in ("Succeeded", "Failed"), 120,
                   f"pod {name} finishing")
        return kube.call("GET", f"{path}/log").text
    finally:
        kube.call("DELETE", path, expect=(200, 202, 404))


def connects(pid: int, host: str, port: int) -> bool:
    """Whether a TCP connection from the network namespace of host process ``pid`` reaches host:port within 3 s."""
    code = f"import socket; socket.create_connection(({host!r}, {port}), 3).close()"
    return subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "python3", "-c", code],
                          capture_output=True, timeout=30).returncode == 0


def test_only_keycloak_reaches_the_database_and_pods_resolve_service_names(local_env, kube, env_json):
    """The program's NetworkPolicy, enforced by kube-router: a pod without Keycloak's labels resolves the database's
    name through cluster DNS but cannot open a connection to it; from Keycloak's pod the same connection opens."""
    namespace = env_json["namespace"]
    database = local_env.pods("database")[0]
    host = f"keycloak-db.{namespace}.svc.cluster.local"
    log = run_probe_pod(kube, namespace, f"nslookup {host}; echo BYTES=$(nc -w 3 {host} 3306 </dev/null | wc -c)",
                        {"app.kubernetes.io/name": "intruder"})
    assert database["status"]["podIP"] in log, f"cluster DNS did not resolve {host}: {log}"
    assert "BYTES=0" in log, f"a pod without Keycloak's labels reached the database: {log}"
    keycloak_pid = local_env.workload("keycloak")["pids"][0]
    assert connects(keycloak_pid, database["status"]["podIP"], 3306)
    # nor from another pod of the stack: the registry's
    assert not connects(local_env.workload("registry")["pids"][0], database["status"]["podIP"], 3306)


def test_every_container_runs_as_its_declared_non_root_uid(local_env):
    """Checked from the host: /proc/<pid>/status of every process in each container's cgroup."""
    seen = {}
    for component in ("database", "keycloak", "registry",
                      local_env.registry_workload(other_registry_line(local_env.settings.registry.line))):
        pod = local_env.pods(component)[0]
        declared = pod["spec"]["securityContext"]["runAsUser"]
        processes = pods.container_pids(pod, pods.container_of(pod))
        assert processes, component
        uids = {pods.process_uids(pid) for pid in processes}
        assert uids == {(declared, pod["spec"]["securityContext"]["runAsGroup"])} and declared != 0, (component, uids)
        seen[component] = declared
    report("identity", seen)


def test_limits_are_cgroups_and_keycloak_sizes_its_heap_from_its_limit(local_env):
    """The memory and CPU limits the stack declares are the kernel's (cgroup v1), and the JVM's heap follows the
    memory limit (Keycloak's -XX:MaxRAMPercentage), not the host's 24 GiB."""
    pod = local_env.pods("keycloak")[0]
    container = pod["spec"]["containers"][0]
    memory = pods.container_memory(pod, container["name"])
    declared_mib = float(container["resources"]["limits"]["memory"].removesuffix("Mi"))
    assert memory.limit_mib == declared_mib
    quota = int((pods.container_cgroup(pod, container["name"], "cpu") / "cpu.cfs_quota_us").read_text())
    period = int((pods.container_cgroup(pod, container["name"], "cpu") / "cpu.cfs_period_us").read_text())
    assert quota / period == float(container["resources"]["limits"]["cpu"])
    metrics = requests.get(f"http://{pod['status']['podIP']}:9000/metrics", timeout=10).text
    heap_max = sum(float(m) for m in re.findall(r'^jvm_memory_max_bytes\{area="heap".*?\} (\S+)$', metrics, re.M)
                   if float(m) > 0)
    report("keycloak-limits", {"limit_mib": declared_mib, "heap_max_mib": round(heap_max / 2 ** 20),
                               "cpu_limit": quota / period, "current_mib": memory.current_mib,
                               "peak_mib": memory.peak_mib})
    assert 0.5 * declared_mib < heap_max / 2 ** 20 < declared_mib


def test_a_container_whose_liveness_probe_fails_is_restarted_and_logins_recover(local_env, env_json, user):
    """The registry frozen (SIGSTOP): its liveness probe times out until the kubelet kills and restarts the container
    in the same pod, within the probe's failures and its own short grace period (not the pod's drain-long one);
    then a login and a registry request work again."""
    registry = next(r for r in env_json["registries"] if r["line"] == local_env.settings.registry.line)
    probe = local_env.pods("registry")[0]["spec"]["containers"][0]["livenessProbe"]
    restart_within = (probe["periodSeconds"] * probe["failureThreshold"] + probe["timeoutSeconds"]
                      + probe["terminationGracePeriodSeconds"] + 30)  # 30: a probe's phase, the kill, a new container
    before = local_env.workload("registry")
    os.kill(before["pids"][0], signal.SIGSTOP)
    frozen = time.monotonic()
    try:
        restarted = wait_until(lambda: local_env.workload("registry").get("restarts", 0) > before["restarts"], 300,
                               "the kubelet restarting the frozen registry")
    finally:
        try:
            os.kill(before["pids"][0], signal.SIGCONT)
        except ProcessLookupError:
            pass
    wait_until(lambda: local_env.workload("registry").get("ready"), 120, "the restarted registry ready")
    after = local_env.workload("registry")
    assert after["pod"] == before["pod"] and after["container_id"] != before["container_id"]
    assert restarted < restart_within, (restarted, probe)
    token = token_for(env_json, user["username"], user["password"])
    assert registry_get(registry, token).status_code == 200
    report("liveness", {"restarted_after_s": round(restarted),
                        "serving_again_after_s": round(time.monotonic() - frozen)})


def test_the_database_lives_on_a_volume_the_provisioner_made(local_env, kube, env_json):
    """The claim is bound to a local-path volume under the node's directory, and that directory holds the database
    the image's entrypoint initialised (owned by the database's uid, through the sub-path the pod mounts)."""
    namespace = env_json["namespace"]
    claim = kube.get(f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/keycloak-db-data")
    volume = kube.get(f"/api/v1/persistentvolumes/{claim['spec']['volumeName']}")
    assert volume["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == "rancher.io/local-path"
    host_path = kube.claim_directory(namespace, "keycloak-db-data")
    assert host_path.is_relative_to(local_env.node_files.volumes)
    database = local_env.pods("database")[0]
    mount = next(m for m in database["spec"]["containers"][0]["volumeMounts"] if m["mountPath"] == DATA_DIR)
    data = host_path / mount.get("subPath", "")
    assert (data / "mysql").is_dir() and (data / env_json_database(kube, namespace)).is_dir()
    assert (data.stat().st_uid == database["spec"]["securityContext"]["runAsUser"]
            or oct(data.stat().st_mode)[-3:] == "777")


def env_json_database(kube, namespace: str) -> str:
    """The database name Keycloak connects to, from the Keycloak Deployment's env (KC_DB_URL_DATABASE)."""
    deployment = kube.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/keycloak")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    return env["KC_DB_URL_DATABASE"]



def test_a_killed_container_process_is_restarted_by_the_kubelet_and_serves_again(local_env, env_json, user):
    """SIGKILL from the host to the other registry line's process: the kubelet restarts the container in place."""
    line = other_registry_line(local_env.settings.registry.line)
    workload = local_env.registry_workload(line)
    registry = next(r for r in env_json["registries"] if r["line"] == line)
    before = local_env.workload(workload)
    os.kill(before["pids"][0], signal.SIGKILL)
    back = wait_until(lambda: local_env.workload(workload).get("restarts", 0) > before["restarts"]
                      and local_env.workload(workload).get("ready"), 120, "the killed container restarted and ready")
    assert local_env.workload(workload)["pod"] == before["pod"]
    wait_until(lambda: serving(registry), 30, "the restarted registry serving")
    assert registry_get(registry, token_for(env_json, user["username"], user["password"])).status_code == 200
    report("killed-container", {"ready_again_after_s": round(back)})
