"""docker.io/library/registry:<REGISTRY_VERSION>, the CNCF distribution registry 3.x as its official image runs it.

Reproduces the official image (distribution/distribution-library-image, 3.x line): the registry binary at
/bin/registry (on PATH, so the program's `command: ["registry", "serve", ...]` works), its default configuration at
/etc/distribution/config.yml (filesystem storage at /var/lib/registry, :5000, debug :5001 with /metrics),
CA certificates, /entrypoint.sh with the official semantics (a file argument is served, `sh` gives a shell, any
other argument is a registry subcommand), ENTRYPOINT ["/entrypoint.sh"], CMD ["/etc/distribution/config.yml"],
EXPOSE 5000, /var/lib/registry, no USER (root unless the pod says otherwise).
Differs: the binary is the one scripts/lib/install-test-deps builds with `go install` from the Go module proxy (a cgo
build: the glibc it links is copied in) instead of the release tarball; the base is Debian's static busybox plus
that glibc instead of Alpine (so /bin/sh and the usual applets exist, apk does not); no VOLUME declaration; the
config file's log level is the default (info) rather than debug.
"""

from __future__ import annotations

from pathlib import Path

from . import build

FILES = "registry"
CONFIG_PATH = "/etc/distribution/config.yml"


def version() -> str:
    return build.settings().REGISTRY_VERSION


def reference() -> str:
    return f"{build.settings().REGISTRY_IMAGE}:{version()}"


def binary() -> Path:
    path = build.CACHE / f"registry-v{version()}" / "registry"
    if not path.is_file():
        raise build.BuildError(f"registry {version()} (no {path}: scripts/lib/install-test-deps builds it with "
                               "go install)")
    return path


def inputs() -> dict:
    return {"binary": build.file_sha256(binary()), "libs": build.linked_files(binary()),
            "busybox-static": build.apt_candidate("busybox-static"),
            "ca": build.file_sha256(Path("/etc/ssl/certs/ca-certificates.crt"))}


def registry_rootfs(target: Path, registry_binary: Path, config_path: str) -> None:
    """The layout both registry images share."""
    build.minimal_etc(target)
    build.busybox(target)
    build.copy_binary(registry_binary, target, "/bin/registry")
    build.ca_certificates(target)
    build.write(target, config_path, (build.FILES / FILES / "config.yml").read_text())
    build.write(target, "entrypoint.sh", (build.FILES / FILES / "entrypoint.sh").read_text(), mode=0o755)
    (target / "var/lib/registry").mkdir(parents=True)
    for d in ("usr/bin", "usr/sbin", "sbin"):
        (target / d).mkdir(parents=True, exist_ok=True)


def rootfs(target: Path, work: Path) -> None:
    registry_rootfs(target, binary(), CONFIG_PATH)


def config() -> dict:
    return {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Entrypoint": ["/entrypoint.sh"], "Cmd": [CONFIG_PATH], "ExposedPorts": build.oci.exposed([5000])}
