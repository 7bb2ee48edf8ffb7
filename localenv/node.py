"""A real Kubernetes node beside the local control plane, as kind gives one minus the Docker engine: containerd and
runc with the CNI bridge, kubelet and kube-proxy (iptables mode) on the host, kube-router for NetworkPolicy only,
and CoreDNS and local-path-provisioner as pods from images built here (localenv.images).

The node's address is the gateway of a host-only bridge (no uplink, nothing leaves the machine): pods reach the API
server there through the `kubernetes` Service, and the API server reaches the kubelet there. NodePorts listen on
127.0.0.0/8 only. Everything the node changes on the host is recorded in its state and undone by ``cleanup``:
sysctls, iptables chains, ipsets, the bridge, network namespaces, mounts and pod cgroups.
Configuration that works on this kind of machine, and its traps: ../shared/notes/real-node.md.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Callable, Iterable, Sequence

import yaml

from . import processes
from .kubeapi import KubeApi, kubeconfig

NODE_NAME = "local-node"
BRIDGE = "krbr0"
POD_CIDR = "10.244.0.0/24"
NODE_IP = "10.244.0.1"  # the bridge's gateway address: the node's InternalIP and the API server's address
CLUSTER_DNS = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
KUBELET_PORT, KUBELET_HEALTHZ_PORT = 12250, 12248
KUBE_PROXY_METRICS_PORT, KUBE_PROXY_HEALTHZ_PORT = 12249, 12256
KUBE_ROUTER_HEALTH_PORT = 12244
NODE_PORTS_ON = "127.0.0.0/8"
CNI_BIN_DIR = "/usr/lib/cni"
ADDONS = Path(__file__).resolve().parent / "addons"
READY_TIMEOUT = 180
# What the node's daemons (or the environment for them) set on the host; recorded before, restored after.
SYSCTLS = (
    "net.ipv4.ip_forward", "net.ipv4.conf.all.route_localnet", "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables", "kernel.panic", "kernel.panic_on_oops", "vm.overcommit_memory",
    "kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes", "net.netfilter.nf_conntrack_max",
    "net.netfilter.nf_conntrack_tcp_timeout_established", "net.netfilter.nf_conntrack_tcp_timeout_close_wait",
    "net.netfilter.nf_conntrack_tcp_timeout_syn_sent",
)
# What the environment sets itself: IPv4 forwarding and the bridge through iptables (Services between pods), and a
# short life for a SYN nobody answered. While a Service has no ready endpoint, kube-proxy REJECTs the SYNs to its
# NodePort, and each leaves a conntrack entry with no NAT for 120 s; a client on this host soon reuses that source
# port (a refused connect leaves no TIME_WAIT), the SYN matches the stale entry and is refused again although the
# Service is back. Measured: 59 of 734 connects refused in the 15 s after Keycloak came back; 0 with 3 s.
HOST_SETTINGS = {"net.ipv4.ip_forward": "1", "net.bridge.bridge-nf-call-iptables": "1",
                 "net.netfilter.nf_conntrack_tcp_timeout_syn_sent": "3"}
OUR_CHAIN_PREFIXES = ("KUBE-", "CNI-")  # kubelet, kube-proxy, kube-router and the CNI plugins
CGROUP_ROOT = Path("/sys/fs/cgroup")
POD_CGROUP = "kubepods"
# containerd 1.6 keeps shim sockets and runc state under /run/containerd whatever its state directory says.
SHARED_RUN_DIRS = ("/run/containerd/s", "/run/containerd/fifo", "/run/containerd/runc/k8s.io", "/run/containerd/runc",
                   "/run/containerd", "/run/netns", "/var/run/netns")


class NodeError(processes.ServerError):
    """The node could not be set up; the message names the step."""


def sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def read_sysctls(names: Iterable[str] = SYSCTLS) -> dict[str, str]:
    """The current value of each sysctl this kernel has."""
    values = {}
    for name in names:
        try:
            values[name] = sysctl_path(name).read_text().strip()
        except OSError:
            continue
    return values


def write_sysctl(name: str, value: str) -> None:
    sysctl_path(name).write_text(value + "\n")


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(list(argv), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise NodeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


@dataclass(frozen=True)
class NodeFiles:
    """Where the node keeps its configuration, state and volumes: one directory, removed by ``cleanup``."""

    base: Path

    def __truediv__(self, name: str) -> Path:
        return self.base / name

    @property
    def containerd_socket(self) -> Path:
        return self.base / "containerd" / "containerd.sock"

    @property
    def volumes(self) -> Path:
        """local-path-provisioner's directory: every claim's data."""
        return self.base / "volumes"


def containerd_config(files: NodeFiles) -> str:
    """containerd with the CRI plugin: runc on cgroupfs, the pause image built here, the CNI bridge; no
    oom_score_adj below ours (this machine has no CAP_SYS_RESOURCE)."""
    d = files / "containerd"
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{d}/root"
state = "{d}/state"
[grpc]
  address = "{files.containerd_socket}"
[ttrpc]
  address = "{files.containerd_socket}.ttrpc"
[debug]
  address = "{d}/debug.sock"
[{cri}]
  sandbox_image = "registry.k8s.io/pause:3.10"
  restrict_oom_score_adj = true
  enable_unprivileged_ports = false
[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = "{d}/runc"
[{cri}.cni]
  bin_dir = "{CNI_BIN_DIR}"
  conf_dir = "{files / 'cni'}"
"""


