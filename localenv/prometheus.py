"""Prometheus (Debian's package) beside the node, with the program's alert rules loaded. Debian builds it without
Kubernetes discovery, so a small daemon here (``python -m localenv.prometheus STATE_DIR``) does that one job: it
lists the stack's pods and writes those carrying the program's prometheus.io/* annotations as file_sd targets, as
the kubernetes-pods example job would find them."""

from __future__ import annotations

import json
import shutil
import signal
import sys
import time
from pathlib import Path

import yaml

from components.monitoring import alert_rules
from settings import Settings

from . import processes

PORT = 31090  # 127.0.0.1 only
SCRAPE_INTERVAL = "5s"
POLL_SECONDS = 1.0
ANNOTATION = "prometheus.io/"


def directory(state_dir: Path) -> Path:
    return state_dir / "prometheus"


def config(prometheus_dir: Path) -> dict:
    """One job over the discovered pods, the rules beside it."""
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "rule_files": [str(prometheus_dir / "rules.yml")],
        "scrape_configs": [{"job_name": "kubernetes-pods",
                            "file_sd_configs": [{"files": [str(prometheus_dir / "targets.json")],
                                                 "refresh_interval": "5s"}]}],
    }


def scrape_targets(pods: list[dict]) -> list[dict]:
    """file_sd groups of the running pods annotated prometheus.io/scrape: "true", at their annotated port and path."""
    groups = []
    for pod in pods:
        annotations, status = pod["metadata"].get("annotations") or {}, pod.get("status") or {}
        if annotations.get(f"{ANNOTATION}scrape") != "true" or not status.get("podIP") \
                or pod["metadata"].get("deletionTimestamp") or status.get("phase") != "Running":
            continue
        groups.append({"targets": [f"{status['podIP']}:{annotations[f'{ANNOTATION}port']}"], "labels": {
            "__metrics_path__": annotations.get(f"{ANNOTATION}path", "/metrics"),
            "component": (pod["metadata"].get("labels") or {}).get("app.kubernetes.io/name", ""),
            "pod": pod["metadata"]["name"]}})
    return groups


def start(settings: Settings, state_dir: Path, logs: Path) -> dict[str, int]:
    """Write the rules (from the program) and the config, start Prometheus and the target writer; their pids."""
    binary = shutil.which("prometheus")
    if not binary:
        raise processes.ServerError("prometheus is not installed (Debian package prometheus; "
                                    "scripts/lib/install-test-deps installs it)")
    prometheus_dir = directory(state_dir)
    prometheus_dir.mkdir(parents=True, exist_ok=True)
    (prometheus_dir / "rules.yml").write_text(yaml.safe_dump(alert_rules(settings), sort_keys=False))
    (prometheus_dir / "targets.json").write_text("[]")
    (prometheus_dir / "prometheus.yml").write_text(yaml.safe_dump(config(prometheus_dir), sort_keys=False))
    pids = {"prometheus-targets": processes.start("prometheus-targets", [
        sys.executable, "-u", "-m", "localenv.prometheus", str(state_dir)], logs, cwd=Path(__file__).parents[1])}
    pids["prometheus"] = processes.start("prometheus", [
        binary, f"--config.file={prometheus_dir / 'prometheus.yml'}", f"--storage.tsdb.path={prometheus_dir / 'data'}",
        f"--web.listen-address=127.0.0.1:{PORT}", "--storage.tsdb.retention.time=1d"], logs)
    processes.wait_until("prometheus", processes.http_ok(f"http://127.0.0.1:{PORT}/-/ready"), pids["prometheus"], 60,
                         logs / "prometheus.log")
    return pids


def main() -> int:
    from .environment import LocalEnvironment  # the daemon side only: environment imports this module

    env = LocalEnvironment(Path(sys.argv[1]))
    api, namespace = env.kube(), env.settings.namespace
    targets = directory(env.state_dir) / "targets.json"
    stopping: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    written = None
    while not stopping:
        try:
            groups = scrape_targets(api.items(f"/api/v1/namespaces/{namespace}/pods"))
            if groups != written:
                processes.write_atomically(targets, json.dumps(groups, indent=1))  # Prometheus never reads half a file
                written = groups
                print(f"{time.strftime('%H:%M:%S')} {len(groups)} targets", flush=True)
        except Exception as error:  # the API server restarting: keep the last targets, try again
            print(f"{time.strftime('%H:%M:%S')} {type(error).__name__}: {error}", flush=True)
        time.sleep(POLL_SECONDS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
