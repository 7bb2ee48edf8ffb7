"""Metrics you can alert on: a real Prometheus (Debian's) scrapes Keycloak's management port and the registry's
debug port of the pods the program annotates, answers PromQL over both, and has the program's alert rules loaded;
promtool checks those rules and fires each one on synthetic series."""

import subprocess
import time

import pytest
import requests
import yaml

from components.monitoring import alert_rules
from tests.integration.clients import registry_get, request_token, token_for

LOGINS = 5


def query(env_json: dict, promql: str) -> list[dict]:
    response = requests.get(f"{env_json['prometheus_url']}/api/v1/query", params={"query": promql}, timeout=10)
    assert response.status_code == 200, response.text[:300]
    return response.json()["data"]["result"]


def value(env_json: dict, promql: str) -> float:
    result = query(env_json, promql)
    return float(result[0]["value"][1]) if result else 0.0


def targets(env_json: dict) -> list[str]:
    found = requests.get(f"{env_json['prometheus_url']}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
    return [f"{t['labels'].get('pod')} {t['health']} {t['lastError']}".strip() for t in found]


def wait_for(description: str, check, env_json: dict, timeout: float = 90):
    """Pods that just started need the target writer (1 s), file_sd (5 s) and a scrape (5 s) to show up."""
    deadline = time.monotonic() + timeout
    while not (outcome := check()):
        assert time.monotonic() < deadline, f"{description} within {timeout:.0f} s; targets: {targets(env_json)}"
        time.sleep(1)
    return outcome


def test_prometheus_scrapes_keycloak_and_the_registry_pods(env_json):
    def healthy() -> set[str]:
        targets = requests.get(f"{env_json['prometheus_url']}/api/v1/targets", timeout=10).json()["data"]
        return {t["labels"]["component"] for t in targets["activeTargets"] if t["health"] == "up"}
    assert wait_for("Keycloak and the registry scraped", lambda: {"keycloak", "registry"} <= healthy(), env_json)


def by_pod(env_json: dict, promql: str) -> dict[str, float]:
    """A counter summed per pod: a pod replaced by an earlier test takes its series away, and a new one starts from 0,
    so only per-pod growth says what this test did."""
    return {r["metric"].get("pod", ""): float(r["value"][1]) for r in query(env_json, f"sum by (pod) ({promql})")}


def growth(before: dict[str, float], after: dict[str, float]) -> float:
    """What the counters grew by: a new pod from 0, a restarted container (its counter reset) from 0 too."""
    return sum(value - before.get(pod, 0.0) if value >= before.get(pod, 0.0) else value for pod, value in after.items())


def test_promql_gives_registry_requests_by_status_code_and_keycloak_logins(local_env, env_json, user):
    realm = local_env.settings.realm
    login_events = f'keycloak_user_events_total{{realm="{realm.name}",client_id="{realm.client_id}",event="login"'
    registry = next(r for r in env_json["registries"] if r["line"] == local_env.settings.registry.line)
    counters = {"successful logins": (login_events + ',error=""}', LOGINS),
                "failed logins": (login_events + ',error!=""}', 1),
                "registry 200s": ('registry_http_requests_total{component="registry",code="200"}', LOGINS),
                "registry 401s": ('registry_http_requests_total{component="registry",code="401"}', LOGINS)}
    before = {name: by_pod(env_json, promql) for name, (promql, _) in counters.items()}

    for _ in range(LOGINS):
        assert registry_get(registry, None).status_code == 401  # the challenge every docker client starts with
        token = token_for(env_json, user["username"], user["password"])
        assert registry_get(registry, token).status_code == 200
    assert request_token(env_json, user["username"], "not-the-password").status_code == 401

    def short() -> list[str]:
        return [name for name, (promql, wanted) in counters.items()
                if growth(before[name], by_pod(env_json, promql)) < wanted]
    deadline = time.monotonic() + 90
    while missing := short():
        assert time.monotonic() < deadline, f"not scraped within 90 s: {missing}; targets: {targets(env_json)}"
        time.sleep(1)
    by_code = {r["metric"]["code"]: float(r["value"][1]) for r in query(
        env_json, 'sum by (code) (registry_http_requests_total{component="registry"})')}
    assert {"200", "401"} <= set(by_code), by_code
    errors = {r["metric"].get("error", "") for r in query(env_json, f"sum by (error) ({login_events}}})")}
    assert "invalid_user_credentials" in errors
    series = value(env_json, "count({__name__=~\".+\"})")
    print(f"registry requests by code {by_code}; login errors {sorted(errors)}; {series:.0f} series in the head")


def test_the_program_alert_rules_are_loaded_and_healthy(local_env, env_json):
    loaded = requests.get(f"{env_json['prometheus_url']}/api/v1/rules", timeout=10).json()["data"]["groups"]
    rules = {rule["name"]: rule["health"] for group in loaded for rule in group["rules"]}
    wanted = [rule["alert"] for group in alert_rules(local_env.settings)["groups"] for rule in group["rules"]]
    assert rules == {name: "ok" for name in wanted}


# ------------------------------------------------------------------------------------ promtool
def promtool_case(rules: dict, alert: str, series: list[dict], labels: dict, shown_value: str = "") -> dict:
    """One alert evaluated after 20 minutes of ``series``: firing with ``labels`` (its annotations rendered with
    ``shown_value``), or, without labels, silent."""
    expected = []
    if labels:
        rule = next(r for group in rules["groups"] for r in group["rules"] if r["alert"] == alert)
        rendered = {}
        for name, text in rule["annotations"].items():
            for template in ("{{ $value | humanizePercentage }}", "{{ $value }}"):
                text = text.replace(template, shown_value)
            rendered[name] = text.replace("{{ $labels.handler }}", labels.get("handler", ""))
        expected = [{"exp_labels": labels, "exp_annotations": rendered}]
    return {"interval": "1m", "input_series": series,
            "alert_rule_test": [{"eval_time": "20m", "alertname": alert, "exp_alerts": expected}]}


def counter(per_minute: int, minutes: int = 30) -> str:
    return f"0+{per_minute}x{minutes}" if per_minute else f"0x{minutes}"


@pytest.fixture
def rules_file(local_env, tmp_path):
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(alert_rules(local_env.settings), sort_keys=False))
    return path


