"""registry.k8s.io/coredns/coredns:v<version> (also docker.io/coredns/coredns:<version>), the cluster DNS server.

Reproduces coredns/coredns's Dockerfile at that version: the static /coredns binary with the file capability
cap_net_bind_service=+ep (so it binds :53 as a non-root user), on a distroless-like base (/etc/passwd with root,
nobody and nonroot 65532, CA certificates, /tmp 1777), USER 65532:65532, WORKDIR /, EXPOSE 53 53/udp,
ENTRYPOINT ["/coredns"]. Both names a kubeadm/kind cluster or a plain manifest may use are imported.
Differs: the binary is `go install github.com/coredns/coredns@v<version>` with cgo off, -trimpath and -s -w
(upstream's Makefile also builds with cgo off, but stamps its git commit); the base is not Google's distroless image
(no tzdata, no /etc/os-release).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from . import build

MODULE = "github.com/coredns/coredns"
VERSION = "1.15.0"  # the release the Go module proxy serves (../shared/notes/machine.md)
NONROOT = 65532


def reference() -> str:
    return f"registry.k8s.io/coredns/coredns:v{VERSION}"


def aliases() -> list[str]:
    return [f"docker.io/coredns/coredns:{VERSION}"]


def inputs() -> dict:
    binary = build.go_binary(MODULE, f"v{VERSION}")
    return {"binary": build.file_sha256(binary), "go": build.go_version(),
            "ca": build.file_sha256(Path("/etc/ssl/certs/ca-certificates.crt"))}


def rootfs(target: Path, work: Path) -> None:
    build.minimal_etc(target, users=[f"nonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin"],
                      groups=[f"nonroot:x:{NONROOT}:"])
    build.ca_certificates(target)
    shutil.copyfile(build.go_binary(MODULE, f"v{VERSION}"), target / "coredns")
    os.chmod(target / "coredns", 0o755)
    os.setxattr(target / "coredns", "security.capability", build.oci.file_capability_bind_service())
    home = target / "home" / "nonroot"
    home.mkdir(parents=True)
    os.chown(home, NONROOT, NONROOT)


def config() -> dict:
    return {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "User": f"{NONROOT}:{NONROOT}", "WorkingDir": "/", "Entrypoint": ["/coredns"],
            "ExposedPorts": build.oci.exposed(["53/tcp", "53/udp"])}