def cni_config(files: NodeFiles) -> dict:
    """The pod network: one host-only bridge, host-local addresses, port mappings, loopback."""
    return {
        "cniVersion": "1.0.0", "name": "local-pods",
        "plugins": [
            {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": True, "hairpinMode": True,
             "ipam": {"type": "host-local", "dataDir": str(files / "cni-ipam"), "ranges": [[{
                 "subnet": POD_CIDR, "gateway": NODE_IP}]], "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "loopback"},
        ],
    }


def kubelet_config(files: NodeFiles, ca_file: Path) -> dict:
    """The kubelet on cgroup v1 (allowed until 1.38), cgroupfs, serving on the node address with client-certificate
    and webhook auth (the API server's `logs`/`exec`), images never garbage-collected (they cannot be pulled)."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
        "failCgroupV1": False, "failSwapOn": False, "cgroupDriver": "cgroupfs",
        "containerRuntimeEndpoint": f"unix://{files.containerd_socket}",
        "address": NODE_IP, "port": KUBELET_PORT, "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1", "healthzPort": KUBELET_HEALTHZ_PORT,
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(ca_file)}},
        "authorization": {"mode": "Webhook"},
        "clusterDNS": [CLUSTER_DNS], "clusterDomain": CLUSTER_DOMAIN, "resolvConf": str(files / "resolv.conf"),
        "hairpinMode": "hairpin-veth", "serializeImagePulls": False,
        "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                         "nodefs.inodesFree": "1%"},
        "podLogsDir": str(files / "pod-logs"),
        "cgroupRoot": "/", "rotateCertificates": False, "serverTLSBootstrap": False,
    }


def kube_proxy_config(kubeconfig: Path) -> dict:
    """iptables mode (this kernel has no IPVS); NodePorts on loopback only; conntrack left as the host has it."""
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
        "mode": "iptables", "clientConnection": {"kubeconfig": str(kubeconfig)}, "hostnameOverride": NODE_NAME,
        "clusterCIDR": POD_CIDR, "nodePortAddresses": [NODE_PORTS_ON],
        "metricsBindAddress": f"127.0.0.1:{KUBE_PROXY_METRICS_PORT}",
        "healthzBindAddress": f"127.0.0.1:{KUBE_PROXY_HEALTHZ_PORT}",
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }


def addon_objects(files: NodeFiles) -> list[dict]:
    """CoreDNS and local-path-provisioner, from the manifests in localenv/addons/ (kept close to upstream's)."""
    values = {"CLUSTER_DNS": CLUSTER_DNS, "CLUSTER_DOMAIN": CLUSTER_DOMAIN, "VOLUMES": str(files.volumes)}
    objects = []
    for path in sorted(ADDONS.glob("*.yaml")):
        objects += [doc for doc in yaml.safe_load_all(Template(path.read_text()).substitute(values)) if doc]
    return objects


def api_path(obj: dict) -> str:
    """The REST path of an object, for server-side apply."""
    group_version, kind = obj["apiVersion"], obj["kind"]
    plural = {"ServiceAccount": "serviceaccounts", "ClusterRole": "clusterroles", "ClusterRoleBinding":
              "clusterrolebindings", "ConfigMap": "configmaps", "Deployment": "deployments", "Service": "services",
              "StorageClass": "storageclasses", "Namespace": "namespaces", "Role": "roles",
              "RoleBinding": "rolebindings", "Secret": "secrets",
              "PersistentVolumeClaim": "persistentvolumeclaims"}[kind]
    prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    namespace = obj["metadata"].get("namespace")
    scope = f"/namespaces/{namespace}" if namespace else ""
    return f"{prefix}{scope}/{plural}/{obj['metadata']['name']}"


def single_server(name: str, namespace: str, user_id: int, group_id: int, secret: dict[str, str], claim_size: str,
                  container: dict, volumes: list[dict], service_port: tuple[str, int, int],
                  extra: Sequence[dict] = ()) -> list[dict]:
    """A server the local stack uses: Namespace, a Secret of its own name, its data claim (mounted as volume
    ``data``), a one-replica Deployment (Recreate: the claim is ReadWriteOnce) of ``container`` hardened as the
    program's pods are, and a Service of ``service_port`` (name, port, target port); ``extra`` objects after the
    Secret."""
    labels = {"app.kubernetes.io/name": name}
    meta = {"name": name, "namespace": namespace, "labels": labels}
    port_name, port, target_port = service_port
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": secret},
        *extra,
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta,
         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": claim_size}}}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": {
            "replicas": 1, "strategy": {"type": "Recreate"}, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {
                "securityContext": {"runAsNonRoot": True, "runAsUser": user_id, "runAsGroup": group_id,
                                    "fsGroup": group_id, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{**container, "securityContext": {"allowPrivilegeEscalation": False,
                                                                 "capabilities": {"drop": ["ALL"]}}}],
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": name}}, *volumes],
            }}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": meta,
         "spec": {"selector": labels, "ports": [{"name": port_name, "port": port, "targetPort": target_port}]}},
    ]


def deploy(api: KubeApi, objects: Iterable[dict], namespace: str, name: str, what: str, timeout: float) -> None:
    """Apply ``objects`` and wait until the Deployment ``name`` is available (a server the local stack uses)."""
    for obj in objects:
        api.apply(api_path(obj), obj)
    deadline = time.monotonic() + timeout
    while not api.deployment_available(namespace, name):
        if time.monotonic() > deadline:
            raise processes.ServerError(f"{what} not ready after {timeout:.0f} s; its pods: "
                                        f"{api.items(f'/api/v1/namespaces/{namespace}/pods')}"[:3000])
        time.sleep(1)


class Node:
    """Starts the node's daemons (pids into the environment's state) and undoes everything on ``cleanup``."""

    def __init__(self, base: Path, bin_dir: Path, log_dir: Path):
        self.files = NodeFiles(base)
        self.bin_dir = bin_dir
        self.log_dir = log_dir

    # ------------------------------------------------------------------------------------ host
    def prepare_host(self, record: dict) -> None:
        """Before the API server starts (it listens on the bridge): record what will change, apply HOST_SETTINGS,
        create the bridge."""
        record["sysctls"] = read_sysctls()
        record["run_dirs"] = [d for d in SHARED_RUN_DIRS if Path(d).exists()]
        record["netns"] = sorted(p.name for d in ("/run/netns", "/var/run/netns") if Path(d).is_dir()
                                 for p in Path(d).iterdir())
        for name, value in HOST_SETTINGS.items():
            write_sysctl(name, value)
        if run("ip", "link", "show", BRIDGE, check=False).returncode != 0:
            run("ip", "link", "add", BRIDGE, "type", "bridge")
        run("ip", "addr", "replace", f"{NODE_IP}/{POD_CIDR.split('/')[1]}", "dev", BRIDGE)
        run("ip", "link", "set", BRIDGE, "up")

    # ------------------------------------------------------------------------------------ start
    def start(self, pids: dict[str, int], api: KubeApi, tokens: dict[str, str], ca_file: Path,
              import_images: Callable[[str], None]) -> None:
        """containerd (images imported into it), kubelet, kube-proxy, kube-router; then the add-ons, Ready."""
        f = self.files
        for directory in ("containerd", "cni", "cni-ipam", "kubelet", "pod-logs", "volumes"):
            (f / directory).mkdir(parents=True, exist_ok=True)
        (f / "containerd" / "config.toml").write_text(containerd_config(f))
        (f / "cni" / "10-local-pods.conflist").write_text(json.dumps(cni_config(f), indent=2))
        (f / "resolv.conf").write_text("# pods with dnsPolicy Default: no upstream resolver "
                                       "(nothing leaves the machine)\n")
        for name, token in tokens.items():
            (f / f"{name}.kubeconfig").write_text(yaml.safe_dump(kubeconfig(api.server, ca_file, token)))
            (f / f"{name}.kubeconfig").chmod(0o600)
        (f / "kubelet.yaml").write_text(yaml.safe_dump(kubelet_config(f, ca_file)))
        (f / "kube-proxy.yaml").write_text(yaml.safe_dump(kube_proxy_config(f / "kube-proxy.kubeconfig")))

        pids["containerd"] = processes.start("containerd",
                                             ["containerd", "--config", str(f / "containerd" / "config.toml")],
                                             self.log_dir)
        processes.wait_until("containerd", self.containerd_up, pids["containerd"], 60, self.log_dir / "containerd.log")
        import_images(str(f.containerd_socket))
        pids["kubelet"] = processes.start("kubelet", [
            str(self.bin_dir / "kubelet"), f"--config={f / 'kubelet.yaml'}", f"--kubeconfig={f / 'kubelet.kubeconfig'}",
            f"--root-dir={f / 'kubelet'}", f"--cert-dir={f / 'kubelet-pki'}", f"--node-ip={NODE_IP}",
            f"--hostname-override={NODE_NAME}", "--v=1"], self.log_dir)
        pids["kube-proxy"] = processes.start("kube-proxy", [
            str(self.bin_dir / "kube-proxy"), f"--config={f / 'kube-proxy.yaml'}", "--v=1"], self.log_dir)
        processes.wait_until("the node", lambda: api.node_ready(NODE_NAME), pids["kubelet"], READY_TIMEOUT,
                             self.log_dir / "kubelet.log")
        # kube-router finds its node by name: only once the kubelet has registered it
        pids["kube-router"] = processes.start("kube-router", [
            str(self.bin_dir / "kube-router"), f"--kubeconfig={f / 'kube-router.kubeconfig'}",
            f"--hostname-override={NODE_NAME}", "--run-firewall=true", "--run-router=false",
            "--run-service-proxy=false", f"--health-port={KUBE_ROUTER_HEALTH_PORT}", "--metrics-port=0",
            "--enable-ipv6=false"], self.log_dir)
        processes.wait_until("kube-router", processes.http_ok(f"http://127.0.0.1:{KUBE_ROUTER_HEALTH_PORT}/healthz"),
                             pids["kube-router"], 60, self.log_dir / "kube-router.log")
        for obj in addon_objects(f):
            api.apply(api_path(obj), obj)
        for namespace, name in (("kube-system", "coredns"), ("local-path-storage", "local-path-provisioner")):
            processes.wait_until(f"the {name} Deployment", lambda n=namespace, d=name: api.deployment_available(n, d),
                                 pids["kubelet"], READY_TIMEOUT, self.log_dir / "kubelet.log")

    def containerd_up(self) -> bool:
        return self.ctr("version", check=False).returncode == 0

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run("ctr", "--address", str(self.files.containerd_socket), "--namespace", "k8s.io", *args, check=check)

    # ------------------------------------------------------------------------------------ stop
    def stop(self, pids: dict[str, int]) -> None:
        """Stop the daemons (the kubelet before its pods, so nothing restarts them), kill every container, stop
        containerd and its shims. Safe to run twice, and after a failed start; ``cleanup_host`` comes after."""
        for name in ("kube-router", "kube-proxy", "kubelet"):
            if name in pids:
                processes.stop(pids.pop(name), timeout=20)
        self.kill_pod_processes()
        if "containerd" in pids:
            processes.stop(pids.pop("containerd"), timeout=20)
        self.kill_shims()

    def kill_pod_processes(self) -> None:
        """SIGKILL every process in the pod cgroups (the kubelet does not stop pods when it stops)."""
        for _ in range(20):
            found = pod_processes()
            if not found:
                return
            for pid in found:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.3)

    def kill_shims(self) -> None:
        """containerd's shims outlive it; ours name our socket on their command line."""
        needle = str(self.files.containerd_socket).encode()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if needle in (entry / "cmdline").read_bytes():
                        os.kill(int(entry.name), signal.SIGKILL)
                except (OSError, ProcessLookupError):
                    continue


