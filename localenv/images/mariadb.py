"""docker.io/library/mariadb:<the local stack's databaseVersion>, MariaDB 10.11 as the official image runs it.

Reproduces the contract of MariaDB/mariadb-docker 10.11 (Dockerfile, docker-entrypoint.sh, healthcheck.sh):
  - user and group mysql with uid/gid 999, created before any package so the ids are fixed;
  - mariadb-server (with mariadb-client), mariadb-backup, socat, and the tools the entrypoint uses: gosu (step-down
    when started as root), pwgen, tzdata, xz-utils, zstd, libjemalloc2, ca-certificates;
  - /var/lib/mysql empty and owned by 999:999 (the package's postinst initialises one: it is removed), /run/mysqld
    owned by mysql and mode 777, /docker-entrypoint-initdb.d;
  - the configuration edits of the official Dockerfile: bind-address / log / user lines commented out,
    /etc/mysql/mariadb.conf.d/05-skipcache.cnf (host-cache-size=0, skip-name-resolve), and mariadb.conf.d read
    before conf.d (the mount point for users' files);
  - /usr/local/bin/docker-entrypoint.sh and /usr/local/bin/healthcheck.sh (files/mariadb/: equivalents written
    for this project, each says in its header what of the official script it implements and what it refuses),
    the MARIADB_*/MYSQL_* env contract, $DATADIR/.my-healthcheck.cnf;
  - ENTRYPOINT ["docker-entrypoint.sh"], CMD ["mariadbd"], EXPOSE 3306, VOLUME-less /var/lib/mysql,
    ENV LANG=C.UTF-8 and MARIADB_VERSION (the installed package version, as the official image sets it).
Differs: Debian bookworm's mariadb-server build (`mmdebstrap --variant=minbase`) instead of Ubuntu jammy with
MariaDB's own repository, so the binaries, paths under /usr and default config are Debian's (socket
/run/mysqld/mysqld.sock as in the official image); gosu is Debian's 1.14, not 1.16; no VOLUME declaration;
documentation, man pages and locales are not installed; the entrypoint writes to the server's tmpdir once at
start (an overlayfs + runc exec quirk seen on this machine, explained in the script). The build fails when the
version Debian installs is not the local stack's databaseVersion, so the tag always names what is inside.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from . import build

FILES = "mariadb"
UID = GID = 999
PACKAGES = ("mariadb-server", "mariadb-backup", "socat", "gosu", "pwgen", "tzdata", "xz-utils", "zstd",
            "libjemalloc2", "ca-certificates")
# passwd/group exist once the essential packages are in (base-passwd); shadow entries follow when passwd's
# postinst runs pwconv. Done before mariadb-server's preinst, which keeps an existing mysql user.
_installed: dict = {}  # the mariadb-server version rootfs() installed, for config()
USER_HOOK = ("echo 'mysql:x:999:999:MySQL Server:/nonexistent:/bin/false' >> \"$1\"/etc/passwd && "
             "echo 'mysql:x:999:' >> \"$1\"/etc/group")


def version() -> str:
    config = build.local_stack_config()
    if config.get("databaseEngine") != "mariadb":
        raise build.BuildError("the mariadb image (stacks/Pulumi.local.yaml's databaseEngine is not mariadb)")
    return str(config.get("databaseVersion") or build.settings().DATABASE_VERSIONS["mariadb"])


def reference() -> str:
    return f"{build.settings().DATABASE_IMAGES['mariadb']}:{version()}"


def inputs() -> dict:
    return build.debian_inputs(PACKAGES)


def _comment_out(root: Path) -> None:
    pattern = re.compile(r"^(bind-address|log|user\s)", re.M)
    for path in sorted((root / "etc/mysql").rglob("*.cnf")):
        if path.is_file() and not path.is_symlink():
            text = path.read_text()
            if pattern.search(text):
                path.write_text(pattern.sub(r"#\1", text))


def _includedir_order(root: Path) -> None:
    path = root / "etc/mysql/mariadb.cnf"
    lines = path.read_text().splitlines(keepends=True)
    conf_d = [i for i, line in enumerate(lines) if line.startswith("!includedir /etc/mysql/conf.d")]
    maria_d = [i for i, line in enumerate(lines) if line.startswith("!includedir /etc/mysql/mariadb.conf.d")]
    if conf_d and maria_d and conf_d[0] < maria_d[0]:
        lines[conf_d[0]], lines[maria_d[0]] = lines[maria_d[0]], lines[conf_d[0]]
        path.write_text("".join(lines))


def rootfs(target: Path, work: Path) -> None:
    build.debian_rootfs(target, PACKAGES, essential_hooks=[USER_HOOK])
    installed = build.installed_version(target, "mariadb-server")
    tag = build.upstream_version(installed)
    if tag != version():
        raise build.BuildError(f"mariadb {version()} (Debian {build.DEBIAN_SUITE} installs mariadb-server "
                               f"{installed}, i.e. {tag}: set the local stack's databaseVersion to {tag})")
    _installed["version"] = installed
    passwd = (target / "etc/passwd").read_text()
    if "mysql:x:999:999:" not in passwd:
        raise build.BuildError("the mysql user with uid 999 (the rootfs's /etc/passwd lacks it)")
    data = target / "var/lib/mysql"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    run_dir = target / "run/mysqld"
    run_dir.mkdir(parents=True, exist_ok=True)
    for path in (data, run_dir):
        os.chown(path, UID, GID)
    os.chmod(data, 0o755)
    os.chmod(run_dir, 0o777)
    _comment_out(target)
    build.write(target, "etc/mysql/mariadb.conf.d/05-skipcache.cnf",
                "[mariadb]\nhost-cache-size=0\nskip-name-resolve\n")
    _includedir_order(target)
    (target / "docker-entrypoint-initdb.d").mkdir(exist_ok=True)
    for script in ("docker-entrypoint.sh", "healthcheck.sh"):
        shutil.copyfile(build.FILES / FILES / script, target / "usr/local/bin" / script)
        os.chmod(target / "usr/local/bin" / script, 0o755)
    # Debian's mariadb-server leaves a debian-start script and its own logrotate / cron: harmless, kept.
    build.scrub_debian(target)


def config() -> dict:
    return {
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8",
                f"MARIADB_VERSION={_installed.get('version') or build.apt_candidate('mariadb-server')}"],
        "Entrypoint": ["docker-entrypoint.sh"],
        "Cmd": ["mariadbd"],
        "ExposedPorts": build.oci.exposed([3306]),
    }
