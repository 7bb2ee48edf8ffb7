"""The local environment's pure parts: where each server listens, the node's configuration, the add-ons, and the
registry copies made from the stack's own Deployment."""

import re

import localenv.node as node
from localenv import s3
from localenv.cluster import ClusterFiles, server_commands
from localenv.environment import OTHER_LINE_NAME, line_of, local_settings, node_port_service, registry_copy
from localenv.node import (
    NODE_IP,
    POD_CIDR,
    NodeFiles,
    addon_objects,
    api_path,
    cni_config,
    containerd_config,
    kube_proxy_config,
    kubelet_config,
)
from localenv.stack import LocalStack

ADDRESS = re.compile(r"(?:https?://)?(\d+\.\d+\.\d+\.\d+):\d+")


def test_the_control_plane_listens_on_loopback_and_the_api_server_on_the_host_only_bridge(tmp_path):
    commands = server_commands(tmp_path / "bin", ClusterFiles(tmp_path))
    assert list(commands) == ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"]
    addresses = {m for argv in commands.values() for arg in argv for m in ADDRESS.findall(arg)}
    assert addresses == {"127.0.0.1"}
    assert f"--bind-address={NODE_IP}" in commands["kube-apiserver"]
    assert "--secure-port=0" in commands["kube-controller-manager"] and "--secure-port=0" in commands["kube-scheduler"]
    assert f"--cluster-cidr={POD_CIDR}" in commands["kube-controller-manager"]


def test_the_node_serves_only_on_loopback_and_its_bridge(tmp_path):
    files = NodeFiles(tmp_path)
    kubelet = kubelet_config(files, tmp_path / "ca.crt")
    assert (kubelet["address"], kubelet["healthzBindAddress"], kubelet["readOnlyPort"]) == (NODE_IP, "127.0.0.1", 0)
    assert kubelet["authentication"]["anonymous"]["enabled"] is False and kubelet["authorization"]["mode"] == "Webhook"
    proxy = kube_proxy_config(tmp_path / "kubeconfig")
    assert proxy["mode"] == "iptables" and proxy["nodePortAddresses"] == ["127.0.0.0/8"]
    assert all(proxy[key].startswith("127.0.0.1:") for key in ("metricsBindAddress", "healthzBindAddress"))
    bridge = cni_config(files)["plugins"][0]
    assert bridge["ipam"]["ranges"] == [[{"subnet": POD_CIDR, "gateway": NODE_IP}]]


def test_containerd_never_asks_for_an_oom_score_below_its_own_and_keeps_runc_state_in_its_directory(tmp_path):
    config = containerd_config(NodeFiles(tmp_path))
    assert "restrict_oom_score_adj = true" in config and "SystemdCgroup = false" in config
    assert f'Root = "{tmp_path}/containerd/runc"' in config


