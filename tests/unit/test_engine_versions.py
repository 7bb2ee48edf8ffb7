"""The Pulumi SDK pins in requirements.txt, the engine scripts/lib/pulumi-engine builds or accepts, the source recipe it
builds from and the installed SDKs stay in step: the engine asks each plugin at the version in its SDK's
pulumi-plugin.json, and offline nothing else can be fetched. Fast, no network: reads files and runs the script's
--print-versions / --no-build paths (which never build)."""

import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "scripts" / "lib" / "pulumi-engine"
ENGINE_BUILD = ROOT / "scripts" / "lib" / "engine_build.py"
RECIPE = Path(os.environ.get("UPSTREAM_SOURCES") or ROOT.parent / "shared" / "upstream") / "build-plugins.sh"
needs_recipe = pytest.mark.skipif(not RECIPE.exists(), reason=f"no source recipe at {RECIPE}")

# requirements.txt name -> the engine pieces that must have its version (the language host ships with the CLI)
PIECES = {
    "pulumi": ["pulumi", "pulumi-language-python"],
    "pulumi-keycloak": ["pulumi-resource-keycloak"],
    "pulumi-kubernetes": ["pulumi-resource-kubernetes"],
    "pulumi-random": ["pulumi-resource-random"],
}


def requirement_pins(path: Path = ROOT / "requirements.txt") -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^\s*(pulumi[a-z-]*)\s*==\s*([^\s#;]+)", line)
        if m:
            pins[m.group(1)] = m.group(2)
    return pins


def expected_pieces(pins: dict[str, str]) -> dict[str, str]:
    return {piece: pins[name] for name, pieces in PIECES.items() for piece in pieces}


def run_engine(*args: str, engine: Path = ENGINE, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, UPSTREAM_SOURCES=str(RECIPE.parent), **(env or {}))
    return subprocess.run([str(engine), *args], capture_output=True, text=True, timeout=60, env=full_env)


def print_versions(engine: Path = ENGINE) -> dict[str, str]:
    p = run_engine("--print-versions", engine=engine)
    assert p.returncode == 0, p.stderr
    return dict(line.split("=", 1) for line in p.stdout.split())


def test_every_pulumi_sdk_is_pinned_exactly():
    pins = requirement_pins()
    assert set(pins) == set(PIECES)
    for name, version in pins.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name}=={version} is not a released X.Y.Z"


def test_engine_builds_and_accepts_the_pinned_versions():
    assert print_versions() == expected_pieces(requirement_pins())


@needs_recipe
def test_source_recipe_builds_the_pinned_versions():
    header = dict(re.findall(r"^#\s+(pulumi-(?:resource|language)-[a-z0-9-]+)\s+(\d+\.\d+\.\d+)\s",
                             RECIPE.read_text(), re.M))
    want = {piece: v for piece, v in expected_pieces(requirement_pins()).items() if piece != "pulumi"}
    assert {piece: header.get(piece) for piece in want} == want


@pytest.mark.parametrize("name", [n for n in PIECES if n != "pulumi"])
def test_installed_sdk_asks_for_the_pinned_plugin(name):
    pin = requirement_pins()[name]
    assert importlib.metadata.version(name) == pin
    spec = importlib.util.find_spec(name.replace("-", "_"))  # located, not imported
    plugin = json.loads(Path(next(iter(spec.submodule_search_locations)), "pulumi-plugin.json").read_text())
    assert (plugin["resource"], plugin["name"], plugin["version"]) == (True, name.removeprefix("pulumi-"), pin)


def test_installed_pulumi_sdk_is_the_pinned_cli_version():
    assert importlib.metadata.version("pulumi") == requirement_pins()["pulumi"]


def copy_engine(tmp_path: Path, requirements: str) -> Path:
    (tmp_path / "scripts" / "lib").mkdir(parents=True)
    for f in ("pulumi-engine", "engine_build.py", "prelude.sh"):
        shutil.copy2(ROOT / "scripts" / "lib" / f, tmp_path / "scripts" / "lib" / f)
    (tmp_path / "requirements.txt").write_text(requirements)
    return tmp_path / "scripts" / "lib" / "pulumi-engine"


@needs_recipe
def test_a_pin_the_recipe_cannot_build_fails_naming_piece_and_version(tmp_path):
    pin = requirement_pins()["pulumi-keycloak"]
    major, minor, patch = pin.split(".")
    other = f"{major}.{minor}.{int(patch) + 1}"
    requirements = (ROOT / "requirements.txt").read_text().replace(f"pulumi-keycloak=={pin}",
                                                                   f"pulumi-keycloak=={other}")
    p = run_engine("--print-versions", engine=copy_engine(tmp_path, requirements))
    assert p.returncode != 0 and p.stdout == ""
    assert len(p.stderr.strip().splitlines()) == 1
    assert "pulumi-resource-keycloak" in p.stderr and other in p.stderr and pin in p.stderr


def test_an_inexact_pin_is_refused(tmp_path):
    pin = requirement_pins()["pulumi"]
    requirements = (ROOT / "requirements.txt").read_text().replace(f"pulumi=={pin}", f"pulumi>={pin}")
    p = run_engine("--print-versions", engine=copy_engine(tmp_path, requirements))
    assert p.returncode != 0 and "pulumi must be pinned exactly" in p.stderr


def fake_pulumi(bindir: Path, cli_version: str, plugins: list[dict]) -> None:
    """A stand-in `pulumi` answering `version` and `plugin ls --json`, with the language host files beside it."""
    bindir.mkdir()
    (bindir / "pulumi").write_text(
        "#!/bin/sh\n"
        f'case "$1" in version) echo v{cli_version} ;; plugin) echo \'{json.dumps(plugins)}\' ;; *) exit 2 ;; esac\n')
    for f in ("pulumi", "pulumi-language-python", "pulumi-language-python-exec", "pulumi-resource-pulumi-python"):
        (bindir / f).touch()
        (bindir / f).chmod(0o755)


def installed(pins: dict[str, str], skip: str = "") -> list[dict]:
    return [{"name": n.removeprefix("pulumi-"), "kind": "resource", "version": v}
            for n, v in pins.items() if n != "pulumi" and n != skip]


def test_an_installed_engine_at_exactly_the_pins_is_used(tmp_path):
    pins = requirement_pins()
    fake_pulumi(tmp_path / "bin", pins["pulumi"], installed(pins))
    p = run_engine("--no-build", env={"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"})
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[-1] == str(tmp_path / "bin")


@pytest.mark.parametrize("missing", ["pulumi-keycloak", "pulumi-kubernetes", "pulumi-random"])
def test_an_installed_engine_missing_a_plugin_version_is_not_used(tmp_path, missing):
    pins = requirement_pins()
    plugins = installed(pins, skip=missing) + [{"name": missing.removeprefix("pulumi-"), "kind": "resource",
                                                "version": "0.0.1"}]
    fake_pulumi(tmp_path / "bin", pins["pulumi"], plugins)
    p = subprocess.run(["python3", str(ENGINE_BUILD), "find-installed"], capture_output=True,
                       text=True, timeout=60, env=dict(os.environ, PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}"))
    assert p.returncode == 1 and p.stdout == ""
    assert f"resource plugin {missing.removeprefix('pulumi-')} {pins[missing]} is not installed" in p.stderr


def test_an_installed_cli_of_another_version_is_not_used(tmp_path):
    pins = requirement_pins()
    fake_pulumi(tmp_path / "bin", "3.0.0", installed(pins))
    p = subprocess.run(["python3", str(ENGINE_BUILD), "find-installed"], capture_output=True,
                       text=True, timeout=60, env=dict(os.environ, PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}"))
    assert p.returncode == 1 and f"is v3.0.0, need v{pins['pulumi']}" in p.stderr


@needs_recipe
@pytest.mark.skipif(not shutil.which("go"), reason="no Go toolchain on PATH")
def test_without_an_engine_no_build_exits_3_at_once(tmp_path):
    """scripts/up's contract: --no-build never builds; exit 3 (one line) says a build is needed."""
    fake_pulumi(tmp_path / "bin", "0.0.1", [])
    p = run_engine("--no-build", env={"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
                                      "KEYCLOAK_REGISTRY_CACHE": str(tmp_path / "cache")})
    assert p.returncode == 3 and p.stdout == ""
    assert len(p.stderr.strip().splitlines()) == 1 and "neither installed nor built" in p.stderr
    assert not (tmp_path / "cache").exists()
