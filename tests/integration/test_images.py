"""The images localenv.images builds run under a real containerd + runc, imported under the names the program deploys.

A private containerd (config version 2, its own root/state/sockets under a temporary directory, CRI plugin disabled,
overlayfs snapshotter, runc through io.containerd.runc.v2 with the cgroupfs driver) is started for this module and
stopped at its end, with everything it created removed: containers, tasks, snapshots, mounts, its cgroups and its
directory. Each image is built (or taken from the content cache) and imported with `ctr images import`, then run
with `ctr run`. A component that cannot be obtained fails the test naming it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from localenv.images import BuildError, import_image
from localenv.images.build import remove_tree

NAMESPACE = "k8s.io"


@dataclass
class Containerd:
    address: str
    directory: Path
    cgroup: str  # parent cgroup of every container of this module

    def ctr(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        if args[0] == "run":  # runc state and IO fifos under our directory, not /run/containerd
            args = ("run", f"--runc-root={self.directory}/runc", f"--fifo-dir={self.directory}/fifo", *args[1:])
        elif args[:2] == ("tasks", "exec"):
            args = ("tasks", "exec", f"--fifo-dir={self.directory}/fifo", *args[2:])
        result = subprocess.run(["ctr", "--address", self.address, "--namespace", NAMESPACE, *args],
                                text=True, capture_output=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)} failed ({result.returncode}): {result.stderr}{result.stdout}")
        return result

    def image(self, name: str) -> str:
        try:
            return import_image(name, self.address, NAMESPACE).reference
        except BuildError as error:
            pytest.fail(f"could not obtain the {name} image: {error}")

    def task_pid(self, container: str) -> int:
        for line in self.ctr("tasks", "ls").stdout.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == container:
                return int(fields[1])
        raise AssertionError(f"no task {container}")

    def task_status(self, container: str) -> str:
        for line in self.ctr("tasks", "ls").stdout.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == container:
                return fields[2]
        return "GONE"

    def remove(self, container: str, grace: float = 60) -> None:
        """SIGTERM the task, SIGKILL it after grace seconds, then delete task and container."""
        if self.task_status(container) == "RUNNING":
            self.ctr("tasks", "kill", "--signal", "SIGTERM", container, check=False)
            deadline = time.monotonic() + grace
            while self.task_status(container) == "RUNNING" and time.monotonic() < deadline:
                time.sleep(0.5)
            if self.task_status(container) == "RUNNING":
                self.ctr("tasks", "kill", "--signal", "SIGKILL", container, check=False)
                time.sleep(1)
        self.ctr("tasks", "delete", "--force", container, check=False)
        self.ctr("containers", "delete", container, check=False)


def _uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid for pid {pid}")


def _cgroup_dirs(cgroup: str) -> list[Path]:
    return sorted(Path("/sys/fs/cgroup").glob("*" + cgroup), reverse=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def containerd(local_env):
    """A private containerd. ``local_env``: its install step provides what the recipes take (the Keycloak zip, the
    registry 3.x binary, the Debian packages)."""
    for tool, package in (("containerd", "containerd"), ("ctr", "containerd"), ("runc", "runc")):
        if not shutil.which(tool):
            pytest.fail(f"could not obtain {tool} (Debian package {package}; "
                        "scripts/lib/install-test-deps installs it)")
    # containerd 1.6 puts its shims' sockets under /run/containerd/s whatever its state dir: remove what we add there.
    shared = [Path("/run/containerd/s"), Path("/run/containerd/fifo"), Path("/run/containerd/runc/k8s.io"),
              Path("/run/containerd/runc"), Path("/run/containerd")]
    shared_before = {path for path in shared if path.exists()}
    directory = Path(tempfile.mkdtemp(prefix="kr-images-", dir="/tmp"))  # short: socket paths are limited
    address = str(directory / "containerd.sock")
    (directory / "config.toml").write_text(f"""version = 2
root = "{directory}/root"
state = "{directory}/state"
# No CRI: ctr drives containerd directly. (With CRI the node also needs restrict_oom_score_adj = true, since
# this machine has no CAP_SYS_RESOURCE: see ../shared/notes/real-node.md.)
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{address}"
[ttrpc]
  address = "{address}.ttrpc"
[debug]
  address = "{directory}/debug.sock"