def pod_cgroup_dirs() -> list[Path]:
    """Every pod cgroup directory in every v1 hierarchy (and the unified one), deepest first. os.walk passes over a
    directory that vanishes while it looks (a container exiting); Path.rglob raised, failing `localenv down`."""
    found = [Path(directory) for hierarchy in CGROUP_ROOT.iterdir()
             for directory, _, _ in os.walk(hierarchy / POD_CGROUP)]
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def pod_processes() -> set[int]:
    pids: set[int] = set()
    for directory in pod_cgroup_dirs():
        try:
            pids.update(int(line) for line in (directory / "cgroup.procs").read_text().split())
        except OSError:
            continue
    return pids


def our_mounts(roots: Iterable[str]) -> list[str]:
    """Mount points under any of ``roots``, deepest first (mountinfo escapes spaces as \\040)."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if any(point == root or point.startswith(root.rstrip("/") + "/") for root in roots):
            points.append(point)
    return sorted(set(points), key=len, reverse=True)


def remove_chains(tool: str) -> None:
    """Delete every iptables chain the node's daemons and the CNI plugins created, and the jumps into them."""
    for table in ("filter", "nat", "mangle", "raw"):
        listing = run(tool, "-w", "-t", table, "-S", check=False)
        if listing.returncode != 0:
            continue
        ours = [line.split()[1] for line in listing.stdout.splitlines()
                if line.startswith("-N ") and line.split()[1].startswith(OUR_CHAIN_PREFIXES)]
        for line in listing.stdout.splitlines():
            words = shlex.split(line)  # comments are quoted
            if words[:1] == ["-A"] and words[1] not in ours and any(w in ours for w in words):
                run(tool, "-w", "-t", table, "-D", *words[1:], check=False)
        for chain in ours:
            run(tool, "-w", "-t", table, "-F", chain, check=False)
        for chain in ours:
            run(tool, "-w", "-t", table, "-X", chain, check=False)


