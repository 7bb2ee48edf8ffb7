"""scripts/bench's pure parts: percentiles, rates and ratios, targets, the table, the no-auth registry config and
the generated image; so a figure in the table means what its header says."""

import gzip
import hashlib
import io
import json
import tarfile

import pytest

from bench.runner import (
    aligned,
    evaluate_targets,
    latency_summary,
    mebibytes,
    median,
    percentile,
    pytest_summary,
    ratio,
    render_table,
    speedups,
    token_ratios,
    without_auth,
    write_bench_image,
)


def test_percentiles_interpolate_between_ranks_like_numpy():
    values = list(range(1, 101))  # 1..100, shuffled order must not matter
    shuffled = values[::2] + values[1::2]
    assert percentile(shuffled, 50) == pytest.approx(50.5)
    assert percentile(shuffled, 95) == pytest.approx(95.05)
    assert percentile(shuffled, 99) == pytest.approx(99.01)
    assert percentile(shuffled, 0) == 1 and percentile(shuffled, 100) == 100
    assert percentile([7.0], 99) == 7.0
    assert median([3, 1, 2]) == 2 and median([1, 2, 3, 4]) == 2.5
    with pytest.raises(ValueError):
        percentile([], 50)


def test_a_rate_is_concurrency_over_mean_latency():
    summary = latency_summary([0.010, 0.020, 0.030, 0.040], errors=1, concurrency=8)
    assert summary["ok"] == 4 and summary["errors"] == 1
    assert summary["p50_ms"] == 25.0 and summary["p99_ms"] == pytest.approx(39.7)
    assert summary["tokens_per_s"] == pytest.approx(8 / 0.025)
    nothing = latency_summary([], errors=3, concurrency=1)
    assert nothing["p95_ms"] is None and nothing["tokens_per_s"] is None and nothing["errors"] == 3


def test_ratios_are_docker_over_oidc_and_missing_when_a_side_is():
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(None, 2.0) is None and ratio(1.0, 0) is None and ratio(1.0, None) is None
    docker = {"p50_ms": 12.0, "p95_ms": 20.0, "p99_ms": 30.0, "tokens_per_s": 80.0}
    oidc = {"p50_ms": 10.0, "p95_ms": 25.0, "p99_ms": None, "tokens_per_s": 100.0}
    assert token_ratios(docker, oidc) == {"p50_ms": 1.2, "p95_ms": 0.8, "p99_ms": None, "tokens_per_s": 0.8}


def test_memory_quantities_in_mebibytes():
    assert [mebibytes(q) for q in ("768Mi", "2Gi", "512Ki", "1357Mi")] == [768, 2048, 0.5, 1357]
    assert mebibytes("1048576") == 1 and mebibytes("1G") == pytest.approx(1e9 / 2 ** 20)


def test_the_no_auth_twin_differs_from_the_pods_config_only_in_auth_and_public_address():
    pod = {"version": 0.1, "http": {"addr": ":5000", "host": "http://127.0.0.1:31500", "secret": "s",
                                    "debug": {"addr": ":5001"}},
           "storage": {"filesystem": {"rootdirectory": "/var/lib/registry"}, "delete": {"enabled": True}},
           "auth": {"token": {"realm": "http://127.0.0.1:31080/realms/registry/registry-token"}}}
    twin = without_auth(pod, "http://127.0.0.1:31600")
    assert "auth" not in twin and "auth" in pod
    assert twin["http"] == {**pod["http"], "host": "http://127.0.0.1:31600"}
    assert twin["storage"] == pod["storage"]


def test_targets_follow_issue_9():
    level = {"concurrency": 8, "docker-v2": {"errors": 0}, "oidc": {"errors": 1}, "ratios": {"p95_ms": 0.9}}
    results = {"tokens": {"levels": [level]},
               "throughput": {"rows": [{"line": "3", "operation": "push", "ratio": 0.97},
                                       {"line": "2.8", "operation": "pull", "ratio": 0.5}]},
               "program": {"mock_preview_s": {"dev": 1.2, "prod": 3.0},
                           "unit_suite": {"seconds": 25.0, "exit_code": 1, "summary": "1 failed"}}}
    met = {t["target"]: t["met"] for t in evaluate_targets(results)}
    assert met == {
        "tokens: zero errors at concurrency 8": False,
        "tokens: docker-v2 p95 <= OIDC p95 at concurrency 8": True,
        "throughput: registry 3 push with token auth >= 97% of no auth": True,
        "throughput: registry 2.8 pull with token auth >= 97% of no auth": False,
        "program: mock preview of dev < 3 s": True,
        "program: mock preview of prod < 3 s": False,
        "program: unit suite < 30 s (and passing)": False,
    }
    assert evaluate_targets({}) == []


