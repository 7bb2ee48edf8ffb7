#!/usr/bin/env python3
"""Helpers of scripts/lib/pulumi-engine (the recipe is there; the parsing and checking is here). Stdlib only.

  engine_build.py versions [--shell]     what the engine builds/accepts, checked against requirements.txt
  engine_build.py find-installed         dir of a `pulumi` on PATH with everything at exactly the pinned versions
  engine_build.py plan GOVERSION         cache key + checks that the recipe's source tarballs are present
  engine_build.py cli-wrapper DIR        a main module that builds cmd/pulumi of pkg/v3@v<pin> from the Go proxy
  engine_build.py install-plugins BIN    `pulumi plugin install resource NAME vX --file` for each missing plugin

Every failure is one line on stderr naming the missing piece, and exit status 1.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # scripts/lib/ -> the project
REQUIREMENTS = ROOT / "requirements.txt"

# requirements.txt name -> (engine piece, kind); the language host has the version of the `pulumi` SDK.
PIECES = {
    "pulumi": [("pulumi", "cli"), ("pulumi-language-python", "language")],
    "pulumi-keycloak": [("pulumi-resource-keycloak", "resource")],
    "pulumi-kubernetes": [("pulumi-resource-kubernetes", "resource")],
    "pulumi-random": [("pulumi-resource-random", "resource")],
}
# build-plugins.sh function -> the binary it builds (its `local V=` / `MODVER=v` is checked against the header)
RECIPE_FUNCS = {
    "build_keycloak": "pulumi-resource-keycloak",
    "build_random": "pulumi-resource-random",
    "build_kubernetes": "pulumi-resource-kubernetes",
    "build_langhost": "pulumi-language-python",
}
LANGUAGE_HOST = ["pulumi-language-python", "pulumi-language-python-exec", "pulumi-resource-pulumi-python"]
CLI_MODULE = "github.com/pulumi/pulumi/pkg/v3"
CLI_MAIN = "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
# Part of the cache key: bump when the way the CLI is built (below and in scripts/lib/pulumi-engine) changes.
CLI_RECIPE = "cli-rev-1: wrapper main module, pkg/v3 + sdk/v3 at v<pin>, pkg/v3's non-local replaces, -trimpath -s -w"


class Fail(Exception):
    pass


def upstream() -> Path:
    return Path(os.environ.get("UPSTREAM_SOURCES") or ROOT.parent / "shared" / "upstream")


def pins() -> dict[str, str]:
    """The exact `name==X.Y.Z` pins of the Pulumi SDKs in requirements.txt."""
    found: dict[str, str] = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.match(r"^([A-Za-z0-9_.-]+)\s*(.*)$", line)
        if m and m.group(1).lower().replace("_", "-") in PIECES:
            name, spec = m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")
            v = re.fullmatch(r"==(\d+\.\d+\.\d+)", spec)
            if not v:
                raise Fail(f"requirements.txt: {name} must be pinned exactly (==X.Y.Z), found '{spec}'")
            found[name] = v.group(1)
    for name in PIECES:
        if name not in found:
            raise Fail(f"requirements.txt: no pin for {name}")
    return found


def wanted() -> dict[str, tuple[str, str]]:
    """piece -> (version, kind) the engine must have, from the pins."""
    return {piece: (v, kind) for name, v in pins().items() for piece, kind in PIECES[name]}


def recipe_versions(script: Path) -> dict[str, str]:
    """Versions build-plugins.sh builds: its header table, cross-checked with each build_* function's body."""
    text = script.read_text()
    header = dict(re.findall(r"^#\s+(pulumi-(?:resource|language)-[a-z0-9-]+)\s+(\d+\.\d+\.\d+)\s", text, re.M))
    for func, piece in RECIPE_FUNCS.items():
        m = re.search(rf"^{func}\(\)\s*\{{\s*\n\s*local\s+(?:V|MODVER)=v?(\d+\.\d+\.\d+)", text, re.M)
        if not m:
            raise Fail(f"{script}: cannot find the version {func} builds")
        if header.get(piece) != m.group(1):
            raise Fail(f"{script}: header says {piece} {header.get(piece)}, but {func} builds {m.group(1)}")
    return header