def cleanup_host(files: NodeFiles, record: dict) -> None:
    """Undo what the node did to the host: mounts, network namespaces, pod cgroups, iptables, ipsets, the bridge
    and its veths, the sysctls, files under /run/containerd; then its directory."""
    mount_roots = [str(files.base)]
    for point in our_mounts(mount_roots):
        run("umount", "-l", point, check=False)
    before_netns = set(record.get("netns") or [])
    for directory in ("/run/netns", "/var/run/netns"):
        for entry in (Path(directory).iterdir() if Path(directory).is_dir() else []):
            if entry.name.startswith("cni-") and entry.name not in before_netns:
                run("umount", "-l", str(entry), check=False)
                entry.unlink(missing_ok=True)
    for directory in pod_cgroup_dirs():
        try:
            directory.rmdir()
        except OSError:
            pass
    for tool in ("iptables", "ip6tables"):
        remove_chains(tool)
    for name in run("ipset", "list", "-n", check=False).stdout.split():
        if name.startswith(("KUBE-", "kube-router", "inet6:KUBE-", "inet6:kube-router")):
            run("ipset", "destroy", name, check=False)
    for link in run("ip", "-o", "link", "show", "master", BRIDGE, check=False).stdout.splitlines():
        run("ip", "link", "delete", link.split(":")[1].strip().split("@")[0], check=False)
    run("ip", "link", "delete", BRIDGE, check=False)
    for name, value in (record.get("sysctls") or {}).items():
        try:
            if sysctl_path(name).read_text().strip() != value:
                write_sysctl(name, value)
        except OSError:
            pass
    existed = set(record["run_dirs"] if "run_dirs" in record else SHARED_RUN_DIRS)
    for directory in SHARED_RUN_DIRS:
        path = Path(directory)
        if directory not in existed and path.is_dir():
            for point in our_mounts([directory]):
                run("umount", "-l", point, check=False)
            subprocess.run(["rm", "-rf", directory], check=False)
    for point in our_mounts(mount_roots):
        run("umount", "-l", point, check=False)
    subprocess.run(["rm", "-rf", str(files.base)], check=False)


