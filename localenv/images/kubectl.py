"""docker.io/alpine/kubectl:<KUBERNETES_VERSION>, the image the registry's maintenance jobs run (``kubectlImage``).

Reproduces what the program relies on in alpine/kubectl: a POSIX sh with the usual applets and kubectl at
/usr/bin/kubectl, ENTRYPOINT ["kubectl"], CMD ["--help"].
Differs: busybox (Debian's busybox-static) instead of Alpine's base, and kubectl is built here
(scripts/lib/node-binaries: k8s.io/kubernetes/cmd/kubectl from the Go module proxy, cgo off) instead of downloaded
from dl.k8s.io.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from . import build
from .pause import kubernetes_version

USES = ("pause",)


def reference() -> str:
    return f"docker.io/alpine/kubectl:{kubernetes_version()}"


def binary() -> Path:
    """kubectl from scripts/lib/node-binaries (built once; waits on its lock while a build is under way)."""
    out = subprocess.run([str(build.ROOT / "scripts" / "lib" / "node-binaries")], capture_output=True, text=True,
                         cwd=build.ROOT)
    if out.returncode != 0:
        raise build.BuildError(f"kubectl (scripts/lib/node-binaries failed: {out.stderr.strip()[-500:]})")
    return Path(out.stdout.strip().splitlines()[-1]) / "kubectl"


def inputs() -> dict:
    return {"kubectl": build.file_sha256(binary()), "busybox-static": build.apt_candidate("busybox-static")}


def rootfs(target: Path, work: Path) -> None:
    build.minimal_etc(target)
    build.busybox(target)
    (target / "usr" / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(binary(), target / "usr" / "bin" / "kubectl")
    os.chmod(target / "usr" / "bin" / "kubectl", 0o755)


def config() -> dict:
    return {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Entrypoint": ["kubectl"], "Cmd": ["--help"]}