def test_promtool_accepts_the_rules_and_fires_each_alert_once(local_env, rules_file, tmp_path):
    realm, rules = local_env.settings.realm, alert_rules(local_env.settings)
    login = f'keycloak_user_events_total{{realm="{realm.name}",client_id="{realm.client_id}",event="login"'

    def requests_total(code: str, handler: str, per_minute: int) -> dict:
        return {"series": f'registry_http_requests_total{{code="{code}",handler="{handler}",method="get"}}',
                "values": counter(per_minute)}

    def cluster_sizes(*sizes: int) -> list[dict]:
        return [{"series": f'vendor_cluster_size{{cache_manager="keycloak",node="keycloak-{n}"}}',
                 "values": f"{size}x30"} for n, size in enumerate(sizes)]

    healthy_registry = [requests_total("200", "blob", 100), requests_total("401", "base", 100)]
    cases = [
        # a third of logins failing for 20 minutes fires; one in twenty does not
        promtool_case(rules, "RegistryTokenFailures", [
            {"series": login + ',error=""}', "values": counter(20)},
            {"series": login + ',error="invalid_user_credentials"}', "values": counter(10)}],
            {"severity": "warning"}, "33.33%"),
        promtool_case(rules, "RegistryTokenFailures", [
            {"series": login + ',error=""}', "values": counter(95)},
            {"series": login + ',error="invalid_user_credentials"}', "values": counter(5)}], {}),
        promtool_case(rules, "RegistryServerErrors", healthy_registry + [requests_total("503", "base", 20)],
                      {"severity": "critical"}, "9.091%"),
        promtool_case(rules, "RegistryServerErrors", healthy_registry + [requests_total("500", "base", 1)], {}),
        # two pods each seeing only itself is a split cluster; each seeing both is one
        promtool_case(rules, "KeycloakClusterSplit", cluster_sizes(1, 1), {"severity": "critical"}, "1"),
        promtool_case(rules, "KeycloakClusterSplit", cluster_sizes(2, 2), {}),
        # a 5xx on the data path is the storage driver failing; on the base endpoint it is not
        promtool_case(rules, "RegistryStorageErrors", healthy_registry + [requests_total("500", "blob_upload", 1)],
                      {"severity": "critical", "handler": "blob_upload"}, "5"),
        promtool_case(rules, "RegistryStorageErrors", healthy_registry + [requests_total("500", "base", 1)], {}),
    ]
    tests = tmp_path / "rules_test.yml"
    tests.write_text(yaml.safe_dump({"rule_files": [str(rules_file)], "evaluation_interval": "1m",
                                     "tests": cases}, sort_keys=False))
    check = subprocess.run(["promtool", "check", "rules", str(rules_file)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    run = subprocess.run(["promtool", "test", "rules", str(tests)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    print(f"promtool: {check.stdout.strip()}; {len(cases)} cases passed")
