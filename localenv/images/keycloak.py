"""quay.io/keycloak/keycloak:<KEYCLOAK_VERSION>, the Keycloak server as its official image runs it.

Reproduces keycloak/keycloak quarkus/container/Dockerfile: the keycloak-quarkus-dist zip unpacked to /opt/keycloak
with an empty data/ directory, group-writable (chmod -R g+rwX) and owned 1000:0; the lines the Dockerfile appends
to /etc/passwd and /etc/group (user keycloak uid 1000 gid 0, home /opt/keycloak, shell /sbin/nologin; group
"keycloak" gid 0); ENV KC_RUN_IN_CONTAINER=true (kc.sh then sizes the heap from the container's memory limit:
MaxRAMPercentage=70); USER 1000; EXPOSE 8080 8443 9000; ENTRYPOINT ["/opt/keycloak/bin/kc.sh"]; no CMD and the
working directory "/", as upstream; bash, coreutils, grep, sed and findutils for kc.sh.
Differs: a Debian bookworm minbase rootfs instead of ubi9-micro; the Java runtime is a jlink image of the host's
Temurin 25 JDK (the modules below; upstream: Red Hat's java-21-openjdk-headless) at /opt/java/openjdk, without a
CDS archive (a second or so more at start); LANG=C.UTF-8 instead of en_US.UTF-8 (minbase has no locales; Java's
default charset is UTF-8 either way). The zip is the one Maven Central serves, which is what the official image
unpacks.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from . import build

JAVA_HOME = "/opt/java/openjdk"
UID = 1000
MODULES = ("java.se", "jdk.unsupported", "jdk.crypto.ec", "jdk.crypto.cryptoki", "jdk.localedata", "jdk.charsets",
           "jdk.naming.dns", "jdk.security.auth", "jdk.security.jgss", "jdk.zipfs", "jdk.management",
           "jdk.management.agent", "jdk.jfr", "jdk.httpserver", "jdk.net", "jdk.jdwp.agent", "jdk.xml.dom",
           "jdk.jcmd")
PACKAGES = ("ca-certificates",)


def version() -> str:
    return build.settings().KEYCLOAK_VERSION


def reference() -> str:
    return f"{build.settings().KEYCLOAK_IMAGE}:{version()}"


def dist_zip() -> Path:
    path = build.CACHE / "keycloak" / f"keycloak-quarkus-dist-{version()}.zip"
    if not path.is_file():
        raise build.BuildError(f"Keycloak {version()} (no {path}: scripts/lib/install-test-deps downloads it "
                               "from Maven Central)")
    return path


def jdk() -> Path:
    """The JDK scripts/lib/java-home finds (KEYCLOAK_JAVA_HOME, else Temurin or any 21+ under /usr/lib/jvm): its jlink
    makes the image's runtime."""
    found = subprocess.run([str(build.ROOT / "scripts" / "lib" / "java-home")], capture_output=True, text=True)
    path = Path(found.stdout.strip())
    if found.returncode != 0 or not (path / "bin" / "jlink").is_file():
        raise build.BuildError("a JDK 21+ with jlink for Keycloak's runtime (scripts/lib/java-home; set "
                               "KEYCLOAK_JAVA_HOME)")
    return path


def modules() -> list[str]:
    available = set(subprocess.run([str(jdk() / "bin" / "java"), "--list-modules"], text=True,
                                   capture_output=True).stdout.replace("@", " ").split())
    return [m for m in MODULES if m in available]


def inputs() -> dict:
    return {"zip": build.file_sha256(dist_zip()), "jdk": (jdk() / "release").read_text(),
            "jdk_modules_file": build.file_sha256(jdk() / "lib" / "modules"), "modules": modules(),
            **build.debian_inputs(PACKAGES)}


def rootfs(target: Path, work: Path) -> None:
    build.debian_rootfs(target, PACKAGES)
    runtime = target / JAVA_HOME.lstrip("/")
    runtime.parent.mkdir(parents=True, exist_ok=True)
    try:
        build.run([str(jdk() / "bin" / "jlink"), "--add-modules", ",".join(modules()), "--strip-debug",
                   "--no-man-pages", "--no-header-files", "--compress=zip-6", "--output", str(runtime)])
    except build.BuildError as error:
        raise build.BuildError(f"a Java runtime for Keycloak (jlink): {error}") from None
    unpacked = work / "zip"
    build.run(["unzip", "-q", str(dist_zip()), "-d", str(unpacked)])
    home = target / "opt" / "keycloak"
    os.rename(unpacked / f"keycloak-{version()}", home)
    (home / "data").mkdir(exist_ok=True)
    for path in [home, *home.rglob("*")]:
        st = path.lstat()
        if not path.is_symlink():
            mode = st.st_mode | 0o060  # g+rw
            if path.is_dir() or st.st_mode & 0o111:
                mode |= 0o010  # g+X
            os.chmod(path, mode & 0o7777)
        os.lchown(path, UID, 0)
    with open(target / "etc/passwd", "a") as f:
        f.write("keycloak:x:1000:0:keycloak user:/opt/keycloak:/sbin/nologin\n")
    with open(target / "etc/group", "a") as f:
        f.write("keycloak:x:0:root\n")
    build.scrub_debian(target)


def config() -> dict:
    return {
        "Env": [f"PATH={JAVA_HOME}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                f"JAVA_HOME={JAVA_HOME}", "LANG=C.UTF-8", "KC_RUN_IN_CONTAINER=true"],
        "User": str(UID),
        "Entrypoint": ["/opt/keycloak/bin/kc.sh"],
        "ExposedPorts": build.oci.exposed([8080, 8443, 9000]),
    }
