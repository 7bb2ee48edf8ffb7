import yaml

from components.registry import DRAIN_SECONDS, registry_config, registry_env, render_config, token_auth
from lib.kube import PRE_STOP_SECONDS, REGISTRY, labels
from settings import parse_settings
from support.keys import certificate_b64
from support.mock_program import VALID, container, run_program, stack_file_config


def test_token_auth_derives_from_keycloak_url_realm_and_client():
    token = token_auth(parse_settings({**VALID, "realm": "acme", "clientId": "images"}))
    assert token.realm == "https://auth.example.com/realms/acme/registry-token"
    assert token.issuer == "https://auth.example.com/realms/acme"
    assert token.service == "images"


def test_3x_config_verifies_with_the_jwks_and_bundle():
    settings = parse_settings(VALID)
    config = registry_config(settings.registry, token_auth(settings), "http-secret")
    assert config["auth"]["token"] == {
        "realm": "https://auth.example.com/realms/registry/registry-token", "service": "registry",
        "issuer": "https://auth.example.com/realms/registry",
        "rootcertbundle": "/etc/registry/certs/registry-cert.pem", "jwks": "/etc/registry/certs/jwks.json"}
    assert config["storage"]["filesystem"] == {"rootdirectory": "/var/lib/registry"}
    assert config["http"]["secret"] == "http-secret"
    assert config["http"]["host"] == "https://registry.example.com"
    assert registry_env(settings.registry) == [("OTEL_TRACES_EXPORTER", "none")]


def test_28_config_uses_the_bundle_only():
    settings = parse_settings({**VALID, "registryVersion": "2.8.3"})
    config = registry_config(settings.registry, token_auth(settings), "s")
    assert "jwks" not in config["auth"]["token"]
    assert registry_env(settings.registry) == []


def test_s3_storage():
    settings = parse_settings({**VALID, "registryStorage": "s3", "s3Bucket": "images", "s3Endpoint": "https://minio.example.com",
                               "s3AccessKey": "ak", "s3SecretKey": "sk", "registryReplicas": "2"},
                              frozenset({"s3AccessKey", "s3SecretKey"}))
    storage = registry_config(settings.registry, token_auth(settings), "s")["storage"]
    assert storage["s3"] == {"bucket": "images", "region": "us-east-1", "regionendpoint": "https://minio.example.com",
                             "forcepathstyle": True, "secure": True, "accesskey": "ak", "secretkey": "sk"}
    # the registry streams layers: a presigned URL names the S3 endpoint, which clients may not reach
    assert storage["redirect"] == {"disable": True}


def test_an_http_endpoint_is_spoken_to_over_http_and_redirects_are_a_choice():
    settings = parse_settings({**VALID, "registryStorage": "s3", "s3Bucket": "images", "s3Redirect": "true",
                               "s3Endpoint": "http://versitygw.s3.svc:7070"})
    storage = registry_config(settings.registry, token_auth(settings), "s")["storage"]
    assert storage["s3"]["secure"] is False and storage["redirect"] == {"disable": False}


def test_rendered_config_round_trips():
    settings = parse_settings(VALID)
    config = registry_config(settings.registry, token_auth(settings), "s")
    assert yaml.safe_load(render_config(config)) == config