def refresh_level(concurrency: int, refresh_p50: float, refresh_rate: float, errors: int = 0) -> dict:
    password = {"ok": 200, "errors": 0, "p50_ms": 40.0, "p95_ms": 80.0, "p99_ms": 90.0, "tokens_per_s": 50.0,
                "keycloak_cpu_ms_per_token": 40.0}
    refreshed = {"ok": 200, "errors": errors, "p50_ms": refresh_p50, "p95_ms": 8.0, "p99_ms": 9.0,
                 "tokens_per_s": refresh_rate, "keycloak_cpu_ms_per_token": 4.0}
    return {"concurrency": concurrency, "password": password, "refresh": refreshed,
            "speedup": speedups(password, refreshed)}


def test_speedups_are_how_many_times_faster_or_more_the_refresh_grant_is():
    assert refresh_level(1, 4.0, 500.0)["speedup"] == {"p50_ms": 10.0, "p95_ms": 10.0, "tokens_per_s": 10.0,
                                                       "keycloak_cpu_ms_per_token": 10.0}


def test_refresh_targets_are_issue_19s_p50_at_the_lowest_and_rate_at_the_highest_concurrency():
    results = {"refresh": {"requests_per_kind": 200,
                           "levels": [refresh_level(1, 5.0, 100.0), refresh_level(32, 20.0, 499.0, errors=2)]}}
    met = {t["target"]: t["met"] for t in evaluate_targets(results)}
    assert met == {"refresh: zero errors at concurrency 1": True, "refresh: zero errors at concurrency 32": False,
                   "refresh: refresh-grant p50 <= 5 ms at concurrency 1": True,
                   "refresh: refresh-grant tokens/s >= 10x the password's at concurrency 32": False}
    faster = {"refresh": {"levels": [refresh_level(1, 5.01, 100.0), refresh_level(32, 20.0, 500.0)]}}
    met = {t["target"]: t["met"] for t in evaluate_targets(faster)}
    assert not met["refresh: refresh-grant p50 <= 5 ms at concurrency 1"]
    assert met["refresh: refresh-grant tokens/s >= 10x the password's at concurrency 32"]
    table = render_table({**sample_results(), **results})
    assert any(line.split() == ["32", "speedup", "2.0x", "10.0x", "10.0x", "10.0x"] for line in table.splitlines())


def test_columns_align_left_or_right_per_column():
    assert aligned([["a", "1", "x"], ["bbb", "22", ""]], "<><") == ["  a     1  x", "  bbb  22"]


def sample_results() -> dict:
    summary = {"ok": 200, "errors": 0, "p50_ms": 11.0, "p95_ms": 15.5, "p99_ms": 21.0, "tokens_per_s": 88.0,
               "first_error": ""}
    return {
        "started_at": "2026-11-29T15:10:00Z", "options": {"quick": False}, "host": {"cpus": 2, "load_start": 0.5,
                                                                                    "load_end": 1.5},
        "tokens": {"requests_per_kind": 200, "levels": [{
            "concurrency": 1, "docker-v2": summary, "oidc": {**summary, "p95_ms": 14.0},
            "ratios": token_ratios(summary, {**summary, "p95_ms": 14.0})}]},
        "throughput": {"image": {"layers": 10, "bytes": 200_001_234}, "rounds": 3, "rows": [
            {"line": "3", "operation": "push", "auth_mb_s": 150.0, "no_auth_mb_s": 160.0, "ratio": 0.938}]},
        "engine": {"noop_preview": {"seconds": 9.14, "exit_code": 0}, "fresh_up_this_run": False,
                   "fresh_up": {"control_plane": 7.0, "pulumi_up": 105.2, "up": 114.1}},
        "program": {"rounds": 3, "mock_preview_s": {"dev": 1.234}, "unit_suite": {
            "seconds": 28.44, "exit_code": 0, "summary": "212 passed in 27.91s"}},
        "memory": [{"process": "keycloak (java)", "peak_mib": 499.4, "current_mib": 480.0, "request_mib": 1250.0,
                    "limit_mib": 1357.0},
                   {"process": "registry-3-no-auth", "peak_mib": 30.0, "current_mib": 29.0, "request_mib": None,
                    "limit_mib": None}],
    }


