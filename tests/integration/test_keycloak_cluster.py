"""Keycloak clustered as the stack declares it (two replicas, Infinispan over jdbc-ping, discovery through the
database): both pods starting together with nothing in the discovery table form one cluster (keycloak#41290 split
it), and a pod deleted under 8 clients logging in costs only the logins it was answering; its replacement joins."""

import time

import pytest
import requests

from tests.integration.clients import SCOPE
from tests.integration.load import AUTH, CONNECTION, OK, SERVER, Load, login, report
from tests.integration.test_faults import scale, wait_until

pytestmark = pytest.mark.changes_stack  # stops and deletes pods: after the tests that only use the system
CLIENTS = 8
START_TIMEOUT = 420


def cluster_sizes(local_env) -> dict[str, int]:
    """Each ready Keycloak pod's view of its cluster (Infinispan's vendor_cluster_size on the management port)."""
    sizes = {}
    for pod in local_env.pods("keycloak"):
        ip = (pod.get("status") or {}).get("podIP")
        try:
            metrics = requests.get(f"http://{ip}:9000/metrics", timeout=5).text if ip else ""
        except requests.RequestException:
            continue
        size = next((line.rsplit(" ", 1)[1] for line in metrics.splitlines()
                     if line.startswith("vendor_cluster_size{")), None)
        if size is not None:
            sizes[pod["metadata"]["name"]] = int(float(size))
    return sizes


def one_cluster_of(local_env, members: int) -> bool:
    sizes = cluster_sizes(local_env)
    return len(sizes) == members and set(sizes.values()) == {members}


def discovery_rows(local_env) -> list[str]:
    """The JGROUPS_PING table jdbc-ping discovers members through, as the database has it."""
    return local_env.database_query("SELECT name, ip FROM JGROUPS_PING")


@pytest.fixture
def replicas(local_env) -> int:
    count = local_env.settings.keycloak.replicas
    assert count == 2, "the local stack declares a two-pod Keycloak cluster"
    return count


def test_both_replicas_starting_together_with_an_empty_discovery_table_form_one_cluster(local_env, kube, env_json,
                                                                                          replicas):
    """Both pods stop (each removes its row), so the table is empty as on a new database; then both start at once.
    Keycloak 26.7.3 elects the first coordinator under a database lock (keycloak#41291), so the second joins."""
    namespace = env_json["namespace"]
    scale(kube, namespace, "keycloak", 0)
    try:
        wait_until(lambda: not local_env.pods("keycloak", include_terminating=True), 180, "Keycloak stopped")
        assert discovery_rows(local_env) == [], "a stopped cluster leaves nobody to discover"
    finally:
        scale(kube, namespace, "keycloak", replicas)
    started = time.monotonic()
    wait_until(lambda: len([p for p in local_env.pods("keycloak") if pod_ready(p)]) == replicas,
               START_TIMEOUT, "both Keycloak pods ready")
    pods = local_env.pods("keycloak")
    starts = sorted(container_started(pod) for pod in pods)
    wait_until(lambda: one_cluster_of(local_env, replicas), 60, "one cluster of both pods")
    figures = {"ready_s": round(time.monotonic() - started, 1), "containers_started_apart_s": starts[-1] - starts[0],
               "cluster_sizes": cluster_sizes(local_env), "discovery_rows": len(discovery_rows(local_env))}
    report("keycloak-cluster-start", figures)
    assert figures["containers_started_apart_s"] <= 5, "the pods must start together for this to test anything"
    assert figures["discovery_rows"] == replicas


def pod_ready(pod: dict) -> bool:
    return any(c.get("ready") for c in (pod.get("status") or {}).get("containerStatuses") or [])


def container_started(pod: dict) -> int:
    state = pod["status"]["containerStatuses"][0]["state"].get("running") or {}
    return int(time.mktime(time.strptime(state["startedAt"], "%Y-%m-%dT%H:%M:%SZ")))


def test_a_deleted_pod_costs_only_its_inflight_logins_and_its_replacement_joins(local_env, kube, env_json, user,
                                                                               replicas):
    wait_until(lambda: one_cluster_of(local_env, replicas), 120, "a whole cluster before the fault")
    victim = local_env.pods("keycloak")[0]["metadata"]["name"]
    with Load(lambda session: login(session, env_json, user, SCOPE)[0], workers=CLIENTS, max_seconds=600) as load:
        time.sleep(5)
        deleted = time.monotonic()
        kube.call("DELETE", f"/api/v1/namespaces/{env_json['namespace']}/pods/{victim}", expect=(200, 202))
        wait_until(lambda: victim not in {p["metadata"]["name"] for p in local_env.pods("keycloak", True)}, 120,
                   "the deleted pod gone")
        gone = time.monotonic()
        wait_until(lambda: one_cluster_of(local_env, replicas), START_TIMEOUT, "the replacement joining the cluster")
        rejoined = time.monotonic()
        time.sleep(10)  # logins after the replacement joined: every one must succeed
        load.stop()
    during, after = load.counts(deleted, gone), load.counts(rejoined)
    figures = {"clients": CLIENTS, "before": dict(load.counts(0, deleted)), "while_the_pod_terminated": dict(during),
               "until_rejoined": dict(load.counts(gone, rejoined)), "after_rejoined": dict(after),
               "terminated_in_s": round(gone - deleted, 1), "rejoined_in_s": round(rejoined - deleted, 1),
               "connection_errors": load.failures, "resent": len(load.resent)}
    report("keycloak-pod-deleted", figures)
    failed = sum(load.counts(deleted).values()) - load.counts(deleted)[OK]
    assert failed <= CLIENTS, f"more logins failed than were in flight to the deleted pod: {figures}"
    assert not (load.counts(deleted)[AUTH] or load.counts(deleted)[SERVER]), figures  # never a wrong answer
    assert set(after) == {OK} and after[OK] > 0, figures
    assert CONNECTION not in load.counts(gone), figures
