"""The image the database backups copy their dumps to S3 with: docker.io/amazon/aws-cli at the tag of the local
stack's s3ClientImage (the key's default unless the stack sets it).

Reproduces what the program relies on in amazon/aws-cli: AWS CLI v2 as `aws` on PATH (ENTRYPOINT ["aws"]), with
a POSIX sh, coreutils, sort and awk for the jobs' scripts.
Differs: Debian bookworm's awscli package (on Debian's Python) in a `mmdebstrap --variant=minbase` rootfs, instead
of Amazon's bundled build on Amazon Linux 2. The build fails when the version Debian installs is not the tag, so
the tag always names what is inside.
"""

from __future__ import annotations

from pathlib import Path

from . import build

PACKAGES = ("awscli", "ca-certificates")


def reference() -> str:
    default = build.settings().KEYS_BY_NAME["s3ClientImage"].default
    return str(build.local_stack_config().get("s3ClientImage") or default)


def inputs() -> dict:
    return build.debian_inputs(PACKAGES)


def rootfs(target: Path, work: Path) -> None:
    build.debian_rootfs(target, PACKAGES)
    installed = build.upstream_version(build.installed_version(target, "awscli"))
    if installed != reference().rsplit(":", 1)[1]:
        raise build.BuildError(f"{reference()} (Debian {build.DEBIAN_SUITE} installs awscli {installed}: set the "
                               f"local stack's s3ClientImage to docker.io/amazon/aws-cli:{installed})")


def config() -> dict:
    return {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Entrypoint": ["aws"]}
