"""A real Kubernetes control plane, as in Kubernetes' envtest: etcd on 127.0.0.1, kube-apiserver on the node's
host-only address (pods reach it through the `kubernetes` Service), controller-manager and scheduler. Binaries
come from scripts/lib/kube-binaries (cached); the node beside it is localenv.node."""

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
from .kubeapi import KubeApi, kubeconfig
from .node import NODE_IP, NODE_NAME, POD_CIDR

ROOT = Path(__file__).resolve().parents[1]
ETCD_PORT, ETCD_PEER_PORT, APISERVER_PORT = 12379, 12380, 16443
SERVICE_CIDR = "10.96.0.0/16"
READY_TIMEOUT = 120
# Bearer tokens of the node's daemons: user name and groups (RBAC's built-in roles know these identities).
NODE_IDENTITIES = {"kubelet": (f"system:node:{NODE_NAME}", "system:nodes"), "kube-proxy": ("system:kube-proxy", ""),
                   "kube-router": ("kube-router", "system:masters")}


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
                      sans: tuple[str, ...] = (), organization: str = "") -> x509.Certificate:
    """A CA (no issuer), or a serving or client certificate signed by the CA, valid for a year."""
    now = datetime.datetime.now(datetime.timezone.utc)
    issuer_name, signing_key = issuer or (subject, key)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)] +
                                       ([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)]
                                        if organization else [])))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=365))
               .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True))
    if sans:
        names = [x509.IPAddress(ipaddress.ip_address(s)) if s[0].isdigit() else x509.DNSName(s) for s in sans]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def write_credentials(files: ClusterFiles) -> tuple[str, dict[str, str]]:
    """CA, API server certificate, the API server's client certificate for kubelets, service-account keys, static
    tokens (admin and the node's daemons) and the admin kubeconfig; returns the admin token and the daemons'."""
    files.base.mkdir(parents=True, exist_ok=True)
    ca_key, sa_key, server_key, client_key = new_rsa_key(), new_rsa_key(), new_rsa_key(), new_rsa_key()
    ca = issue_certificate("keycloak-registry-local-ca", ca_key)
    first_service_ip = str(next(ipaddress.ip_network(SERVICE_CIDR).hosts()))
    server = issue_certificate("kube-apiserver", server_key, ("keycloak-registry-local-ca", ca_key),
                          sans=("127.0.0.1", NODE_IP, first_service_ip, "localhost", "kubernetes", "kubernetes.default",
                                "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"))
    kubelet_client = issue_certificate("kube-apiserver-kubelet-client", client_key,
                                       ("keycloak-registry-local-ca", ca_key), organization="system:masters")
    pem = serialization.Encoding.PEM
    (files / "ca.crt").write_bytes(ca.public_bytes(pem))
    (files / "apiserver.crt").write_bytes(server.public_bytes(pem))
    (files / "apiserver.key").write_bytes(private_key_pem(server_key))
    (files / "kubelet-client.crt").write_bytes(kubelet_client.public_bytes(pem))
    (files / "kubelet-client.key").write_bytes(private_key_pem(client_key))
    (files / "sa.key").write_bytes(private_key_pem(sa_key))
    (files / "sa.pub").write_bytes(
        sa_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo))
    token = secrets.token_urlsafe(32)
    daemons = {name: secrets.token_urlsafe(32) for name in NODE_IDENTITIES}
    (files / "tokens.csv").write_text(f'{token},admin,admin,"system:masters"\n' + "".join(
        f'{daemons[name]},{user},{user},"{groups}"\n' for name, (user, groups) in NODE_IDENTITIES.items()))
    files.kubeconfig.write_text(yaml.safe_dump(kubeconfig(api_server_url(), files / "ca.crt", token)))
    for path in files.base.iterdir():
        path.chmod(0o600)
    return token, daemons


def api_server_url() -> str:
    return f"https://{NODE_IP}:{APISERVER_PORT}"


