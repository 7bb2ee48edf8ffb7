"""docker.io/library/busybox:<Debian's busybox version> (also tagged latest), for the volume provisioner's helper pods.

Reproduces the official busybox image's layout: one static busybox binary at /bin/busybox with every applet as a
/bin symlink, /etc/passwd and /etc/group with root and nobody, /tmp (1777), CMD ["sh"], no ENTRYPOINT, no USER.
It is also imported as docker.io/library/busybox:latest because rancher/local-path-provisioner's default helper
pod names plain `busybox` (imagePullPolicy IfNotPresent).
Differs: the binary is Debian's busybox-static (1.35.0 on bookworm; upstream builds its own from busybox.net, 1.36/1.37
today), so the applet set is Debian's configuration; /etc holds fewer system accounts (root, nobody) than upstream's.
"""

from __future__ import annotations

from pathlib import Path

from . import build


def version() -> str:
    return build.upstream_version(build.apt_candidate("busybox-static"))


def reference() -> str:
    return f"docker.io/library/busybox:{version()}"


def aliases() -> list[str]:
    return ["docker.io/library/busybox:latest"]


def inputs() -> dict:
    return {"busybox-static": build.apt_candidate("busybox-static")}


def rootfs(target: Path, work: Path) -> None:
    build.minimal_etc(target)
    build.busybox(target)
    for d in ("root", "var/spool/mail", "var/www", "usr/bin", "usr/sbin", "home"):
        (target / d).mkdir(parents=True, exist_ok=True)


def config() -> dict:
    return {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]}