def test_deployment_mounts_config_and_certs_from_secrets(dev_run):
    deployment = dev_run.one("kubernetes:apps/v1:Deployment", "registry")
    pod = deployment.inputs["spec"]["template"]["spec"]
    reg = container(deployment)
    assert reg["image"] == "docker.io/library/registry:3.1.2"
    assert reg["command"] == ["registry", "serve", "/etc/registry/config/config.yml"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["secret"]["secretName"] == "registry-config"
    assert volumes["certs"]["secret"]["secretName"] == "registry-signing-certs"
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "registry-data"
    assert reg["readinessProbe"]["httpGet"] == {"path": "/debug/health", "port": "debug"}


def test_config_secret_holds_the_rendered_config(dev_run):
    data = dev_run.one("kubernetes:core/v1:Secret", "registry-config").inputs["stringData"]["value"]
    config = yaml.safe_load(data["config.yml"])
    assert config["auth"]["token"]["service"] == "registry"
    assert config["auth"]["token"]["issuer"] == "http://localhost:30080/realms/registry"


def test_a_rotated_key_changes_the_pod_template(dev_config):
    config, secrets = dev_config

    def annotations(certs):
        keys = [{"algorithm": "RS256", "status": status, "certificate": cert, "providerPriority": prio}
                for cert, status, prio in certs]
        run = run_program(config, secrets, realm_keys=keys)
        return (run.one("kubernetes:apps/v1:Deployment", "registry")
                .inputs["spec"]["template"]["metadata"]["annotations"])

    old = certificate_b64("old")
    before = annotations([(old, "ACTIVE", 100)])
    again = annotations([(old, "ACTIVE", 100)])
    after = annotations([(old, "PASSIVE", 100), (certificate_b64("new"), "ACTIVE", 200)])
    assert before["checksum/signing-certs"] == again["checksum/signing-certs"]
    assert before["checksum/signing-certs"] != after["checksum/signing-certs"]


def test_a_rotated_key_updates_the_certificate_secret_in_place(dev_config):
    """pulumi-kubernetes replaces a Secret whose data change unless its provider makes Secrets mutable; with the
    fixed name that is delete-then-create, and the registry Deployment would be replaced with it."""
    config, secrets = dev_config
    old, new = certificate_b64("old"), certificate_b64("new")
    for keys in ([(old, "ACTIVE", 100)], [(old, "PASSIVE", 100), (new, "ACTIVE", 200)]):
        run = run_program(config, secrets, realm_keys=[
            {"algorithm": "RS256", "status": status, "certificate": cert, "providerPriority": prio}
            for cert, status, prio in keys])
        cluster = run.one("pulumi:providers:kubernetes")
        assert cluster.inputs.get("enableSecretMutable") in (True, "true")
        certs = run.one("kubernetes:core/v1:Secret", "registry-signing-certs")
        assert certs.provider.startswith(cluster.urn)
        assert certs.inputs["metadata"]["name"] == "registry-signing-certs" and "immutable" not in certs.inputs
        assert not certs.delete_before_replace and not certs.replace_on_changes
        volumes = run.one("kubernetes:apps/v1:Deployment", "registry").inputs["spec"]["template"]["spec"]["volumes"]
        assert {"name": "certs", "secret": {"secretName": "registry-signing-certs"}} in volumes


def test_prod_runs_three_replicas_on_s3_behind_an_ingress_fit_for_layers():
    run = run_program(*stack_file_config("prod"))
    deployment = run.one("kubernetes:apps/v1:Deployment", "registry").inputs["spec"]
    assert deployment["replicas"] == 3 and deployment["strategy"]["type"] == "RollingUpdate"
    # no registry claim: the images are on S3
    assert {c.name for c in run.of_type("kubernetes:core/v1:PersistentVolumeClaim")} == {"keycloak-db-data",
                                                                                       "keycloak-db-backups"}
    ingress = run.one("kubernetes:networking.k8s.io/v1:Ingress", "registry").inputs
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"] == "0"
    assert ingress["spec"]["tls"][0]["hosts"] == ["registry.example.com"]


def test_a_rollout_surges_and_never_drops_the_serving_pod(dev_run):
    """Found on the real node: Recreate left nothing serving during every key rotation (connections refused)."""
    spec = dev_run.one("kubernetes:apps/v1:Deployment", "registry").inputs["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    pod = spec["template"]["spec"]
    # the claim is ReadWriteOnce: the new pod must land where the old one has it attached
    term = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term == {"labelSelector": {"matchLabels": labels(REGISTRY)}, "topologyKey": "kubernetes.io/hostname"}
    # the old pod keeps serving until endpoints and proxies have dropped it
    assert container(dev_run.one("kubernetes:apps/v1:Deployment", "registry"))["lifecycle"] == {
        "preStop": {"sleep": {"seconds": PRE_STOP_SECONDS}}}


def test_a_replaced_pod_finishes_its_transfers_before_the_kubelet_kills_it(dev_run):
    """Found by the garbage-collection test: without a drain timeout distribution exits on SIGTERM mid-body, and a
    pull under way during a rollout broke off (ChunkedEncodingError)."""
    settings = parse_settings(VALID)
    drain = registry_config(settings.registry, token_auth(settings), "s")["http"]["draintimeout"]
    assert drain == f"{DRAIN_SECONDS}s"
    pod = dev_run.one("kubernetes:apps/v1:Deployment", "registry").inputs["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > PRE_STOP_SECONDS + DRAIN_SECONDS
    # a hung container (failing its liveness probe) is killed without waiting for a drain it cannot do
    assert PRE_STOP_SECONDS < pod["containers"][0]["livenessProbe"]["terminationGracePeriodSeconds"] < DRAIN_SECONDS


def test_without_a_claim_pods_go_wherever_the_scheduler_likes():
    spec = run_program(*stack_file_config("prod")).one("kubernetes:apps/v1:Deployment", "registry").inputs["spec"]
    assert "affinity" not in spec["template"]["spec"]


def test_replicas_spread_over_nodes_and_a_drain_takes_one_at_a_time(dev_run):
    run = run_program(*stack_file_config("prod"))
    pod = run.one("kubernetes:apps/v1:Deployment", "registry").inputs["spec"]["template"]["spec"]
    assert pod["topologySpreadConstraints"][0]["whenUnsatisfiable"] == "ScheduleAnyway"
    budget = run.one("kubernetes:policy/v1:PodDisruptionBudget", "registry").inputs["spec"]
    assert budget == {"maxUnavailable": 1, "selector": {"matchLabels": labels(REGISTRY)}}
    assert not [b for b in dev_run.of_type("kubernetes:policy/v1:PodDisruptionBudget") if b.name == "registry"]
