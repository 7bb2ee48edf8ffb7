"""The whole system as local processes on 127.0.0.1, configured by the program's own pure functions.

Settings come from stacks/Pulumi.local.yaml; Keycloak runs with ``keycloak_env``, each registry with
``registry_config`` and the files of the certificate Secret from ``signing_material``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from components import database, keycloak
from components.database import DatabaseEndpoint
from components.keycloak import Listen, keycloak_env
from components.keycloak_admin import KeycloakAdmin
from components.kube import SecretRef
from components.registry import CONFIG_FILE, registry_config, registry_env, render_config, token_auth
from components.settings import REGISTRY_LEGACY_VERSION, RegistrySettings, Settings, parse_settings, stack_file_values

from . import processes, realm_setup

ROOT = Path(__file__).resolve().parents[1]
STATE_DIR = ROOT / ".localenv"
LOCAL_STACK = ROOT / "stacks" / "Pulumi.local.yaml"
MARIADB_PORT = 13306
KEYCLOAK_MANAGEMENT_PORT = 19000
LEGACY_REGISTRY_PORT = 15028  # the 2.8 line beside the stack's own (3.x) registry
KEYCLOAK_READY_TIMEOUT = 600


def local_settings() -> Settings:
    doc = yaml.safe_load(LOCAL_STACK.read_text())
    return parse_settings(*stack_file_values(doc.get("config")))


def port_of(url: str) -> int:
    return urlsplit(url).port or 80


@dataclass(frozen=True)
class RegistryInstance:
    """One registry process: the stack's registry, or the other line beside it."""

    settings: RegistrySettings
    binary: str

    @property
    def name(self) -> str:
        return f"registry-{self.settings.line}"

    @property
    def port(self) -> int:
        return port_of(self.settings.public_url)

    @property
    def debug_port(self) -> int:
        return self.port + 1


