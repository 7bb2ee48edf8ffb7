"""Build, cache and import the local environment's container images.

Each recipe module (RECIPES) exposes ``reference()`` (the full name the program deploys; optional ``aliases()``
adds further names), ``inputs()`` (what besides its own source decides its bytes), ``rootfs(target, work)`` and
``config()``. ``build(name)`` keys an image by the sha256 of the recipe's source, this module's and oci.py's, the
files the recipe ships and its ``inputs()`` (package versions, input file hashes), and keeps the OCI layout tar
under ~/.cache/keycloak-registry/images/<name>-<key>.tar; ``import_image(name, address)`` imports it into a
containerd with ctr under that reference. Builds are reproducible: every mtime is SOURCE_DATE_EPOCH (fixed here),
entries are sorted, owners numeric, gzip carries no time; two builds of the same inputs give the same digest.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from . import oci  # noqa: E402

# Fixed: the date every file in every image carries (2025-01-01T00:00:00Z), unless SOURCE_DATE_EPOCH says otherwise;
# passed to every tool the builds run (mmdebstrap, dpkg, useradd) and to oci.py.
EPOCH = int(os.environ.get("SOURCE_DATE_EPOCH", "1735689600"))

CACHE = Path(os.environ.get("KEYCLOAK_REGISTRY_CACHE", Path.home() / ".cache" / "keycloak-registry"))
IMAGE_DIR = CACHE / "images"
FILES = Path(__file__).resolve().parent / "files"
RECIPES = ("pause", "mariadb", "keycloak", "registry", "registry_legacy", "busybox", "coredns",
           "local_path_provisioner", "kubectl", "versitygw", "aws_cli", "openldap")
ALIASES = {"registry-legacy": "registry_legacy", "local-path-provisioner": "local_path_provisioner",
           "aws-cli": "aws_cli"}
NICE = ["nice", "-n", "10"]

DEBIAN_SUITE = "bookworm"
DEBIAN_SOURCES = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)


class BuildError(RuntimeError):
    """An image could not be built; the message names the component that could not be obtained."""


@dataclass(frozen=True)
class Built:
    name: str
    reference: str
    aliases: list
    path: str
    key: str
    manifest: str
    config: str
    layer: str
    size: int
    layer_size: int
    seconds: float
    cached: bool


def log(message: str) -> None:
    print(f"[images] {message}", file=sys.stderr, flush=True)


def run(cmd: Sequence[str], *, capture: bool = False, env: Optional[Mapping[str, str]] = None, **kw) -> str:
    """Run cmd niced (the machine is shared with long builds); raise BuildError with its output on failure."""
    full_env = dict(os.environ, SOURCE_DATE_EPOCH=str(EPOCH), LC_ALL="C.UTF-8", **(env or {}))
    process = subprocess.Popen([*NICE, *cmd], env=full_env, text=True,
                               stdout=subprocess.PIPE if capture else sys.stderr,
                               stderr=subprocess.PIPE if capture else sys.stderr, **kw)
    try:
        stdout, stderr = process.communicate()
    except BaseException:  # interrupted (SIGTERM/SIGINT): stop the tool, so the work directory can be removed
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise
    if process.returncode != 0:
        detail = (stderr or "")[-2000:] if capture else ""
        raise BuildError(f"`{' '.join(cmd)[:300]}` failed with exit {process.returncode}"
                         f"{': ' + detail if detail else ''}")
    return stdout if capture else ""


def file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def tree_sha256(directory: Path) -> str:
    """A hash of a directory's paths, modes, link targets and contents."""
    sha = hashlib.sha256()
    for path in sorted(Path(directory).rglob("*"), key=lambda p: os.fsencode(p)):
        rel = os.fsencode(path.relative_to(directory))
        st = path.lstat()
        sha.update(rel + b"\0" + oct(st.st_mode).encode() + b"\0")
        if path.is_symlink():
            sha.update(os.fsencode(os.readlink(path)))
        elif path.is_file():
            sha.update(file_sha256(path).encode())
    return sha.hexdigest()


