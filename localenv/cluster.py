"""A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver, controller-manager, scheduler and
kwok (one fake node), as in Kubernetes' envtest. Binaries come from scripts/kube-binaries (cached)."""

from __future__ import annotations

import datetime
import ipaddress
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from . import processes
from .kubeapi import KubeApi

ROOT = Path(__file__).resolve().parents[1]
ETCD_PORT, ETCD_PEER_PORT, APISERVER_PORT, KWOK_PORT = 12379, 12380, 16443, 12247
SERVICE_CIDR = "10.96.0.0/16"
NODE_NAME = "kwok-node-0"
# kwok manages only nodes carrying this annotation; the node has no taint, so every pod lands there.
KWOK_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
# Pods of these workloads are run as local processes by localenv.kubelet; kwok only fakes the others.
PROCESS_BACKED_LABEL = "app.kubernetes.io/name"
READY_TIMEOUT = 120
# The fake node renews a Lease (as kubelets do), so the node lifecycle controller never sees it go silent.
NODE_LEASE_SECONDS = 40


@dataclass(frozen=True)
class ClusterFiles:
    """Everything the control plane and its clients read, under one directory."""

    base: Path

    @property
    def kubeconfig(self) -> Path:
        return self.base / "kubeconfig"

    def __truediv__(self, name: str) -> Path:
        return self.base / name


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def issue_certificate(subject: str, key: rsa.RSAPrivateKey, issuer: tuple[str, rsa.RSAPrivateKey] | None = None,
                 sans: tuple[str, ...] = ()) -> x509.Certificate:
    """A CA (no issuer) or a serving certificate signed by the CA, valid for a year."""
    now = datetime.datetime.now(datetime.timezone.utc)
    issuer_name, signing_key = issuer or (subject, key)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=365))
               .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True))
    if sans:
        names = [x509.IPAddress(ipaddress.ip_address(s)) if s[0].isdigit() else x509.DNSName(s) for s in sans]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def write_credentials(files: ClusterFiles) -> str:
    """CA, API server certificate, service-account keys, a static admin token and the kubeconfig; returns the token."""
    files.base.mkdir(parents=True, exist_ok=True)
    ca_key, sa_key, server_key = new_rsa_key(), new_rsa_key(), new_rsa_key()
    ca = issue_certificate("keycloak-registry-local-ca", ca_key)
    first_service_ip = str(next(ipaddress.ip_network(SERVICE_CIDR).hosts()))
    server = issue_certificate("kube-apiserver", server_key, ("keycloak-registry-local-ca", ca_key),
                          sans=("127.0.0.1", first_service_ip, "localhost", "kubernetes", "kubernetes.default",
                                "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"))
    pem = serialization.Encoding.PEM
    (files / "ca.crt").write_bytes(ca.public_bytes(pem))
    (files / "apiserver.crt").write_bytes(server.public_bytes(pem))
    (files / "apiserver.key").write_bytes(private_key_pem(server_key))
    (files / "sa.key").write_bytes(private_key_pem(sa_key))
    (files / "sa.pub").write_bytes(sa_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo))
    token = secrets.token_urlsafe(32)
    (files / "tokens.csv").write_text(f'{token},admin,admin,"system:masters"\n')
    kubeconfig = {
        "apiVersion": "v1", "kind": "Config", "current-context": "local",
        "clusters": [{"name": "local", "cluster": {"server": f"https://127.0.0.1:{APISERVER_PORT}",
                                                   "certificate-authority": str(files / "ca.crt")}}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "admin"}}],
    }
    files.kubeconfig.write_text(yaml.safe_dump(kubeconfig))
    for path in files.base.iterdir():
        path.chmod(0o600)
    return token