class LocalEnvironment:
    def __init__(self, state_dir: Path = STATE_DIR):
        self.state_dir = state_dir
        self.logs = state_dir / "logs"
        self.settings = local_settings()
        self.state_file = state_dir / "state.json"
        self.env_file = state_dir / "env.json"

    # ----------------------------------------------------------------------------------- public
    def up(self) -> dict[str, Any]:
        """Start everything, or report the environment that is already running."""
        if self.running():
            return json.loads(self.env_file.read_text())
        if self.state_file.exists():
            self.down()
        started = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tools = self.install()
        state: dict[str, Any] = {"pids": {}, "timings": {}, "tools": tools, "secrets": self._new_secrets()}
        try:
            self._start_database(state)
            self._start_keycloak(state)
            self._configure_realm(state)
            self._start_registries(state)
        except BaseException:
            self._save(state)
            self.down()
            raise
        state["timings"]["up"] = round(time.monotonic() - started, 1)
        self._save(state)
        env = self._env_json(state)
        self.env_file.write_text(json.dumps(env, indent=2) + "\n")
        return env

    def down(self) -> None:
        """Stop every process this environment started and remove its data (downloads stay cached)."""
        state = self._load()
        for pid in reversed(list((state.get("pids") or {}).values())):
            processes.stop(pid)
        if self.state_dir.exists():
            shutil.rmtree(self.state_dir)

    def running(self) -> bool:
        state = self._load()
        pids = state.get("pids") or {}
        return bool(pids) and self.env_file.exists() and all(processes.alive(pid) for pid in pids.values()) and \
            processes.http_ok(f"http://127.0.0.1:{KEYCLOAK_MANAGEMENT_PORT}/health/ready")()

    def admin(self) -> KeycloakAdmin:
        state = self._load()
        return KeycloakAdmin(self.settings.keycloak.public_url, self.settings.keycloak.admin_username,
                             state["secrets"]["admin_password"])

    def refresh_signing_certs(self) -> dict[str, str]:
        """Re-derive the certificate files from the live realm and restart the registries, as a rollout would."""
        state = self._load()
        for instance in self.registries(state["tools"]):
            processes.stop(state["pids"].pop(instance.name))
        files = self._start_registries(state)
        self._save(state)
        return files

    def registries(self, tools: dict[str, str]) -> list[RegistryInstance]:
        stack_registry = self.settings.registry
        legacy = dataclasses.replace(
            stack_registry, version=REGISTRY_LEGACY_VERSION,
            exposure=dataclasses.replace(stack_registry.exposure, public_url=f"http://127.0.0.1:{LEGACY_REGISTRY_PORT}"))
        binaries = {"3": tools["REGISTRY3_BIN"], "2.8": tools["REGISTRY2_BIN"]}
        return [RegistryInstance(s, binaries[s.line]) for s in (stack_registry, legacy)]

    def install(self) -> dict[str, str]:
        """Run scripts/install-test-deps for the versions the settings pin; fails naming what is missing."""
        env = {**os.environ, "KEYCLOAK_VERSION": self.settings.keycloak.version,
               "REGISTRY3_VERSION": self.settings.registry.version}
        result = subprocess.run([str(ROOT / "scripts" / "install-test-deps")], env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise processes.ServerError(f"scripts/install-test-deps failed:\n{result.stderr[-3000:]}")
        return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)

    # ----------------------------------------------------------------------------------- steps
    def _new_secrets(self) -> dict[str, Any]:
        def generate() -> str:
            return secrets.token_urlsafe(24)
        given = self.settings.realm.user_passwords
        return {"db_password": generate(), "admin_password": generate(), "registry_http_secret": generate(),
                "users": {u: given.get(u) or generate() for u in self.settings.realm.users}}

    def _start_database(self, state: dict) -> None:
        tools, db = state["tools"], self.settings.database
        data, run = self.state_dir / "mariadb" / "data", self.state_dir / "mariadb" / "run"
        run.mkdir(parents=True, exist_ok=True)
        subprocess.run([tools["MARIADB_INSTALL_DB"], "--no-defaults", f"--datadir={data}", "--user=root",
                        "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, capture_output=True)
        socket = run / "mysqld.sock"
        pid = processes.start("mariadb", [
            tools["MARIADBD"], "--no-defaults", f"--datadir={data}", f"--socket={socket}", f"--pid-file={run}/mysqld.pid",
            f"--port={MARIADB_PORT}", "--bind-address=127.0.0.1", "--user=root", f"--tmpdir={run}",
            "--skip-name-resolve", "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci"], self.logs)
        state["pids"]["mariadb"] = pid
        processes.wait_until("MariaDB", lambda: socket.exists() and processes.port_open(MARIADB_PORT), pid, 60,
                             self.logs / "mariadb.log")
        password = state["secrets"]["db_password"]
        sql = (f"CREATE DATABASE `{db.name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; "
               f"CREATE USER '{db.user}'@'127.0.0.1' IDENTIFIED BY '{password}'; "
               f"GRANT ALL ON `{db.name}`.* TO '{db.user}'@'127.0.0.1';")
        subprocess.run([tools["MARIADB_CLIENT"], "--no-defaults", f"--socket={socket}", "-uroot", "-e", sql],
                       check=True, capture_output=True)
        state["versions"] = {"mariadb": subprocess.run([tools["MARIADBD"], "--version"], capture_output=True,
                                                       text=True).stdout.split(" Ver ")[-1].split()[0]}

    def keycloak_process_env(self, state: dict) -> dict[str, str]:
        """keycloak_env with this environment's loopback addresses and its SecretRefs resolved."""
        kc, db = self.settings.keycloak, self.settings.database
        endpoint = DatabaseEndpoint(db.engine, "127.0.0.1", MARIADB_PORT, db.name)
        listen = Listen("127.0.0.1", port_of(kc.public_url), KEYCLOAK_MANAGEMENT_PORT)
        secret_values = {
            SecretRef(database.CREDENTIALS_SECRET, "username"): db.user,
            SecretRef(database.CREDENTIALS_SECRET, "password"): state["secrets"]["db_password"],
            SecretRef(keycloak.ADMIN_SECRET, "username"): kc.admin_username,
            SecretRef(keycloak.ADMIN_SECRET, "password"): state["secrets"]["admin_password"],
        }
        return {name: secret_values[value] if isinstance(value, SecretRef) else value
                for name, value in keycloak_env(kc, endpoint, listen)}

    def _start_keycloak(self, state: dict) -> None:
        tools = state["tools"]
        env = {**self.keycloak_process_env(state), "JAVA_HOME": tools["JAVA_HOME"]}
        pid = processes.start("keycloak", [f"{tools['KEYCLOAK_HOME']}/bin/kc.sh", "start"], self.logs, env=env)
        state["pids"]["keycloak"] = pid
        seconds = processes.wait_until(
            "Keycloak", processes.http_ok(f"http://127.0.0.1:{KEYCLOAK_MANAGEMENT_PORT}/health/ready"), pid,
            KEYCLOAK_READY_TIMEOUT, self.logs / "keycloak.log")
        state["timings"]["keycloak_ready"] = round(seconds, 1)
        state["versions"]["keycloak"] = tools["KEYCLOAK_VERSION"]

    def _configure_realm(self, state: dict) -> None:
        self._save(state)  # admin() reads the generated admin password from the state file
        admin = self.admin()
        realm_setup.configure_realm(admin, self.settings.realm, state["secrets"]["users"])
        state["docker_client_id"] = realm_setup.create_docker_client(admin, self.settings.realm)

    def _start_registries(self, state: dict) -> dict[str, str]:
        """Both registry lines on the certificate files derived from the live realm; returns those files."""
        files = realm_setup.realm_signing_files(self.admin(), self.settings.realm.name)
        token = token_auth(self.settings)
        state.setdefault("versions", {})
        for instance in self.registries(state["tools"]):
            base = self.state_dir / instance.name
            cert_dir, config_dir = base / "certs", base / "config"
            for directory in (cert_dir, config_dir, base / "data"):
                directory.mkdir(parents=True, exist_ok=True)
            for file_name, content in files.items():  # the certificate Secret's keys, as mounted files
                (cert_dir / file_name).write_text(content)
            config = registry_config(instance.settings, token, state["secrets"]["registry_http_secret"],
                                     addr=f"127.0.0.1:{instance.port}",
                                     debug_addr=f"127.0.0.1:{instance.debug_port}", data_dir=str(base / "data"),
                                     cert_dir=str(cert_dir))
            (config_dir / CONFIG_FILE).write_text(render_config(config))
            pid = processes.start(instance.name, [instance.binary, "serve", str(config_dir / CONFIG_FILE)], self.logs,
                                  env=dict(registry_env(instance.settings)))
            state["pids"][instance.name] = pid
            processes.wait_until(instance.name, processes.http_ok(f"http://127.0.0.1:{instance.debug_port}/debug/health"),
                                 pid, 60, self.logs / f"{instance.name}.log")
            version = subprocess.run([instance.binary, "--version"], capture_output=True, text=True).stdout.split()
            state["versions"][instance.name] = version[-1] if version else "unknown"
        return files

    # ----------------------------------------------------------------------------------- files
    def _env_json(self, state: dict) -> dict[str, Any]:
        token = token_auth(self.settings)
        return {
            "keycloak_url": self.settings.keycloak.public_url,
            "admin": {"username": self.settings.keycloak.admin_username, "password": state["secrets"]["admin_password"]},
            "realm": self.settings.realm.name,
            "service": token.service,
            "issuer": token.issuer,
            "token_realm": token.realm,
            "users": [{"username": u, "password": p} for u, p in state["secrets"]["users"].items()],
            "registries": [{"version": state["versions"][i.name], "line": i.settings.line, "url": i.settings.public_url}
                           for i in self.registries(state["tools"])],
        }

    def _save(self, state: dict) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(state, indent=2))
        self.state_file.chmod(0o600)

    def _load(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def state(self) -> dict:
        return self._load()
