"""Metrics an SRE can scrape and alert on: annotated pods, Keycloak's login counters, the registry's Prometheus
endpoint, and (serviceMonitor) the Prometheus Operator objects carrying the program's alert rules."""

import yaml

from components.database import DatabaseEndpoint
from components.keycloak import keycloak_env
from components.monitoring import alert_rules
from components.registry import registry_config, token_auth
from settings import parse_settings
from support.mock_program import VALID, run_program, stack_file_config

ENDPOINT = DatabaseEndpoint("mysql", "keycloak-db.registry.svc.cluster.local", 3306, "keycloak")
CUSTOM_RESOURCES = ("kubernetes:monitoring.coreos.com/v1:ServiceMonitor",
                    "kubernetes:monitoring.coreos.com/v1:PrometheusRule")


def pod_annotations(run, name: str) -> dict:
    return run.one("kubernetes:apps/v1:Deployment", name).inputs["spec"]["template"]["metadata"]["annotations"]


def test_both_workloads_announce_their_metrics_port_to_prometheus(dev_run):
    for name, port in (("keycloak", "9000"), ("registry", "5001")):
        annotations = pod_annotations(dev_run, name)
        assert (annotations["prometheus.io/scrape"], annotations["prometheus.io/port"],
                annotations["prometheus.io/path"]) == ("true", port, "/metrics"), name


def test_keycloak_counts_logins_and_the_registry_serves_prometheus_on_its_debug_port():
    settings = parse_settings(VALID)
    env = dict(keycloak_env(settings.keycloak, ENDPOINT))
    assert (env["KC_METRICS_ENABLED"], env["KC_EVENT_METRICS_USER_ENABLED"]) == ("true", "true")
    assert env["KC_EVENT_METRICS_USER_TAGS"] == "realm,clientId"  # the registry's logins apart from the console's
    debug = registry_config(settings.registry, token_auth(settings), "s")["http"]["debug"]
    assert debug == {"addr": ":5001", "prometheus": {"enabled": True, "path": "/metrics"}}


def test_without_service_monitor_no_operator_object_is_declared(dev_run):
    assert not [r for r in dev_run.resources if r.type in CUSTOM_RESOURCES]


def test_service_monitor_declares_metrics_services_monitors_and_the_alert_rules():
    config, secrets = stack_file_config("dev")
    run = run_program({**config, "serviceMonitor": "true"}, secrets)
    services = {s.name: s.inputs["spec"] for s in run.of_type("kubernetes:core/v1:Service")}
    assert services["keycloak-metrics"]["type"] == services["registry-metrics"]["type"] == "ClusterIP"
    assert services["keycloak-metrics"]["ports"] == [{"name": "metrics", "port": 9000, "targetPort": 9000}]
    assert services["registry-metrics"]["ports"] == [{"name": "metrics", "port": 5001, "targetPort": 5001}]
    monitors = {m.name: m.inputs["spec"] for m in run.of_type(CUSTOM_RESOURCES[0])}
    assert set(monitors) == {"keycloak-metrics", "registry-metrics"}
    for name, spec in monitors.items():
        assert spec["selector"]["matchLabels"] == services[name]["selector"]
        assert spec["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s"}]
    rule = run.one(CUSTOM_RESOURCES[1], "registry-alerts")
    assert rule.inputs["spec"] == alert_rules(parse_settings(config))
    assert [r["alert"] for r in rule.inputs["spec"]["groups"][0]["rules"]] == [
        "RegistryTokenFailures", "RegistryServerErrors", "KeycloakClusterSplit", "RegistryStorageErrors"]


def test_the_alert_rules_name_the_stack_realm_and_client():
    rules = yaml.safe_dump(alert_rules(parse_settings({**VALID, "realm": "images", "clientId": "hub"})))
    assert 'realm="images",client_id="hub"' in rules