[plugins."io.containerd.runtime.v2.task"]
  platforms = ["linux/amd64"]
""")
    log = open(directory / "containerd.log", "w")
    process = subprocess.Popen(["containerd", "--config", str(directory / "config.toml")], stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    daemon = Containerd(address, directory, f"/kr-images-{os.getpid()}")
    try:
        deadline = time.monotonic() + 30
        while daemon.ctr("version", check=False).returncode != 0:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"containerd did not start: {(directory / 'containerd.log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield daemon
    finally:
        if process.poll() is None:
            for container in daemon.ctr("containers", "ls", "-q", check=False).stdout.split():
                daemon.remove(container, grace=10)
            for image in daemon.ctr("images", "ls", "-q", check=False).stdout.split():
                daemon.ctr("images", "rm", image, check=False)
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
        for path in _cgroup_dirs(daemon.cgroup):  # runc removes each container's cgroup, not their parent
            for child in sorted(path.glob("*/"), reverse=True):
                child.rmdir()
            path.rmdir()
        remove_tree(directory)  # unmounts what is left below it first
        for path in shared:
            if path not in shared_before and path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        with open("/proc/self/mountinfo") as f:
            assert str(directory) not in f.read(), "containerd left mounts behind"
        assert not directory.exists() and not _cgroup_dirs(daemon.cgroup)
        assert all(path in shared_before or not path.exists() for path in shared), "left behind in /run/containerd"


def test_pause_runs(containerd):
    image = containerd.image("pause")
    assert image == "registry.k8s.io/pause:3.10"
    containerd.ctr("run", "--detach", "--cgroup", f"{containerd.cgroup}/pause", image, "pause")
    try:
        assert containerd.task_status("pause") == "RUNNING"
        pid = containerd.task_pid("pause")
        assert Path(f"/proc/{pid}/comm").read_text().strip() == "pause"
        assert _uid(pid) == 65535  # USER 65535:65535, as upstream
        containerd.ctr("tasks", "kill", "--signal", "SIGTERM", "pause")
        deadline = time.monotonic() + 10
        while containerd.task_status("pause") == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert containerd.task_status("pause") == "STOPPED", "pause did not exit on SIGTERM"
    finally:
        containerd.remove("pause")


def _start_mariadb(containerd: Containerd, name: str, env: dict[str, str], command: list[str],
                   data_owner: int) -> tuple[Path, Path]:
    """Run the mariadb image with a fresh datadir; return (datadir, log) once mariadbd listens on 3306 — the pod's
    startupProbe (TCP 3306) gates its exec probes, and the temporary server of the initialisation skips networking."""
    image = containerd.image("mariadb")
    data = containerd.directory / f"{name}-data"
    data.mkdir()
    os.chown(data, data_owner, data_owner)
    # ctr's default spec mounts an empty root-owned tmpfs on /run, hiding the image's /run/mysqld (mode 777), which
    # the kubelet's CRI spec does not do: give the socket directory back as the image has it.
    run_dir = containerd.directory / f"{name}-run"
    run_dir.mkdir()
    os.chmod(run_dir, 0o777)
    log = containerd.directory / f"{name}.log"
    containerd.ctr("run", "--detach", "--cgroup", f"{containerd.cgroup}/{name}", f"--log-uri=file://{log}",
                   *[arg for key, value in env.items() for arg in ("--env", f"{key}={value}")],
                   "--mount", f"type=bind,src={data},dst=/var/lib/mysql,options=rbind:rw",
                   "--mount", f"type=bind,src={run_dir},dst=/run/mysqld,options=rbind:rw",
                   image, name, *command)
    started = time.monotonic()
    while not (log.exists() and "port: 3306" in log.read_text()):
        assert containerd.task_status(name) == "RUNNING", f"{name} exited: {log.read_text()[-3000:]}"
        assert time.monotonic() - started < 240, f"mariadbd never listened on 3306: {log.read_text()[-3000:]}"
        time.sleep(1)
    print(f"{name}: mariadbd listening on 3306 {time.monotonic() - started:.0f}s after start")
    return data, log


def _healthy(containerd: Containerd, name: str, log: Path) -> None:
    deadline, attempt = time.monotonic() + 60, 0
    while True:
        assert containerd.task_status(name) == "RUNNING", f"{name} exited: {log.read_text()[-3000:]}"
        attempt += 1
        probe = containerd.ctr("tasks", "exec", "--exec-id", f"probe{attempt}", "--user", "999", name,
                               "healthcheck.sh", "--connect", "--innodb_initialized", check=False)
        if probe.returncode == 0:
            return
        assert time.monotonic() < deadline, f"healthcheck.sh never passed: {probe.stderr} {log.read_text()[-3000:]}"
        time.sleep(2)


def test_mariadb_initialises_from_env_through_its_entrypoint(containerd):
    password = "kc-pass'w\"ord"
    # Started as uid 999 (the pod's runAsUser; setpriv stands in for the kubelet), then the image's own ENTRYPOINT
    # and CMD; the datadir is owned by 999 as the pod's fsGroup makes it.
    data, log = _start_mariadb(containerd, "mariadb", {
        "MARIADB_ROOT_PASSWORD": "root-secret", "MARIADB_DATABASE": "keycloak", "MARIADB_USER": "keycloak",
        "MARIADB_PASSWORD": password}, ["setpriv", "--reuid=999", "--regid=999", "--clear-groups", "--",
                                        "docker-entrypoint.sh", "mariadbd"], data_owner=999)
    try:
        _healthy(containerd, "mariadb", log)
        output = log.read_text()
        assert "MariaDB init process done" in output and "Creating user keycloak" in output, output[-3000:]
        pid = containerd.task_pid("mariadb")
        assert Path(f"/proc/{pid}/comm").read_text().strip() == "mariadbd"
        assert _uid(pid) == 999
        cnf = data / ".my-healthcheck.cnf"
        assert cnf.is_file() and cnf.stat().st_uid == 999 and cnf.stat().st_mode & 0o077 == 0
        assert (data / "mysql").is_dir() and (data / "mysql").stat().st_uid == 999
        login = containerd.ctr("tasks", "exec", "--exec-id", "login", "--user", "999", "mariadb", "mariadb",
                               "--protocol=tcp", "-h127.0.0.1", "-ukeycloak", f"-p{password}", "-N", "-e",
                               "select current_user(), (select group_concat(schema_name) from "
                               "information_schema.schemata where schema_name='keycloak')")
        assert login.stdout.split() == ["keycloak@%", "keycloak"], login.stdout
        refused = containerd.ctr("tasks", "exec", "--exec-id", "refused", "--user", "999", "mariadb", "mariadb",
                                 "--protocol=tcp", "-h127.0.0.1", "-ukeycloak", "-pwrong", "-e", "select 1",
                                 check=False)
        assert refused.returncode != 0 and "Access denied" in refused.stderr
    finally:
        containerd.remove("mariadb")


def test_mariadb_started_as_root_steps_down_to_999(containerd):
    """No command: exactly the image's ENTRYPOINT + CMD, as root; the entrypoint chowns and re-executes via gosu."""
    data, log = _start_mariadb(containerd, "mariadb-root", {"MYSQL_RANDOM_ROOT_PASSWORD": "yes"}, [], data_owner=0)
    try:
        _healthy(containerd, "mariadb-root", log)
        output = log.read_text()
        assert "Switching to dedicated user 'mysql'" in output and "GENERATED ROOT PASSWORD" in output
        assert _uid(containerd.task_pid("mariadb-root")) == 999
        assert data.stat().st_uid == 999 and (data / "mysql").stat().st_uid == 999
    finally:
        containerd.remove("mariadb-root")


