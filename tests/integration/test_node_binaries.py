"""scripts/lib/node-binaries builds the real node's binaries at their pinned versions and caches them.

The script runs once for this module (a cold build takes many minutes; after that it is a cache hit). Each binary
must exist in the directory it prints, be statically linked (CGO off: no ELF interpreter), and report the version
pinned in localenv/versions.env (kubelet, kube-proxy, kubectl) or localenv/node-versions.env (kube-router). A second run
must be a cache hit in under 5 s. A piece that cannot be obtained fails the test naming it; nothing is skipped.
"""

from __future__ import annotations

import os
import struct
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "lib" / "node-binaries"
COLD_TIMEOUT = 3 * 3600  # a cold build from an empty cache on 2 shared cores
WARM_LIMIT = 5.0


def _versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in ("versions.env", "node-versions.env"):
        for line in (ROOT / "localenv" / name).read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and not line.lstrip().startswith("#"):
                versions[key.strip()] = value.strip()
    return versions


VERSIONS = _versions()

# binary -> (version command, text its output must contain)
EXPECTED = {
    "kubelet": (["--version"], f"Kubernetes v{VERSIONS['KUBERNETES_VERSION']}"),
    "kube-proxy": (["--version"], f"Kubernetes v{VERSIONS['KUBERNETES_VERSION']}"),
    "kubectl": (["version", "--client"], f"Client Version: v{VERSIONS['KUBERNETES_VERSION']}"),
    "kube-router": (["--version"], f"kube-router version v{VERSIONS['KUBE_ROUTER_VERSION']}"),
}


def _run_script() -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    result = subprocess.run([str(SCRIPT)], cwd=ROOT, text=True, capture_output=True, timeout=COLD_TIMEOUT)
    return result, time.monotonic() - start


@pytest.fixture(scope="module")
def bin_dir() -> Path:
    result, elapsed = _run_script()
    if result.returncode != 0:
        pytest.fail(f"scripts/lib/node-binaries failed ({result.returncode}) after {elapsed:.0f}s:\n"
                    f"{result.stderr[-4000:]}")
    lines = result.stdout.strip().splitlines()
    assert lines, "scripts/lib/node-binaries printed no bin dir"
    directory = Path(lines[-1])
    assert (directory / ".complete").is_file(), f"{directory} is not a complete cache entry"
    return directory


def _interpreter(path: Path) -> bool:
    """True if the ELF64 binary names a dynamic loader (PT_INTERP), i.e. it was linked with cgo."""
    with path.open("rb") as f:
        header = f.read(64)
        assert header[:5] == b"\x7fELF\x02", f"{path.name} is not an ELF64 binary"
        phoff, = struct.unpack_from("<Q", header, 32)
        phentsize, phnum = struct.unpack_from("<HH", header, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return any(struct.unpack_from("<I", table, i * phentsize)[0] == 3 for i in range(phnum))


@pytest.mark.parametrize("name", list(EXPECTED))
def test_binary_reports_pinned_version(bin_dir: Path, name: str):
    path = bin_dir / name
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"{name} is missing from {bin_dir}")
    assert not _interpreter(path), f"{name} is dynamically linked (built with cgo)"
    args, expected = EXPECTED[name]
    result = subprocess.run([str(path), *args], text=True, capture_output=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{name} {' '.join(args)} exited {result.returncode}: {output}"
    assert expected in output, f"{name} {' '.join(args)} does not report {expected!r}: {output!r}"


def test_second_run_is_a_cache_hit(bin_dir: Path):
    result, elapsed = _run_script()
    assert result.returncode == 0, f"scripts/lib/node-binaries failed on a warm run: {result.stderr[-4000:]}"
    assert result.stdout.strip().splitlines()[-1] == str(bin_dir)
    assert elapsed < WARM_LIMIT, f"a warm run of scripts/lib/node-binaries took {elapsed:.1f}s (limit {WARM_LIMIT}s)"
    assert "built in" not in result.stderr, f"a warm run rebuilt something: {result.stderr}"