def check_recipe(want: dict[str, tuple[str, str]]) -> Path:
    """Fail naming the piece when the pins are not what the source recipe builds."""
    script = upstream() / "build-plugins.sh"
    if not script.is_file():
        raise Fail(f"missing source recipe {script} (set UPSTREAM_SOURCES to the directory of build-plugins.sh)")
    built = recipe_versions(script)
    for piece, (v, kind) in want.items():
        if kind == "cli":
            continue  # the CLI comes from the Go proxy at exactly the pin
        if piece not in built:
            raise Fail(f"{script.name} does not build {piece} (requirements.txt pins {v})")
        if built[piece] != v:
            raise Fail(f"{piece} {v} (requirements.txt) cannot be built: {script.name} builds {built[piece]}")
    return script


def cmd_versions(args: list[str]) -> None:
    want = wanted()
    if (upstream() / "build-plugins.sh").exists():
        check_recipe(want)
    elif "--shell" not in args:  # an installed engine may still do; a build fails later, naming the recipe
        print(f"[pulumi-engine] note: no source recipe at {upstream()}; versions not checked against it",
              file=sys.stderr)
    if "--shell" in args:
        p = pins()
        print(f"PULUMI_VERSION={p['pulumi']} KEYCLOAK_VERSION={p['pulumi-keycloak']} "
              f"KUBERNETES_VERSION={p['pulumi-kubernetes']} RANDOM_VERSION={p['pulumi-random']}")
    else:
        for piece, (v, _) in want.items():
            print(f"{piece}={v}")


def run(argv: list[str], timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, PULUMI_SKIP_UPDATE_CHECK="true")
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, **kw)


def installed_plugins(pulumi: str) -> set[tuple[str, str, str]]:
    p = run([pulumi, "plugin", "ls", "--json"])
    if p.returncode != 0:
        raise Fail(f"`{pulumi} plugin ls --json` failed: {p.stderr.strip().splitlines()[-1:]}")
    return {(e.get("kind"), e.get("name"), str(e.get("version", "")).lstrip("v"))
            for e in json.loads(p.stdout or "[]") or []}


def cmd_find_installed(_: list[str]) -> None:
    want = wanted()
    cli_v = want["pulumi"][0]
    path = shutil.which("pulumi")
    if not path:
        raise Fail(f"no pulumi CLI on PATH (need v{cli_v})")
    real = os.path.realpath(path)
    try:
        got = run([path, "version"]).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        raise Fail(f"pulumi on PATH ({real}) does not run: {e}")
    if got != f"v{cli_v}":
        raise Fail(f"pulumi on PATH ({real}) is {got or 'unknown'}, need v{cli_v}")
    bindir = os.path.dirname(real)
    for f in LANGUAGE_HOST:
        if not (os.access(os.path.join(bindir, f), os.X_OK) or shutil.which(f)):
            raise Fail(f"pulumi v{cli_v} on PATH has no {f} next to it ({bindir}) or on PATH")
    have = installed_plugins(path)
    for piece, (v, kind) in want.items():
        if kind == "resource" and ("resource", piece.removeprefix("pulumi-resource-"), v) not in have:
            raise Fail(f"pulumi v{cli_v} on PATH, but resource plugin {piece.removeprefix('pulumi-resource-')} {v} "
                       f"is not installed in {os.environ.get('PULUMI_HOME', '~/.pulumi')}")
    print(bindir)


def cmd_plan(args: list[str]) -> None:
    """KEY=<versions>_<go version>_<recipe hash>; fails naming a missing tarball or tool."""
    (goversion,) = args
    want = wanted()
    script = check_recipe(want)
    src = script.parent
    text = script.read_text()
    h = hashlib.sha256(CLI_RECIPE.encode())
    files = [script, src / "SOURCES.txt"] + sorted((src / "tools").rglob("*"))
    files += [src / t for t in sorted(set(re.findall(r"\b([A-Za-z0-9_.-]+\.tar\.gz)\b", text)))]
    for f in files:
        if not f.exists():
            raise Fail(f"missing source {f} (needed by {script})")
        if f.is_file():
            h.update(f"{f.relative_to(src)}\0".encode() + f.read_bytes())
    p = pins()
    key = (f"pulumi-{p['pulumi']}_keycloak-{p['pulumi-keycloak']}_kubernetes-{p['pulumi-kubernetes']}"
           f"_random-{p['pulumi-random']}_{goversion}_{h.hexdigest()[:12]}")
    print(f"KEY={key}")


