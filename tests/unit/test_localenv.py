"""The local environment's pure parts: loopback-only servers, kwok leaving process-backed pods alone, and
pod paths mapped to local directories."""

import re
from pathlib import Path

import yaml

from localenv.cluster import ClusterFiles, LocalCluster, server_commands
from localenv.kubelet import Kubelet, KubeletConfig, rewrite_paths, served_on
from localenv.stack import LocalStack

ADDRESS = re.compile(r"(?:https?://)?(\d+\.\d+\.\d+\.\d+):\d+")


def test_every_control_plane_server_listens_on_loopback_only(tmp_path):
    commands = server_commands(tmp_path / "bin", ClusterFiles(tmp_path))
    assert list(commands) == ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"]
    addresses = {m for argv in commands.values() for arg in argv for m in ADDRESS.findall(arg)}
    assert addresses == {"127.0.0.1"}
    assert "--bind-address=127.0.0.1" in commands["kube-apiserver"]
    assert "--secure-port=0" in commands["kube-controller-manager"] and "--secure-port=0" in commands["kube-scheduler"]


def test_kwok_leaves_process_backed_pods_to_the_kubelet(tmp_path):
    bin_dir = tmp_path / "kube-bin"
    (bin_dir / "kwok-stages").mkdir(parents=True)
    pod_stage = {"kind": "Stage", "spec": {"resourceRef": {"kind": "Pod"}, "selector": {"matchExpressions": []}}}
    node_stage = {"kind": "Stage", "spec": {"resourceRef": {"kind": "Node"}, "selector": {}}}
    (bin_dir / "kwok-stages" / "pod-ready.yaml").write_text(yaml.safe_dump(pod_stage))
    (bin_dir / "kwok-stages" / "node-initialize.yaml").write_text(yaml.safe_dump(node_stage))
    cluster = LocalCluster(tmp_path / "cluster", bin_dir, tmp_path / "logs")
    cluster.write_kwok_stages(("database", "keycloak"))
    staged = cluster.stage_bin() / "kwok-stages"
    pod = yaml.safe_load((staged / "pod-ready.yaml").read_text())
    assert pod["spec"]["selector"]["matchExpressions"] == [
        {"key": '.metadata.labels["app.kubernetes.io/name"]', "operator": "NotIn", "values": ["database", "keycloak"]}]
    assert yaml.safe_load((staged / "node-initialize.yaml").read_text()) == node_stage


def test_paths_under_a_mount_move_to_its_local_directory():
    mounts = {"/etc/registry/certs": Path("/x/certs"), "/var/lib/registry": Path("/x/data")}
    config = {"auth": {"token": {"rootcertbundle": "/etc/registry/certs/registry-cert.pem", "realm": "http://k/auth"}},
              "storage": {"filesystem": {"rootdirectory": "/var/lib/registry"}}, "other": ["/etc/registry/certsX"]}
    assert rewrite_paths(config, mounts) == {
        "auth": {"token": {"rootcertbundle": "/x/certs/registry-cert.pem", "realm": "http://k/auth"}},
        "storage": {"filesystem": {"rootdirectory": "/x/data"}}, "other": ["/etc/registry/certsX"]}


def test_the_local_stack_never_writes_the_committed_stack_file(tmp_path):
    stack = LocalStack(tmp_path, tmp_path / "bin", tmp_path / "kubeconfig")
    for command in (["up", "--yes"], ["config", "set", "k", "v"], ["preview"], ["refresh"], ["destroy"]):
        argv = stack.command(command)
        assert argv[argv.index("--config-file") + 1] == str(tmp_path / "stack" / "Pulumi.local.yaml")
        assert argv[argv.index("--stack") + 1] == "local"
    assert "--config-file" not in stack.command(["stack", "output", "--json"])


def test_a_registry_beside_the_pod_gets_its_own_address_and_data_but_the_same_auth():
    config = {"http": {"addr": ":5000", "host": "http://127.0.0.1:15000", "debug": {"addr": ":5001"}, "secret": "s"},
              "storage": {"filesystem": {"rootdirectory": "/x/data"}}, "auth": {"token": {"realm": "r"}}}
    pod = served_on(config, 15000, 15001)
    beside = served_on(config, 15028, 15029, "http://127.0.0.1:15028", Path("/y/data"))
    assert (pod["http"]["addr"], pod["http"]["debug"]["addr"], pod["http"]["host"]) == \
        ("127.0.0.1:15000", "127.0.0.1:15001", "http://127.0.0.1:15000")
    assert (beside["http"]["addr"], beside["http"]["host"], beside["storage"]["filesystem"]["rootdirectory"]) == \
        ("127.0.0.1:15028", "http://127.0.0.1:15028", "/y/data")
    assert beside["auth"] == pod["auth"] == config["auth"] and config["http"]["addr"] == ":5000"


def test_keycloak_runs_from_a_home_holding_the_pods_mounted_jar(tmp_path):
    """The pod mounts the extension into /opt/keycloak/providers: the kubelet's Keycloak home has it, shares the big
    lib/lib with the installation (hard links), and is reused for the same files, never for other ones."""
    installed = tmp_path / "keycloak"
    for relative in ("bin/kc.sh", "lib/lib/main/a.jar", "lib/quarkus/generated-bytecode.jar", "conf/keycloak.conf"):
        (installed / relative).parent.mkdir(parents=True, exist_ok=True)
        (installed / relative).write_text(relative)
    (installed / "providers").mkdir()
    jar = tmp_path / "volumes" / "extensions" / "keycloak-registry-extension.jar"
    jar.parent.mkdir(parents=True)
    jar.write_bytes(b"jar 1")
    config = KubeletConfig("https://127.0.0.1:1", "token", "", "registry", str(tmp_path / "state"),
                           {"KEYCLOAK_HOME": str(installed)}, {}, {}, {})
    kubelet = Kubelet(config)
    mounts = {"/opt/keycloak/providers/keycloak-registry-extension.jar": jar, "/var/data": tmp_path}
    home = kubelet._keycloak_home(mounts)
    assert (home / "providers" / "keycloak-registry-extension.jar").read_bytes() == b"jar 1"
    assert (home / "lib/lib/main/a.jar").stat().st_ino == (installed / "lib/lib/main/a.jar").stat().st_ino
    assert (home / "lib/quarkus/generated-bytecode.jar").stat().st_ino != \
        (installed / "lib/quarkus/generated-bytecode.jar").stat().st_ino  # Keycloak's build rewrites it: a copy
    assert not (installed / "providers" / "keycloak-registry-extension.jar").exists()
    assert kubelet._keycloak_home(mounts) == home
    jar.write_bytes(b"jar 2")
    assert kubelet._keycloak_home(mounts) != home