def test_keycloak_prints_its_version_as_uid_1000(containerd):
    from settings import KEYCLOAK_IMAGE, KEYCLOAK_VERSION
    image = containerd.image("keycloak")
    assert image == f"{KEYCLOAK_IMAGE}:{KEYCLOAK_VERSION}"
    # ENTRYPOINT kc.sh + the argument --version, as `docker run IMAGE --version` would run it
    run = containerd.ctr("run", "--rm", "--cgroup", f"{containerd.cgroup}/kc", image, "kc-version",
                         "/opt/keycloak/bin/kc.sh", "--version", timeout=300)
    print(run.stdout)
    assert f"Keycloak {KEYCLOAK_VERSION}" in run.stdout, run.stdout + run.stderr
    identity = containerd.ctr("run", "--rm", "--cgroup", f"{containerd.cgroup}/kc-id", image, "kc-id",
                              "sh", "-c", "id -u; id -g; stat -c %u:%g /opt/keycloak /opt/keycloak/data; "
                              "touch /opt/keycloak/data/probe && echo writable; echo $KC_RUN_IN_CONTAINER")
    assert identity.stdout.split() == ["1000", "0", "1000:0", "1000:0", "writable", "true"], identity.stdout


@pytest.mark.parametrize("name", ["registry", "registry_legacy"], ids=["registry-3.x", "registry-2.8"])
def test_registry_answers_v2(containerd, name):
    image = containerd.image(name)
    port = _free_port()
    config = containerd.directory / f"{name}-config"
    config.mkdir()
    (config / "config.yml").write_text(f"""version: 0.1
storage:
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: 127.0.0.1:{port}
""")
    container = name.replace("_", "-")
    # The program's pod spec: command ["registry", "serve", "/etc/registry/config/config.yml"]
    containerd.ctr("run", "--detach", "--net-host", "--cgroup", f"{containerd.cgroup}/{container}",
                   "--mount", f"type=bind,src={config},dst=/etc/registry/config,options=rbind:ro",
                   image, container, "registry", "serve", "/etc/registry/config/config.yml")
    try:
        deadline, status = time.monotonic() + 60, None
        while time.monotonic() < deadline and status is None:
            assert containerd.task_status(container) == "RUNNING", f"{image} exited"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=5) as response:
                    status = response.status
                    assert response.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
            except urllib.error.HTTPError as error:
                status = error.code
            except OSError:
                time.sleep(0.5)
        assert status in (200, 401), f"{image} /v2/ answered {status}"
        version = containerd.ctr("run", "--rm", "--cgroup", f"{containerd.cgroup}/{container}-v", image,
                                 f"{container}-v", "registry", "--version").stdout
        assert image.rsplit(":", 1)[1].split("-")[0].rsplit(".", 1)[0] in version, version
        default = containerd.ctr("run", "--rm", "--cgroup", f"{containerd.cgroup}/{container}-c", image,
                                 f"{container}-c", "sh", "-c", "ls /entrypoint.sh /etc/*/config.yml "
                                 "/etc/docker/registry/config.yml /etc/ssl/certs/ca-certificates.crt 2>/dev/null",
                                 check=False).stdout.split()
        assert "/entrypoint.sh" in default and "/etc/ssl/certs/ca-certificates.crt" in default
        assert ("/etc/distribution/config.yml" if name == "registry" else "/etc/docker/registry/config.yml") in default
    finally:
        containerd.remove(container)



