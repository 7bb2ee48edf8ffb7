"""registry.k8s.io/pause:3.10, the sandbox image containerd starts for every pod.

Reproduces: kubernetes' build/pause (Dockerfile + Makefile) — `/pause` compiled from build/pause/linux/pause.c of
the kubernetes source at the control plane's version (the k8s.io/kubernetes module from the Go module proxy) with
`gcc -Os -Wall -Werror -static` and stripped, `USER 65535:65535`, `ENTRYPOINT ["/pause"]`, nothing else in the image.
Differs: built with the host's gcc and glibc instead of the cross toolchains of kubernetes' build image, and the
VERSION string pause -v prints is `v3.10-local` (upstream: `v<TAG>-<git describe>`).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from . import build

TAG = "3.10"
KUBE_VERSIONS = build.ROOT / "localenv" / "versions.env"


def kubernetes_version() -> str:
    for line in KUBE_VERSIONS.read_text().splitlines():
        if line.startswith("KUBERNETES_VERSION="):
            return line.split("=", 1)[1].strip()
    raise build.BuildError(f"KUBERNETES_VERSION in {KUBE_VERSIONS}")


def reference() -> str:
    return f"registry.k8s.io/pause:{TAG}"


def source() -> Path:
    """build/pause/linux/pause.c of k8s.io/kubernetes@v<KUBERNETES_VERSION>, from the project's Go module cache."""
    module = f"k8s.io/kubernetes@v{kubernetes_version()}"
    env = dict(os.environ, GOMODCACHE=str(build.CACHE / "gomod"), GOFLAGS="-mod=mod", GOTOOLCHAIN="local")
    try:
        out = subprocess.run(["go", "mod", "download", "-json", module], env=env, text=True, capture_output=True,
                             cwd="/", timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise build.BuildError(f"pause.c ({module} from the Go module proxy: {error})") from None
    try:
        directory = Path(json.loads(out.stdout)["Dir"])
    except (ValueError, KeyError):
        raise build.BuildError(f"pause.c ({module} from the Go module proxy: {out.stderr.strip()[-500:]})") from None
    path = directory / "build" / "pause" / "linux" / "pause.c"
    if not path.is_file():
        raise build.BuildError(f"pause.c (not at {path})")
    return path


def gcc_version() -> str:
    return build.run(["gcc", "--version"], capture=True).splitlines()[0]


def inputs() -> dict:
    libc = build.run(["dpkg-query", "-W", "-f", "${Version}", "libc6-dev"], capture=True)
    return {"pause.c": build.file_sha256(source()), "gcc": gcc_version(), "libc6-dev": libc}


def rootfs(target: Path, work: Path) -> None:
    target.mkdir(parents=True)
    binary = target / "pause"
    build.run(["gcc", "-Os", "-Wall", "-Werror", "-static", f"-DVERSION=v{TAG}-local",
               f"-ffile-prefix-map={source().parent}=.", "-o", str(binary), str(source())])
    build.run(["strip", str(binary)])
    os.chmod(binary, 0o755)


def config() -> dict:
    return {"User": "65535:65535", "Entrypoint": ["/pause"],
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}
