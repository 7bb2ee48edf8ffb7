import pytest

from components.database import DatabaseEndpoint
from components.keycloak import Listen, keycloak_env
from lib.kube import SecretRef
from settings import RESOURCE_PROFILES, parse_settings
from support.mock_program import VALID, container, run_program, stack_file_config

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
ENDPOINT = DatabaseEndpoint("mysql", "keycloak-db.registry.svc.cluster.local", 3306, "keycloak")


def test_env_has_one_variable_per_setting():
    env = keycloak_env(parse_settings(VALID).keycloak, ENDPOINT)
    names = [name for name, _ in env]
    assert len(names) == len(set(names))
    values = dict(env)
    assert values["KC_FEATURES"] == "docker"
    assert values["KC_DB"] == "mysql"
    assert values["KC_DB_URL_HOST"] == "keycloak-db.registry.svc.cluster.local"
    assert values["KC_DB_URL_PORT"] == "3306"
    assert values["KC_DB_URL_DATABASE"] == "keycloak"
    assert values["KC_DB_PASSWORD"] == SecretRef("keycloak-db-credentials", "password")
    assert values["KC_HOSTNAME"] == "https://auth.example.com"
    assert values["KC_HTTP_ENABLED"] == "true"
    assert values["KC_HEALTH_ENABLED"] == "true"
    assert values["KC_BOOTSTRAP_ADMIN_PASSWORD"] == SecretRef("keycloak-bootstrap-admin", "password")
    assert "KC_PROXY_HEADERS" not in values
    assert "KC_LOG_LEVEL" not in values  # unset key, no variable: upgrading to a version with the key rolls no pod
    assert not any(name.startswith("KEYCLOAK_ADMIN") for name in names)  # gone in Keycloak 26


def test_one_replica_keeps_its_caches_and_more_form_a_cluster_through_the_database(dev_run):
    assert dict(keycloak_env(parse_settings(VALID).keycloak, ENDPOINT))["KC_CACHE"] == "local"
    clustered = dict(keycloak_env(parse_settings({**VALID, "keycloakReplicas": "2"}).keycloak, ENDPOINT))
    assert (clustered["KC_CACHE"], clustered["KC_CACHE_STACK"]) == ("ispn", "jdbc-ping")
    assert dev_run.of_type("kubernetes:policy/v1:PodDisruptionBudget") == []
    assert "topologySpreadConstraints" not in dev_run.one(DEPLOYMENT, "keycloak").inputs["spec"]["template"]["spec"]


def test_a_cluster_rolls_one_pod_at_a_time_survives_a_drain_and_spreads_over_nodes():
    config, secrets = stack_file_config("prod")
    run = run_program(config, secrets)
    assert parse_settings(config, secrets).keycloak.replicas == 2
    spec = run.one(DEPLOYMENT, "keycloak").inputs["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    assert spec["template"]["spec"]["topologySpreadConstraints"] == [{
        "maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": spec["selector"]["matchLabels"]}}]
    assert {"name": "cluster", "containerPort": 7800} in container(run.one(DEPLOYMENT, "keycloak"))["ports"]
    budget = run.one("kubernetes:policy/v1:PodDisruptionBudget", "keycloak").inputs["spec"]
    assert budget == {"maxUnavailable": 1, "selector": {"matchLabels": spec["selector"]["matchLabels"]}}


def test_behind_an_ingress_keycloak_trusts_forwarded_headers():
    env = dict(keycloak_env(parse_settings({**VALID, "keycloakIngress": "true"}).keycloak, ENDPOINT))
    assert env["KC_PROXY_HEADERS"] == "xforwarded"


def test_a_log_level_goes_to_kc_log_level_as_given():
    level = "info,dev.keycloakregistry.access:debug"
    env = dict(keycloak_env(parse_settings({**VALID, "keycloakLogLevel": level}).keycloak, ENDPOINT))
    assert env["KC_LOG_LEVEL"] == level


def test_local_listen_address_is_a_parameter_not_a_copy():
    env = dict(keycloak_env(parse_settings(VALID).keycloak, ENDPOINT, Listen("127.0.0.1", 18080, 19000)))
    assert (env["KC_HTTP_HOST"], env["KC_HTTP_PORT"], env["KC_HTTP_MANAGEMENT_PORT"]) == ("127.0.0.1", "18080", "19000")


def test_deployment_runs_start_with_probes_on_the_management_port(dev_run):
    deployment = dev_run.one("kubernetes:apps/v1:Deployment", "keycloak")
    kc = container(deployment)
    assert kc["image"] == "quay.io/keycloak/keycloak:26.7.3"
    assert kc["args"] == ["start"]
    ports = {p["name"]: p["containerPort"] for p in kc["ports"]}
    assert ports == {"http": 8080, "management": 9000}
    for probe, path in (("startupProbe", "/health/started"), ("readinessProbe", "/health/ready"),
                        ("livenessProbe", "/health/live")):
        assert kc[probe]["httpGet"] == {"path": path, "port": "management"}
    env = {e["name"]: e for e in kc["env"]}
    assert env["KC_BOOTSTRAP_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "keycloak-bootstrap-admin"
    # never Recreate: pulumi-kubernetes' await took a Recreate rollout for done while the old pod was going away
    assert deployment.inputs["spec"]["strategy"] == {"type": "RollingUpdate",
                                                     "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


def test_dev_exposes_keycloak_on_its_node_port(dev_run):
    spec = dev_run.one("kubernetes:core/v1:Service", "keycloak").inputs["spec"]
    assert spec["type"] == "NodePort" and spec["ports"][0]["nodePort"] == 30080


def test_staging_ingress_terminates_tls_for_the_public_host():
    run = run_program(*stack_file_config("staging"))
    ingress = run.one("kubernetes:networking.k8s.io/v1:Ingress", "keycloak").inputs
    assert ingress["spec"]["rules"][0]["host"] == "auth.staging.example.com"
    assert ingress["spec"]["tls"] == [{"hosts": ["auth.staging.example.com"], "secretName": "keycloak-tls"}]
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt-staging"
    assert run.one("kubernetes:core/v1:Service", "keycloak").inputs["spec"]["type"] == "ClusterIP"


def test_every_workload_is_hardened(dev_run):
    for type_, name in (("kubernetes:apps/v1:Deployment", "keycloak"), ("kubernetes:apps/v1:Deployment", "registry"),
                        ("kubernetes:apps/v1:StatefulSet", "keycloak-db")):
        pod = dev_run.one(type_, name).inputs["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for c in pod["containers"]:
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}, name
            assert set(c["resources"]) == {"requests", "limits"}, name


def mebibytes(quantity: str) -> float:
    number, unit = quantity[:-2], quantity[-2:]
    return float(number) * {"Mi": 1, "Gi": 1024}[unit]


@pytest.mark.parametrize("profile", sorted(RESOURCE_PROFILES))
def test_keycloak_memory_follows_its_sizing_guide(profile):
    """Keycloak's guide: at least 1250 MB requested; 70% of the limit is heap plus ~300 MB off-heap."""
    keycloak = RESOURCE_PROFILES[profile][1]
    request, limit = mebibytes(keycloak.memory_request), mebibytes(keycloak.memory_limit)
    assert request >= 1250
    assert abs(limit - (request - 300) / 0.7) < 1
