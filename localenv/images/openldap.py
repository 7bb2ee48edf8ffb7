"""localhost/openldap:<Debian's slapd version>, the directory server of the local environment (LDAP federation).

Not an image the program deploys: the company's directory, which the local stack's `ldap` setting points at. Debian
bookworm's slapd and ldap-utils in a `mmdebstrap --variant=minbase` rootfs, the package's own configuration removed;
files/openldap/entrypoint.sh makes cn=config from files/openldap/config.ldif (mdb, dynlist for memberOf with
nested groups, ppolicy) and loads the entries of /fixtures/*.ldif on first start, then runs slapd as the openldap
user on port 1389, and with a certificate and key mounted at /etc/ldap/tls, ldaps on 1636 too. The tag is the upstream
version Debian installs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from . import build

FILES = "openldap"
PACKAGES = ("slapd", "ldap-utils")
PORT, TLS_PORT = 1389, 1636


def reference() -> str:
    return f"localhost/openldap:{build.upstream_version(build.apt_candidate('slapd'))}"


def inputs() -> dict:
    return build.debian_inputs(PACKAGES)


def rootfs(target: Path, work: Path) -> None:
    build.debian_rootfs(target, PACKAGES)
    for generated in ("etc/ldap/slapd.d", "var/lib/ldap"):  # the postinst's database for "nodomain"
        shutil.rmtree(target / generated, ignore_errors=True)
    (target / "var/lib/ldap").mkdir()
    (target / "fixtures").mkdir()
    for name, destination in (("config.ldif", "etc/ldap/local/config.ldif"),
                              ("entrypoint.sh", "usr/local/bin/entrypoint.sh")):
        (target / destination).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(build.FILES / FILES / name, target / destination)
    os.chmod(target / "usr/local/bin/entrypoint.sh", 0o755)
    build.scrub_debian(target)


def config() -> dict:
    return {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", f"LDAP_PORT={PORT}",
                    f"LDAPS_PORT={TLS_PORT}"],
            "Entrypoint": ["entrypoint.sh"], "ExposedPorts": build.oci.exposed([PORT, TLS_PORT])}
