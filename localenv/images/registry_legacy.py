"""docker.io/library/registry:<Debian's docker-registry version>, the 2.8 line of the registry, from Debian.

Reproduces the official 2.8 image (distribution/distribution-library-image before 3.0): /bin/registry (on PATH),
its default configuration at /etc/docker/registry/config.yml, CA certificates, /entrypoint.sh (same semantics as
the 3.x image's), ENTRYPOINT ["/entrypoint.sh"], CMD ["/etc/docker/registry/config.yml"], EXPOSE 5000,
/var/lib/registry, no USER.
Differs: the binary is Debian's docker-registry package (/usr/bin/docker-registry, built by Debian with its own
patches, dynamically linked: its glibc is copied in) instead of the upstream release; so the tag is the version
Debian ships (2.8.2 on bookworm), which is not settings/keys.py's REGISTRY_LEGACY_VERSION when that names
another 2.8.x; base = Debian's static busybox + glibc instead of Alpine; config log level info, not debug.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from settings import registry_line

from . import build
from .registry import FILES, registry_rootfs  # noqa: F401  (FILES: the files both registry images ship)

CONFIG_PATH = "/etc/docker/registry/config.yml"
PACKAGE = "docker-registry"
USES = ("registry",)  # its registry_rootfs() is part of this image's key


def debian_version() -> str:
    """The installed docker-registry package (scripts/lib/install-test-deps installs it)."""
    out = build.run(["dpkg-query", "-W", "-f", "${Status} ${Version}", PACKAGE], capture=True) \
        if shutil.which("dpkg-query") else ""
    if not out.startswith("install ok installed "):
        raise build.BuildError(f"registry 2.8 (Debian package {PACKAGE} is not installed)")
    return out.split()[-1]


def version() -> str:
    version = build.upstream_version(debian_version())
    if registry_line(version) != "2.8":
        raise build.BuildError(f"registry 2.8 (Debian's {PACKAGE} is {debian_version()})")
    return version


def reference() -> str:
    return f"{build.settings().REGISTRY_IMAGE}:{version()}"


def binary() -> Path:
    path = Path("/usr/bin/docker-registry")
    if not path.is_file():
        raise build.BuildError(f"registry 2.8 ({path}, Debian package {PACKAGE})")
    return path


def inputs() -> dict:
    return {"package": debian_version(), "binary": build.file_sha256(binary()), "libs": build.linked_files(binary()),
            "busybox-static": build.apt_candidate("busybox-static"),
            "ca": build.file_sha256(Path("/etc/ssl/certs/ca-certificates.crt"))}


def rootfs(target: Path, work: Path) -> None:
    registry_rootfs(target, binary(), CONFIG_PATH)


def config() -> dict:
    return {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Entrypoint": ["/entrypoint.sh"], "Cmd": [CONFIG_PATH], "ExposedPorts": build.oci.exposed([5000])}