def server_commands(bin_dir: Path, files: ClusterFiles) -> dict[str, list[str]]:
    """The four servers in start order: etcd on loopback, the API server on the node's host-only address."""
    kubeconfig = str(files.kubeconfig)
    return {
        "etcd": [str(bin_dir / "etcd"), "--name=local", f"--data-dir={files / 'etcd'}",
                 f"--listen-client-urls=http://127.0.0.1:{ETCD_PORT}", f"--advertise-client-urls=http://127.0.0.1:{ETCD_PORT}",
                 f"--listen-peer-urls=http://127.0.0.1:{ETCD_PEER_PORT}",
                 f"--initial-advertise-peer-urls=http://127.0.0.1:{ETCD_PEER_PORT}",
                 f"--initial-cluster=local=http://127.0.0.1:{ETCD_PEER_PORT}", "--unsafe-no-fsync", "--log-level=warn"],
        "kube-apiserver": [
            str(bin_dir / "kube-apiserver"), f"--etcd-servers=http://127.0.0.1:{ETCD_PORT}",
            f"--bind-address={NODE_IP}", f"--advertise-address={NODE_IP}", f"--secure-port={APISERVER_PORT}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--tls-cert-file={files / 'apiserver.crt'}", f"--tls-private-key-file={files / 'apiserver.key'}",
            f"--client-ca-file={files / 'ca.crt'}", f"--token-auth-file={files / 'tokens.csv'}",
            f"--kubelet-client-certificate={files / 'kubelet-client.crt'}",
            f"--kubelet-client-key={files / 'kubelet-client.key'}", "--kubelet-preferred-address-types=InternalIP",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={files / 'sa.pub'}", f"--service-account-signing-key-file={files / 'sa.key'}",
            "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=false", "--profiling=false"],
        "kube-controller-manager": [
            str(bin_dir / "kube-controller-manager"), f"--kubeconfig={kubeconfig}", "--controllers=*",
            "--secure-port=0", "--leader-elect=false", f"--service-account-private-key-file={files / 'sa.key'}",
            f"--root-ca-file={files / 'ca.crt'}", "--use-service-account-credentials=false",
            "--allocate-node-cidrs=true", f"--cluster-cidr={POD_CIDR}",
            f"--node-cidr-mask-size={POD_CIDR.split('/')[1]}", f"--service-cluster-ip-range={SERVICE_CIDR}"],
        "kube-scheduler": [str(bin_dir / "kube-scheduler"), f"--kubeconfig={kubeconfig}", "--leader-elect=false",
                           "--secure-port=0"],
    }


class LocalCluster:
    """Starts and stops the control plane; the servers' pids go into the environment's state."""

    def __init__(self, base: Path, bin_dir: Path, log_dir: Path):
        self.files = ClusterFiles(base)
        self.bin_dir = bin_dir
        self.log_dir = log_dir

    def api(self, token: str) -> KubeApi:
        return KubeApi(api_server_url(), token, str(self.files / "ca.crt"))

    def start(self, pids: dict[str, int]) -> tuple[KubeApi, dict[str, str]]:
        """Start every server (recording pids as it goes); returns the admin API and the node daemons' tokens."""
        token, daemons = write_credentials(self.files)
        api = self.api(token)
        checks = {"etcd": lambda: processes.http_ok(f"http://127.0.0.1:{ETCD_PORT}/health")(),
                  "kube-apiserver": api.ready}
        for name, argv in server_commands(self.bin_dir, self.files).items():
            pids[name] = processes.start(name, argv, self.log_dir)
            if name in checks:
                processes.wait_until(name, checks[name], pids[name], READY_TIMEOUT, self.log_dir / f"{name}.log")
        processes.wait_until("the default service account",
                             lambda: api.exists("/api/v1/namespaces/default/serviceaccounts/default"),
                             pids["kube-controller-manager"], READY_TIMEOUT,
                             self.log_dir / "kube-controller-manager.log")
        return api, daemons


def versions(bin_dir: Path) -> dict[str, str]:
    """What `--version` of the API server and etcd say, for the environment's report."""
    def first_line(binary: str) -> str:
        out = subprocess.run([str(bin_dir / binary), "--version"], capture_output=True, text=True).stdout
        return out.splitlines()[0].split()[-1] if out else "unknown"
    return {"kubernetes": first_line("kube-apiserver"), "etcd": first_line("etcd")}