# ------------------------------------------------------------------ settings the images follow


def settings():
    """settings/keys.py: the pinned versions and image names (never duplicated here)."""
    return importlib.import_module("settings.keys")


def local_stack_config() -> dict:
    import yaml
    data = yaml.safe_load((ROOT / "stacks" / "Pulumi.local.yaml").read_text())
    prefix = settings().PROJECT + ":"
    return {k[len(prefix):]: v for k, v in (data.get("config") or {}).items() if k.startswith(prefix)}


# ------------------------------------------------------------------ Debian


def apt_index_state() -> str:
    """The host's view of the Debian archive (its InRelease files): a package's version can only change with it.
    mmdebstrap reads the same mirror; the recipes also check the version they installed."""
    lists = Path("/var/lib/apt/lists")
    files = sorted(p for p in lists.glob("deb.debian.org_*InRelease"))
    if not files:
        raise BuildError("the Debian package index (no /var/lib/apt/lists/deb.debian.org_*InRelease: "
                         "run apt-get update)")
    sha = hashlib.sha256()
    for path in files:
        sha.update(path.name.encode() + file_sha256(path).encode())
    return sha.hexdigest()


def apt_candidates(packages: Iterable[str]) -> dict[str, str]:
    """The version apt would install of each package (one apt-cache call)."""
    packages = sorted(set(packages))
    found, current = {}, None
    for line in run(["apt-cache", "policy", *packages], capture=True).splitlines():
        if not line.startswith(" ") and line.rstrip().endswith(":"):
            current = line.rstrip()[:-1]
        elif line.strip().startswith("Candidate:") and current in packages:
            version = line.split(":", 1)[1].strip()
            if version and version != "(none)":
                found[current] = version
    missing = [p for p in packages if p not in found]
    if missing:
        raise BuildError(f"Debian package{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                         "(apt-cache has no candidate)")
    return found


def apt_candidate(package: str) -> str:
    return apt_candidates([package])[package]


def upstream_version(debian_version: str) -> str:
    """1:10.11.19-0+deb12u1 -> 10.11.19; 2.8.2+ds1-1 -> 2.8.2."""
    version = debian_version.split(":", 1)[-1]
    for sep in "-+~":
        version = version.split(sep, 1)[0]
    return version


def debian_inputs(packages: Iterable[str]) -> dict:
    return {"suite": DEBIAN_SUITE, "sources": list(DEBIAN_SOURCES), "index": apt_index_state(),
            "packages": apt_candidates(packages),
            "mmdebstrap": run(["dpkg-query", "-W", "-f", "${Version}", "mmdebstrap"], capture=True)}


def debian_rootfs(target: Path, packages: Sequence[str], essential_hooks: Sequence[str] = ()) -> None:
    """`mmdebstrap --variant=minbase` + packages into target (root mode), with a .deb cache under the image cache,
    then the files that differ between two runs removed (logs, caches, backup copies of dpkg/debconf state)."""
    if not shutil.which("mmdebstrap"):
        raise BuildError("mmdebstrap (Debian package mmdebstrap; scripts/lib/install-test-deps installs it)")
    debs = IMAGE_DIR / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    cmd = ["mmdebstrap", "--mode=root", "--variant=minbase", "--quiet",
           "--aptopt=Acquire::Retries \"3\"", "--dpkgopt=path-exclude=/usr/share/doc/*",
           "--dpkgopt=path-include=/usr/share/doc/*/copyright",
           "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/locale/*",
           "--skip=download/empty", "--skip=essential/unlink",
           "--setup-hook=mkdir -p \"$1\"/var/cache/apt/archives/",
           f"--setup-hook=sync-in {debs} /var/cache/apt/archives/"]
    if packages:
        cmd.append("--include=" + ",".join(packages))
    cmd += [f"--essential-hook={hook}" for hook in essential_hooks]
    cmd += [f"--customize-hook=sync-out /var/cache/apt/archives {debs}",
            "--customize-hook=rm -f \"$1\"/var/cache/apt/archives/*.deb",
            DEBIAN_SUITE, str(target), *DEBIAN_SOURCES]
    try:
        run(cmd)
    except BuildError as error:
        raise BuildError(f"a Debian {DEBIAN_SUITE} rootfs with {', '.join(packages) or 'minbase'}: {error}") from None
    scrub_debian(target)


def scrub_debian(root: Path) -> None:
    """Remove what records when or how the rootfs was made rather than what it is."""
    for pattern in ("var/log/**/*", "var/cache/apt/*.bin", "var/cache/ldconfig/aux-cache", "var/lib/dpkg/*-old",
                    "var/cache/debconf/*-old", "var/lib/apt/lists/*", "tmp/*", "var/tmp/*", "root/.*history",
                    "etc/machine-id", "var/lib/dbus/machine-id", "etc/*-", "var/lib/systemd/deb-systemd-helper-*"):
        for path in sorted(root.glob(pattern), reverse=True):
            if path.is_file() or path.is_symlink():
                path.unlink()
            elif path.is_dir() and pattern.startswith(("tmp", "var/tmp", "var/lib/apt")):
                shutil.rmtree(path)


def installed_version(root: Path, package: str) -> str:
    return run(["chroot", str(root), "dpkg-query", "-W", "-f", "${Version}", package], capture=True).strip()


def copy_binary(binary: Path, root: Path, dest: str) -> None:
    """Copy an ELF binary to root/dest, stripped (as release binaries are), with the shared libraries ldd names
    (a cgo Go build needs glibc)."""
    if not Path(binary).is_file():
        raise BuildError(f"binary {binary}")
    target = root / dest.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(binary, target)
    run(["strip", str(target)])
    out = subprocess.run(["ldd", str(binary)], text=True, capture_output=True).stdout
    for line in out.splitlines():
        parts = line.split()
        lib = parts[2] if "=>" in parts and len(parts) > 2 else parts[0] if parts and parts[0].startswith("/") else None
        if lib and lib.startswith("/"):
            real = Path(lib).resolve()
            for path in {Path(lib), real}:
                copy = root / str(path).lstrip("/")
                copy.parent.mkdir(parents=True, exist_ok=True)
                if not copy.exists():
                    shutil.copy2(real, copy)


def linked_files(binary: Path) -> dict:
    """Hashes of the shared libraries a binary loads (part of the key of images that copy them)."""
    out = subprocess.run(["ldd", str(binary)], text=True, capture_output=True).stdout
    libs = {}
    for line in out.splitlines():
        parts = line.split()
        lib = parts[2] if "=>" in parts and len(parts) > 2 else parts[0] if parts and parts[0].startswith("/") else None
        if lib and lib.startswith("/"):
            libs[lib] = file_sha256(Path(lib).resolve())
    return libs


def go_binary(module: str, version: str, ldflags: str = "-s -w") -> Path:
    """`go install module@version` (cgo off, -trimpath: a reproducible static binary) into
    IMAGE_DIR/bin/<name>-<version>/, with the project's Go module and build caches; built once."""
    name = module.rstrip("/").rsplit("/", 1)[-1]
    directory = IMAGE_DIR / "bin" / f"{name}-{version}-{hashlib.sha256(ldflags.encode()).hexdigest()[:8]}"
    binary = directory / name
    if binary.is_file():
        return binary
    if not shutil.which("go"):
        raise BuildError(f"{module}@{version} (no go toolchain)")
    directory.mkdir(parents=True, exist_ok=True)
    log(f"building {module}@{version} with go install")
    env = {"GOBIN": str(directory), "GOMODCACHE": str(CACHE / "gomod"), "GOCACHE": str(CACHE / "gocache"),
           "GOTOOLCHAIN": "local", "GOFLAGS": "-buildvcs=false", "CGO_ENABLED": "0", "GOWORK": "off"}
    try:
        run(["nice", "-n", "19", "go", "install", "-trimpath", f"-ldflags={ldflags}", f"{module}@{version}"],
            env=env, cwd="/")
    except BuildError as error:
        raise BuildError(f"{module}@{version} from the Go module proxy: {error}") from None
    if not binary.is_file():
        raise BuildError(f"{module}@{version} (go install left no {binary})")
    return binary


def go_version() -> str:
    return run(["go", "env", "GOVERSION"], capture=True).strip()


def write(root: Path, path: str, text: str, mode: int = 0o644, owner: tuple[int, int] = (0, 0)) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    os.chmod(target, mode)
    os.chown(target, *owner)


def minimal_etc(root: Path, users: Sequence[str] = (), groups: Sequence[str] = ()) -> None:
    """/etc/passwd, group, nsswitch.conf for a rootfs without a distribution."""
    write(root, "etc/passwd", "\n".join(["root:x:0:0:root:/root:/bin/sh", *users,
                                         "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin"]) + "\n")
    write(root, "etc/group", "\n".join(["root:x:0:", *groups, "nogroup:x:65534:"]) + "\n")
    write(root, "etc/nsswitch.conf", "hosts: files dns\n")
    for d in ("tmp", "dev", "proc", "sys", "etc", "var/tmp"):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    os.chmod(root / "var/tmp", 0o1777)


def busybox(root: Path) -> None:
    """Debian's static busybox as /bin/sh and its applets (the official registry image is Alpine, whose busybox
    gives /bin/sh); the .deb comes from the Debian archive with apt-get download."""
    work = root.parent / "busybox"
    work.mkdir(exist_ok=True)
    debs = IMAGE_DIR / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    version = apt_candidate("busybox-static")
    found = [d for d in debs.glob("busybox-static_*.deb")
             if run(["dpkg-deb", "-f", str(d), "Version"], capture=True).strip() == version]
    if not found:
        try:
            run(["apt-get", "-o", "APT::Sandbox::User=root", "download", f"busybox-static={version}"], cwd=debs)
        except BuildError as error:
            raise BuildError(f"Debian package busybox-static: {error}") from None
        found = [d for d in debs.glob("busybox-static_*.deb")
                 if run(["dpkg-deb", "-f", str(d), "Version"], capture=True).strip() == version]
    deb = found[0]
    run(["dpkg-deb", "-x", str(deb), str(work / "x")])
    (root / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(work / "x/bin/busybox", root / "bin/busybox")
    applets = run([str(work / "x/bin/busybox"), "--list"], capture=True).split()
    for applet in sorted(set(applets)):
        link = root / "bin" / applet
        if applet != "busybox" and not link.exists():
            link.symlink_to("busybox")
    shutil.rmtree(work)


def ca_certificates(root: Path) -> None:
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if not bundle.is_file():
        raise BuildError("CA certificates (/etc/ssl/certs/ca-certificates.crt, Debian package ca-certificates)")
    write(root, "etc/ssl/certs/ca-certificates.crt", bundle.read_text())


def remove_tree(path: Path) -> None:
    """rmtree that first unmounts whatever a failed chroot build left mounted below path (proc, sys, dev)."""
    path = Path(path).resolve()
    if not path.exists():
        return
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4].replace("\\040", " ") for line in f]
    for point in sorted((p for p in points if p == str(path) or p.startswith(str(path) + "/")), reverse=True):
        subprocess.run(["umount", "--lazy", point], check=False)
    with open("/proc/self/mountinfo") as f:
        left = [line.split()[4] for line in f if line.split()[4].startswith(str(path) + "/")]
    if left:
        raise BuildError(f"cannot remove {path}: still mounted below it: {left}")
    shutil.rmtree(path, ignore_errors=True)