def test_busybox_runs_the_provisioner_helper_script(containerd):
    """rancher/local-path-provisioner's helper pod: `busybox` (:latest) runs its setup script with sh."""
    image = containerd.image("busybox")
    assert image.startswith("docker.io/library/busybox:")
    assert "docker.io/library/busybox:latest" in containerd.ctr("images", "ls", "-q").stdout.split()
    volume = containerd.directory / "helper-volume"
    volume.mkdir()
    run = containerd.ctr("run", "--rm", "--cgroup", f"{containerd.cgroup}/helper", "--env", "VOL_DIR=/data/pvc-1",
                         "--mount", f"type=bind,src={volume},dst=/data,options=rbind:rw",
                         "docker.io/library/busybox:latest", "helper",
                         "sh", "-c", 'set -eu; mkdir -m 0777 -p "$VOL_DIR"; stat -c %a "$VOL_DIR"; rm -rf "$VOL_DIR"')
    assert run.stdout.split() == ["777"], run.stdout + run.stderr
    assert not (volume / "pvc-1").exists()


def _dns_query(name: str) -> bytes:
    header = bytes.fromhex("1234 0100 0001 0000 0000 0000".replace(" ", ""))
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.split(".")) + b"\0"
    return header + labels + b"\x00\x01\x00\x01"  # A, IN