def leftovers(record: dict) -> list[str]:
    """What a stopped node would have left on the host; empty when ``cleanup_host`` did its job."""
    found = [f"pod cgroup {p}" for p in pod_cgroup_dirs()]
    found += [f"bridge {BRIDGE}"] if run("ip", "link", "show", BRIDGE, check=False).returncode == 0 else []
    for tool in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle", "raw"):
            listing = run(tool, "-w", "-t", table, "-S", check=False).stdout.splitlines()
            found += [f"{tool} {table} {line}" for line in listing
                      if line.startswith("-N ") and line.split()[1].startswith(OUR_CHAIN_PREFIXES)]
    found += [f"ipset {n}" for n in run("ipset", "list", "-n", check=False).stdout.split()
              if n.startswith(("KUBE-", "kube-router"))]
    before_netns = set(record.get("netns") or [])
    found += [f"netns {p.name}" for d in ("/run/netns", "/var/run/netns") if Path(d).is_dir()
              for p in Path(d).iterdir() if p.name not in before_netns]
    found += [f"directory {d}" for d in SHARED_RUN_DIRS
              if "run_dirs" in record and d not in record["run_dirs"] and Path(d).exists()]
    now = read_sysctls(record.get("sysctls") or {})
    found += [f"sysctl {k}={now.get(k)} (was {v})" for k, v in (record.get("sysctls") or {}).items() if now.get(k) != v]
    return found