def go_mod_download(mod: str, version: str, timeout: float = 300) -> dict:
    try:
        p = run(["go", "mod", "download", "-json", f"{mod}@{version}"], timeout=timeout, cwd="/")
    except subprocess.TimeoutExpired:
        raise Fail(f"unreachable module {mod}@{version}: no answer from GOPROXY within {timeout:.0f}s")
    try:
        info = json.loads(p.stdout)
    except json.JSONDecodeError:
        info = {"Error": (p.stderr.strip().splitlines() or ["no output"])[-1]}
    if info.get("Error") or not info.get("Dir"):
        raise Fail(f"unreachable module {mod}@{version} (GOPROXY={os.environ.get('GOPROXY', 'default')}): "
                   f"{info.get('Error', p.stderr.strip())}")
    return info


def cmd_cli_wrapper(args: list[str]) -> None:
    """go.mod of a main module requiring pkg/v3 and sdk/v3 at v<pin>, repeating pkg/v3's non-local replaces
    (go install pkg@version refuses modules with replaces; its local ../sdk replace becomes sdk/v3 from the proxy)."""
    (dest,) = args
    v = "v" + pins()["pulumi"]
    pkg = go_mod_download(CLI_MODULE, v)
    go_mod_download("github.com/pulumi/pulumi/sdk/v3", v)
    gm = json.loads(subprocess.check_output(["go", "mod", "edit", "-json", os.path.join(pkg["Dir"], "go.mod")]))
    lines = ["module keycloak-registry.local/engine/cli", "", f"go {gm.get('Go') or '1.22'}", "", "require (",
             f"\t{CLI_MODULE} {v}", f"\tgithub.com/pulumi/pulumi/sdk/v3 {v}", ")"]
    for r in gm.get("Replace") or []:
        old, new = r["Old"], r["New"]
        if new.get("Version"):  # local replaces (../sdk) are dropped
            lines.append(f"replace {old['Path']}{' ' + old['Version'] if old.get('Version') else ''}"
                         f" => {new['Path']} {new['Version']}")
    os.makedirs(dest, exist_ok=True)
    Path(dest, "go.mod").write_text("\n".join(lines) + "\n")
    shutil.copyfile(os.path.join(pkg["Dir"], "go.sum"), os.path.join(dest, "go.sum"))
    os.chmod(os.path.join(dest, "go.sum"), 0o644)


def cmd_install_plugins(args: list[str]) -> None:
    (bindir,) = args
    pulumi = os.path.join(bindir, "pulumi")
    have = installed_plugins(pulumi)
    home = os.environ.get("PULUMI_HOME", "~/.pulumi")
    for piece, (v, kind) in wanted().items():
        name = piece.removeprefix("pulumi-resource-")
        if kind != "resource" or ("resource", name, v) in have:
            continue
        print(f"[pulumi-engine] installing resource plugin {name} v{v} into {home}", file=sys.stderr)
        p = run([pulumi, "plugin", "install", "resource", name, f"v{v}", "--file", os.path.join(bindir, piece)],
                timeout=300)
        if p.returncode != 0:
            raise Fail(f"pulumi plugin install resource {name} v{v} failed: {p.stderr.strip()}")
    have = installed_plugins(pulumi)
    for piece, (v, kind) in wanted().items():
        if kind == "resource" and ("resource", piece.removeprefix("pulumi-resource-"), v) not in have:
            raise Fail(f"resource plugin {piece} {v} is still not listed by `pulumi plugin ls` after installing it")


def main() -> None:
    commands = {"versions": cmd_versions, "find-installed": cmd_find_installed, "plan": cmd_plan,
                "cli-wrapper": cmd_cli_wrapper, "install-plugins": cmd_install_plugins}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    try:
        commands[sys.argv[1]](sys.argv[2:])
    except Fail as e:
        print(f"pulumi-engine: {e}", file=sys.stderr)
        sys.exit(1)
    except subprocess.TimeoutExpired as e:
        print(f"pulumi-engine: {' '.join(map(str, e.cmd))} did not finish within {e.timeout}s", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