def test_coredns_answers_on_53_as_nonroot(containerd):
    """USER 65532 binds :53 only through the binary's cap_net_bind_service: the file capability survived the layer."""
    image = containerd.image("coredns")
    assert image.startswith("registry.k8s.io/coredns/coredns:v")
    config = containerd.directory / "coredns-config"
    config.mkdir()
    (config / "Corefile").write_text(".:53 {\n    whoami\n}\n")
    log = containerd.directory / "coredns.log"
    containerd.ctr("run", "--detach", "--cgroup", f"{containerd.cgroup}/coredns", f"--log-uri=file://{log}",
                   "--mount", f"type=bind,src={config},dst=/etc/coredns,options=rbind:ro",
                   image, "coredns", "/coredns", "-conf", "/etc/coredns/Corefile")
    try:
        deadline = time.monotonic() + 30
        while not (log.exists() and "CoreDNS-" in log.read_text()):
            assert containerd.task_status("coredns") == "RUNNING", f"coredns exited: {log.read_text()}"
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        pid = containerd.task_pid("coredns")
        assert _uid(pid) == 65532
        query = _dns_query("probe.example")
        answer = subprocess.run(
            ["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-c",
             "import socket, sys; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5); "
             f"s.sendto(bytes.fromhex('{query.hex()}'), ('127.0.0.1', 53)); sys.stdout.write(s.recv(512).hex())"],
            text=True, capture_output=True, timeout=30)
        reply = bytes.fromhex(answer.stdout)
        assert reply[:2] == query[:2] and reply[3] & 0x0F == 0, answer.stderr  # our id, RCODE NOERROR
        assert int.from_bytes(reply[10:12], "big") >= 1  # whoami answers in the additional section
    finally:
        containerd.remove("coredns")


def test_local_path_provisioner_image(containerd):
    image = containerd.image("local_path_provisioner")
    version = containerd.ctr("run", "--rm", "--cgroup", f"{containerd.cgroup}/lpp", image, "lpp",
                             "local-path-provisioner", "--version")
    assert image.rsplit(":", 1)[1] in version.stdout, version.stdout + version.stderr


def test_kubectl_image_runs_a_script(containerd):
    """The garbage-collection job's image: sh with the usual applets, and kubectl at the pinned version (the job runs
    it as 65534: test_garbage_collection.py)."""
    image = containerd.image("kubectl")
    assert image.startswith("docker.io/alpine/kubectl:")
    run = containerd.ctr("run", "--rm", "--cgroup", f"{containerd.cgroup}/kubectl", "--env", "HOME=/tmp", image,
                         "kubectl-sh", "sh", "-c", "kubectl version --client | head -n 1; sleep 0; echo ok")
    assert run.stdout.split("\n")[:2] == [f"Client Version: v{image.rsplit(':', 1)[1]}", "ok"], \
        run.stdout + run.stderr


def test_versitygw_image_reports_its_version(containerd):
    """The local stack's S3 server (localenv/s3.py runs it with the posix backend)."""
    image = containerd.image("versitygw")
    assert image.startswith("docker.io/versity/versitygw:v")
    run = containerd.ctr("run", "--rm", "--cgroup", f"{containerd.cgroup}/versitygw", image, "versitygw",
                         "versitygw", "--version")
    assert image.rsplit(":", 1)[1] in run.stdout, run.stdout + run.stderr


def test_aws_cli_image_reports_its_version(containerd):
    """The database backups' S3 step (s3ClientImage): AWS CLI v2 at the tag's version."""
    image = containerd.image("aws_cli")
    assert image.startswith("docker.io/amazon/aws-cli:")
    run = containerd.ctr("run", "--rm", "--cgroup", f"{containerd.cgroup}/aws", "--env", "HOME=/tmp", image, "aws",
                         "sh", "-c", "aws --version && command -v awk sort")
    assert f"aws-cli/{image.rsplit(':', 1)[1]} " in run.stdout, run.stdout + run.stderr


def test_openldap_image_is_slapd_at_its_tag_with_the_overlays_the_directory_needs(containerd):
    """The local directory (localenv/ldap.py): slapd at the tag's version, and the modules config.ldif loads."""
    image = containerd.image("openldap")
    assert image.startswith("localhost/openldap:")
    run = containerd.ctr("run", "--rm", "--cgroup", f"{containerd.cgroup}/openldap", image, "openldap",
                         "sh", "-c", "slapd -VV 2>&1 | head -n 1; ls /usr/lib/ldap")
    assert f"slapd {image.rsplit(':', 1)[1]}" in run.stdout, run.stdout + run.stderr
    assert all(f"{module}.la" in run.stdout for module in ("back_mdb", "dynlist", "ppolicy")), run.stdout
