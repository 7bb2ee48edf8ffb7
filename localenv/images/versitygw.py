"""docker.io/versity/versitygw:v<version>, the S3 server the local stack's registry stores its blobs on.

Reproduces what the local environment relies on in versity/versitygw's image: the static versitygw binary on PATH
(/usr/local/bin), run as `versitygw ... posix <dir>`, and a POSIX sh (the pod creates its buckets, which the posix
backend keeps as directories, before it starts the server).
Differs: the base is busybox (Debian's busybox-static) instead of Alpine, and the binary is
`go install github.com/versity/versitygw/cmd/versitygw@v<version>` with cgo off, -trimpath and -s -w, stamped with
its version only (upstream's Makefile also stamps the commit and build time).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from . import build

MODULE = "github.com/versity/versitygw/cmd/versitygw"
VERSION = "1.8.0"  # the release the issue names; the Go module proxy serves it
LDFLAGS = f"-s -w -X main.Version=v{VERSION}"  # what `versitygw --version` prints, as upstream's Makefile stamps it


def binary() -> Path:
    return build.go_binary(MODULE, f"v{VERSION}", LDFLAGS)


def reference() -> str:
    return f"docker.io/versity/versitygw:v{VERSION}"


def inputs() -> dict:
    return {"binary": build.file_sha256(binary()), "go": build.go_version(),
            "busybox-static": build.apt_candidate("busybox-static")}


def rootfs(target: Path, work: Path) -> None:
    build.minimal_etc(target)
    build.busybox(target)
    (target / "usr" / "local" / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(binary(), target / "usr" / "local" / "bin" / "versitygw")
    os.chmod(target / "usr" / "local" / "bin" / "versitygw", 0o755)


def config() -> dict:
    return {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Entrypoint": ["versitygw"], "ExposedPorts": build.oci.exposed(["7070/tcp"])}