# ------------------------------------------------------------------ build and cache


def recipe(name: str):
    name = ALIASES.get(name, name)
    if name not in RECIPES:
        raise BuildError(f"no image recipe {name!r} (known: {', '.join(RECIPES)})")
    return importlib.import_module(f"{__package__}.{name}")


def aliases(module) -> list[str]:
    """Further names a recipe's image is imported under (the same manifest)."""
    return list(getattr(module, "aliases", lambda: [])())


def cache_key(name: str) -> tuple[str, dict]:
    module = recipe(name)
    shipped = FILES / getattr(module, "FILES", "-")
    material = {
        "recipe": hashlib.sha256("".join(inspect.getsource(m) for m in [module, *(
            recipe(used) for used in getattr(module, "USES", ()))]).encode()).hexdigest(),
        "build": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
        "oci": hashlib.sha256(Path(oci.__file__).read_bytes()).hexdigest(),
        "files": tree_sha256(shipped) if shipped.is_dir() else None,
        "epoch": EPOCH,
        "reference": module.reference(),
        "aliases": aliases(module),
        "inputs": module.inputs(),
    }
    blob = json.dumps(material, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest(), material


def build(name: str, force: bool = False) -> Built:
    """The image's OCI layout tar, from the cache when its key is there (force: rebuild and replace it)."""
    name = ALIASES.get(name, name)
    module = recipe(name)
    started = time.monotonic()
    key, material = cache_key(name)
    IMAGE_DIR.mkdir(parents=True, exist_ok=True)
    out = IMAGE_DIR / f"{name}-{key[:16]}.tar"
    meta = out.with_suffix(".json")
    if out.is_file() and meta.is_file() and not force:
        return Built(**{**_load(meta), "seconds": round(time.monotonic() - started, 2), "cached": True})
    reference = module.reference()
    log(f"building {reference} ({name}, key {key[:16]})")
    work = IMAGE_DIR / "work" / f"{name}-{key[:16]}-{os.getpid()}"
    remove_tree(work)
    work.mkdir(parents=True)
    try:
        rootfs = work / "rootfs"
        module.rootfs(rootfs, work)
        digests = oci.write_image(rootfs, out, reference, module.config(), EPOCH,
                                  labels={"org.opencontainers.image.version": reference.rsplit(":", 1)[1]},
                                  aliases=aliases(module))
    finally:
        remove_tree(work)
    built = Built(name=name, reference=reference, aliases=aliases(module), path=str(out), key=key,
                  manifest=digests["manifest"],
                  config=digests["config"], layer=digests["layer"], size=digests["size"],
                  layer_size=digests["layer_size"], seconds=round(time.monotonic() - started, 2), cached=False)
    meta.write_text(json.dumps({**asdict(built), "inputs": material}, indent=2, sort_keys=True))
    for old in IMAGE_DIR.glob(f"{name}-*.tar"):  # one cached build per recipe
        if old != out and len(old.stem) == len(out.stem):
            old.unlink()
            old.with_suffix(".json").unlink(missing_ok=True)
    log(f"built {reference}: {built.manifest} {built.size / 1e6:.1f} MB in {built.seconds:.0f}s")
    return built


def _load(path: Path) -> dict:
    data = {"aliases": [], **json.loads(path.read_text())}
    return {k: data[k] for k in Built.__dataclass_fields__ if k in data}


def import_image(name: str, containerd_address: str, namespace: str = "k8s.io", ctr: str = "ctr") -> Built:
    """Build (or take from the cache) and import the image into containerd under its reference."""
    built = build(name)
    if not shutil.which(ctr):
        raise BuildError("ctr (Debian package containerd)")
    run([ctr, "--address", containerd_address, "--namespace", namespace, "images", "import", built.path], capture=True)
    listed = run([ctr, "--address", containerd_address, "--namespace", namespace, "images", "ls", "-q"],
                 capture=True).split()
    for reference in [built.reference, *built.aliases]:
        if reference not in listed:
            raise BuildError(f"image {reference}: ctr import did not register it (images: {listed})")
    return built