def test_the_add_ons_run_from_images_built_here_and_never_pull(tmp_path):
    objects = addon_objects(NodeFiles(tmp_path))
    containers = [c for o in objects if o["kind"] == "Deployment" for c in o["spec"]["template"]["spec"]["containers"]]
    assert {c["image"] for c in containers} == {"registry.k8s.io/coredns/coredns:v1.15.0",
                                               "docker.io/rancher/local-path-provisioner:v0.0.30"}
    assert all(c["imagePullPolicy"] == "IfNotPresent" for c in containers)
    storage_class = next(o for o in objects if o["kind"] == "StorageClass")
    assert storage_class["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert str(tmp_path / "volumes") in \
        next(o for o in objects if o["metadata"]["name"] == "local-path-config")["data"]["config.json"]
    assert {api_path(o) for o in objects} >= {"/apis/apps/v1/namespaces/kube-system/deployments/coredns",
                                              "/apis/storage.k8s.io/v1/storageclasses/local-path"}


def test_the_other_registry_line_is_the_stacks_registry_pod_with_another_image_and_its_own_data():
    registry = {"metadata": {"name": "registry", "namespace": "registry"}, "spec": {"template": {
        "metadata": {"labels": {"app.kubernetes.io/name": "registry"}, "annotations": {"checksum/keys": "k1"}},
        "spec": {"securityContext": {"runAsUser": 1000}, "containers": [{
            "name": "registry", "image": "docker.io/library/registry:3.1.2", "env": [{"name": "A", "value": "1"}]}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "registry-data"}},
                        {"name": "config", "secret": {"secretName": "registry-config"}}]}}}}
    copy = registry_copy(registry, OTHER_LINE_NAME, "docker.io/library/registry:2.8.2", "http://127.0.0.1:31528")
    template = copy["spec"]["template"]
    assert copy["spec"]["selector"]["matchLabels"] == template["metadata"]["labels"] != \
        {"app.kubernetes.io/name": "registry"}
    assert template["metadata"]["annotations"] == {"checksum/keys": "k1"}  # rolls whenever the stack's registry rolls
    assert template["spec"]["securityContext"] == {"runAsUser": 1000}
    assert template["spec"]["volumes"] == [{"name": "data", "emptyDir": {}},
                                           {"name": "config", "secret": {"secretName": "registry-config"}}]
    assert template["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"},
                                                         {"name": "REGISTRY_HTTP_HOST", "value": "http://127.0.0.1:31528"}]
    assert registry["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":3.1.2")  # the source is untouched
    with_config = registry_copy(registry, "bench", "img", "http://x", config_secret="bench-config")
    assert with_config["spec"]["template"]["spec"]["volumes"][1]["secret"]["secretName"] == "bench-config"
    on_s3 = registry_copy(registry, OTHER_LINE_NAME, "img", "http://x", bucket=s3.OTHER_LINE_BUCKET)
    assert on_s3["spec"]["template"]["spec"]["containers"][0]["env"][-1] == {
        "name": "REGISTRY_STORAGE_S3_BUCKET", "value": "registry-other-line"}  # the same bucket would mix the lines
    assert node_port_service("registry", OTHER_LINE_NAME, 31528)["spec"]["selector"] == \
        copy["spec"]["selector"]["matchLabels"]
    assert (line_of("docker.io/library/registry:2.8.2"), line_of("docker.io/library/registry:3.1.2")) == ("2.8", "3")


def test_the_s3_server_makes_both_buckets_and_takes_its_keys_from_a_secret(tmp_path):
    access_key, secret_key = s3.credentials(tmp_path)
    assert s3.credentials(tmp_path) == (access_key, secret_key)  # made once per environment
    assert oct((tmp_path / "s3-credentials").stat().st_mode)[-3:] == "600"
    objects = {o["kind"]: o for o in s3.objects(access_key, secret_key, ["registry", "registry-other-line"])}
    assert objects["Secret"]["stringData"] == {"access-key": access_key, "secret-key": secret_key}
    container = objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert "mkdir -p /data/registry /data/registry-other-line && exec versitygw" in container["command"][2]
    assert secret_key not in str(container)
    assert s3.endpoint() == local_settings().registry.s3.endpoint  # what the local stack declares


def test_the_local_stack_never_writes_the_committed_stack_file(tmp_path):
    stack = LocalStack(tmp_path, tmp_path / "bin", tmp_path / "kubeconfig")
    for command in (["up", "--yes"], ["config", "set", "k", "v"], ["preview"], ["refresh"], ["destroy"]):
        argv = stack.command(command)
        assert argv[argv.index("--config-file") + 1] == str(tmp_path / "stack" / "Pulumi.local.yaml")
        assert argv[argv.index("--stack") + 1] == "local"
    assert "--config-file" not in stack.command(["stack", "output", "--json"])


def test_a_generated_secret_that_begins_with_a_dash_stays_a_value(tmp_path):
    """The clean-clone run generated an S3 secret key beginning with "-", which pulumi took for a flag."""
    stack = LocalStack(tmp_path, tmp_path / "bin", tmp_path / "kubeconfig")
    argv = stack.command(["config", "set", "--secret", "--", "s3SecretKey", "-W3lZO5"])
    assert argv[-3:] == ["--", "s3SecretKey", "-W3lZO5"]
    assert argv.index("--config-file") < argv.index("--") and argv.index("--stack") < argv.index("--")


def test_pod_cgroups_are_listed_deepest_first_and_a_directory_gone_mid_walk_is_passed_over(tmp_path, monkeypatch):
    for path in ("memory/kubepods/burstable/pod1/c1", "freezer/kubepods/pod2", "cpu"):
        (tmp_path / path).mkdir(parents=True)
    monkeypatch.setattr(node, "CGROUP_ROOT", tmp_path)
    real_walk = node.os.walk

    def walk_losing_a_container(top):  # the container exits between listing pod1 and entering c1
        for entry in real_walk(top):
            if entry[0].endswith("pod1"):
                (tmp_path / "memory/kubepods/burstable/pod1/c1").rmdir()
            yield entry
    monkeypatch.setattr(node.os, "walk", walk_losing_a_container)
    found = [str(p.relative_to(tmp_path)) for p in node.pod_cgroup_dirs()]
    assert found[0] == "memory/kubepods/burstable/pod1" and set(found) == {
        "memory/kubepods/burstable/pod1", "memory/kubepods/burstable", "memory/kubepods", "freezer/kubepods/pod2",
        "freezer/kubepods"}