def server_commands(bin_dir: Path, files: ClusterFiles) -> dict[str, list[str]]:
    """The five servers in start order, loopback only."""
    kubeconfig = str(files.kubeconfig)
    stages = sorted(str(p) for p in (bin_dir / "kwok-stages").glob("*.yaml"))
    return {
        "etcd": [str(bin_dir / "etcd"), "--name=local", f"--data-dir={files / 'etcd'}",
                 f"--listen-client-urls=http://127.0.0.1:{ETCD_PORT}", f"--advertise-client-urls=http://127.0.0.1:{ETCD_PORT}",
                 f"--listen-peer-urls=http://127.0.0.1:{ETCD_PEER_PORT}",
                 f"--initial-advertise-peer-urls=http://127.0.0.1:{ETCD_PEER_PORT}",
                 f"--initial-cluster=local=http://127.0.0.1:{ETCD_PEER_PORT}", "--unsafe-no-fsync", "--log-level=warn"],
        "kube-apiserver": [
            str(bin_dir / "kube-apiserver"), f"--etcd-servers=http://127.0.0.1:{ETCD_PORT}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={APISERVER_PORT}",
            "--endpoint-reconciler-type=none", f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--tls-cert-file={files / 'apiserver.crt'}", f"--tls-private-key-file={files / 'apiserver.key'}",
            f"--client-ca-file={files / 'ca.crt'}", f"--token-auth-file={files / 'tokens.csv'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={files / 'sa.pub'}", f"--service-account-signing-key-file={files / 'sa.key'}",
            "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=false", "--profiling=false"],
        "kube-controller-manager": [
            str(bin_dir / "kube-controller-manager"), f"--kubeconfig={kubeconfig}", "--controllers=*",
            "--secure-port=0", "--leader-elect=false", f"--service-account-private-key-file={files / 'sa.key'}",
            f"--root-ca-file={files / 'ca.crt'}", "--use-service-account-credentials=false"],
        "kube-scheduler": [str(bin_dir / "kube-scheduler"), f"--kubeconfig={kubeconfig}", "--leader-elect=false",
                           "--secure-port=0"],
        "kwok": [str(bin_dir / "kwok"), f"--kubeconfig={kubeconfig}", "--manage-all-nodes=false",
                 f"--manage-nodes-with-annotation-selector={'='.join(KWOK_NODE_ANNOTATION)}", "--node-ip=127.0.0.1",
                 f"--server-address=127.0.0.1:{KWOK_PORT}", f"--node-lease-duration-seconds={NODE_LEASE_SECONDS}",
                 *[f"--config={s}" for s in stages]],
    }


class LocalCluster:
    """Starts and stops the control plane; the servers' pids go into the environment's state."""

    def __init__(self, base: Path, bin_dir: Path, log_dir: Path):
        self.files = ClusterFiles(base)
        self.bin_dir = bin_dir
        self.log_dir = log_dir

    def api(self, token: str) -> KubeApi:
        return KubeApi(f"https://127.0.0.1:{APISERVER_PORT}", token, str(self.files / "ca.crt"))

    def start(self, pids: dict[str, int], process_backed: tuple[str, ...]) -> KubeApi:
        """Start every server (recording pids as it goes), register the fake node and a default StorageClass."""
        token = write_credentials(self.files)
        self.write_kwok_stages(process_backed)
        api = self.api(token)
        checks = {"etcd": lambda: processes.http_ok(f"http://127.0.0.1:{ETCD_PORT}/health")(),
                  "kube-apiserver": api.ready}
        for name, argv in server_commands(self.stage_bin(), self.files).items():
            pids[name] = processes.start(name, argv, self.log_dir)
            if name in checks:
                processes.wait_until(name, checks[name], pids[name], READY_TIMEOUT, self.log_dir / f"{name}.log")
        api.apply(f"/api/v1/nodes/{NODE_NAME}", {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": NODE_NAME, "annotations": dict([KWOK_NODE_ANNOTATION]),
                         "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux", "type": "kwok"}},
            "spec": {}})
        api.apply("/apis/storage.k8s.io/v1/storageclasses/kwok-volume",
                  yaml.safe_load((self.bin_dir / "storage-class.yaml").read_text()))
        processes.wait_until("the kwok node", lambda: api.node_ready(NODE_NAME), pids["kwok"], READY_TIMEOUT,
                             self.log_dir / "kwok.log")
        processes.wait_until("the default service account", lambda: api.exists("/api/v1/namespaces/default/serviceaccounts/default"),
                             pids["kube-controller-manager"], READY_TIMEOUT, self.log_dir / "kube-controller-manager.log")
        return api

    def stage_bin(self) -> Path:
        """The binaries, with kwok's stage files rewritten for this environment beside them."""
        return self.files.base / "bin"

    def write_kwok_stages(self, process_backed: tuple[str, ...]) -> None:
        staged = self.stage_bin()
        (staged / "kwok-stages").mkdir(parents=True, exist_ok=True)
        for binary in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"):
            link = staged / binary
            if not link.exists():
                link.symlink_to(self.bin_dir / binary)
        for path in (self.bin_dir / "kwok-stages").glob("*.yaml"):
            stage = yaml.safe_load(path.read_text())
            if stage["spec"]["resourceRef"]["kind"] == "Pod":
                stage["spec"]["selector"].setdefault("matchExpressions", []).append(
                    {"key": f'.metadata.labels["{PROCESS_BACKED_LABEL}"]', "operator": "NotIn", "values": list(process_backed)})
            (staged / "kwok-stages" / path.name).write_text(yaml.safe_dump(stage))


def versions(bin_dir: Path) -> dict[str, str]:
    """What `--version` of the API server and etcd say, for the environment's report."""
    def first_line(binary: str) -> str:
        out = subprocess.run([str(bin_dir / binary), "--version"], capture_output=True, text=True).stdout
        return out.splitlines()[0].split()[-1] if out else "unknown"
    return {"kubernetes": first_line("kube-apiserver"), "etcd": first_line("etcd")}