def test_the_table_shows_each_section_and_the_targets():
    results = sample_results()
    results["targets"] = evaluate_targets(results)
    table = render_table(results)
    assert table.startswith("keycloak-registry bench, 2026-11-29T15:10:00Z (2 cores, load 0.50 -> 1.50; full run)")
    lines = table.splitlines()
    assert "     1  docker-v2    200       0    11.0    15.5    21.0      88.0" in lines
    assert any(line.split() == ["1", "docker/oidc", "1.00", "1.11", "1.00", "1.00"] for line in lines)
    assert any(line.split() == ["3", "push", "150.0", "160.0", "0.938"] for line in lines)
    assert any(line.startswith("  no-op pulumi preview (local stack)") and line.endswith("9.1 s  no changes")
               for line in lines)
    assert any("fresh scripts/localenv up (as recorded)" in line and "114.1 s" in line and "pulumi up 105.2 s" in line
               for line in lines)
    assert any(line.split() == ["dev", "1.23", "s"] for line in lines)
    assert any(line.split()[:4] == ["unit", "suite", "28.4", "s"] and line.endswith("212 passed in 27.91s")
               for line in lines)
    assert any(line.split() == ["keycloak", "(java)", "499", "480", "1250", "1357", "37%"] for line in lines)
    assert any(line.split() == ["registry-3-no-auth", "30", "29", "-", "-", "-"] for line in lines)
    assert "targets: 3 of 5 met" in lines
    assert any(line.split()[:2] == ["MISSED", "tokens:"] and "ratio 1.107" in line for line in lines)


def test_the_table_leaves_out_sections_that_did_not_run():
    kept = ("started_at", "options", "host", "program")
    results = {key: value for key, value in sample_results().items() if key in kept}
    table = render_table(results)
    assert "program: mock preview" in table
    for absent in ("tokens:", "throughput:", "engine", "memory:", "targets"):
        assert absent not in table


def test_pytest_summary_is_its_closing_line():
    assert pytest_summary("....\n\n===== 212 passed in 27.91s =====\n") == "212 passed in 27.91s"
    assert pytest_summary("") == "no output"


def test_the_generated_image_is_a_valid_oci_layout_of_incompressible_layers(tmp_path):
    summary = write_bench_image(tmp_path, layers=3, layer_bytes=4096)
    assert summary == json.loads((tmp_path / "bench-image.json").read_text())
    blob = lambda digest: (tmp_path / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()  # noqa: E731
    index = json.loads((tmp_path / "index.json").read_text())
    (manifest_ref,) = index["manifests"]
    assert manifest_ref["annotations"]["org.opencontainers.image.ref.name"] == "bench"
    assert summary["manifest"] == manifest_ref["digest"]
    manifest = json.loads(blob(manifest_ref["digest"]))
    config = json.loads(blob(manifest["config"]["digest"]))
    assert len(manifest["layers"]) == 3 and summary["layers"] == 3
    assert summary["blobs"] == [layer["digest"] for layer in manifest["layers"]] + [manifest["config"]["digest"]]
    assert summary["bytes"] == sum(layer["size"] for layer in manifest["layers"]) + manifest["config"]["size"]
    contents = []
    for layer, diff_id in zip(manifest["layers"], config["rootfs"]["diff_ids"]):
        data = blob(layer["digest"])
        assert hashlib.sha256(data).hexdigest() == layer["digest"].split(":")[1] and len(data) == layer["size"]
        raw = gzip.decompress(data)
        assert diff_id == f"sha256:{hashlib.sha256(raw).hexdigest()}"
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            (member,) = tar.getmembers()
            contents.append(tar.extractfile(member).read())
        assert len(gzip.compress(contents[-1])) >= 4096  # random bytes: nothing to compress
    assert len(set(contents)) == 3 and all(len(c) == 4096 for c in contents)
    again = write_bench_image(tmp_path / "again", layers=3, layer_bytes=4096)
    assert again == summary  # seeded: the cached image is the same image
