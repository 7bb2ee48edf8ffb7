"""docker.io/rancher/local-path-provisioner:v<version>, the hostPath volume provisioner kind and k3s ship.

Reproduces rancher/local-path-provisioner's package/Dockerfile: /usr/bin/local-path-provisioner on a busybox base
(upstream: Alpine, whose busybox gives sh and the applets), CA certificates, CMD ["local-path-provisioner"], no
ENTRYPOINT, no USER. Its helper pods use the busybox image (recipe busybox.py).
Differs: the binary is `go install github.com/rancher/local-path-provisioner@v<version>` with cgo off,
-trimpath, -s -w and main.VERSION stamped as upstream's scripts/build does; the base is Debian's static busybox,
not Alpine (no apk).
"""

from __future__ import annotations

import os
from pathlib import Path

from . import build

MODULE = "github.com/rancher/local-path-provisioner"
VERSION = "v0.0.30"  # the release the Go module proxy serves (../shared/notes/real-node.md)
LDFLAGS = f"-s -w -X main.VERSION={VERSION}"


def reference() -> str:
    return f"docker.io/rancher/local-path-provisioner:{VERSION}"


def inputs() -> dict:
    binary = build.go_binary(MODULE, VERSION, LDFLAGS)
    return {"binary": build.file_sha256(binary), "go": build.go_version(),
            "busybox-static": build.apt_candidate("busybox-static"),
            "ca": build.file_sha256(Path("/etc/ssl/certs/ca-certificates.crt"))}


def rootfs(target: Path, work: Path) -> None:
    build.minimal_etc(target)
    build.busybox(target)
    build.ca_certificates(target)
    binary = target / "usr" / "bin" / "local-path-provisioner"
    binary.parent.mkdir(parents=True, exist_ok=True)
    binary.write_bytes(build.go_binary(MODULE, VERSION, LDFLAGS).read_bytes())
    os.chmod(binary, 0o755)


def config() -> dict:
    return {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["local-path-provisioner"]}
