"""Runs the real program (__main__.py) against Pulumi mocks and records what it registers.

The recording monitor keeps each registration request's parent, dependencies and provider, so the
tests check the graph the engine would see, not the graph we think we built.
"""

from __future__ import annotations

import datetime
import json
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pulumi
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pulumi.runtime import config as runtime_config
from pulumi.runtime.mocks import MockMonitor, Mocks, _sync_await
from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.stack import run_pulumi_func

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "keycloak-registry"
REALM_KEYS_TOKEN = "keycloak:index/getRealmKeys:getRealmKeys"


def self_signed_certificate(common_name: str = "registry") -> str:
    """A base64 DER certificate like the ones Keycloak's rsa-generated provider makes."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=365)).sign(key, hashes.SHA256()))
    import base64
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


@dataclass
class Registration:
    type: str
    name: str
    urn: str
    inputs: dict
    parent: str
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    provider: str


@dataclass
class Run:
    """What one program run registered, invoked and exported."""

    resources: list[Registration]
    invokes: list[tuple[str, dict, str]]
    outputs: dict[str, Any]
    secret_outputs: set[str]

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: Optional[str] = None) -> Registration:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {type_} {name or ''}, found {[r.name for r in found]}"
        return found[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.resources if r.urn == urn)

    def count_by_type(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.resources:
            counts[r.type] = counts.get(r.type, 0) + 1
        return dict(sorted(counts.items()))


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks: Mocks):
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self.invokes: list[tuple[str, dict, str]] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            from pulumi.runtime import rpc
            self.registrations.append(Registration(
                type=request.type, name=request.name, urn=response.urn,
                inputs=_sync_await(_deserialize(rpc, request.object)), parent=request.parent,
                dependencies=list(request.dependencies),
                property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
                provider=request.provider))
        return response

    def Invoke(self, request):
        from pulumi.runtime import rpc
        self.invokes.append((request.tok, rpc.deserialize_properties(request.args), request.provider))
        return super().Invoke(request)


async def _deserialize(rpc, struct):
    return rpc.deserialize_properties(struct, keep_unknowns=True)


class PlatformMocks(Mocks):
    """Answers like a cluster and Keycloak would after `pulumi up`; in preview, like a brand-new stack."""

    def __init__(self, preview: bool, realm_keys: list[dict]):
        self.preview = preview
        self.realm_keys = realm_keys

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if self.preview:  # new resources: no id and nothing computed yet
            return "", dict(args.inputs)
        state = dict(args.inputs)
        if args.typ in ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet"):
            state["status"] = {"readyReplicas": 1}
        if args.typ == "keycloak:index/realm:Realm":
            return args.inputs["realm"], state
        if args.typ == "random:index/randomPassword:RandomPassword":
            state["result"] = f"generated-{args.name}"
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == REALM_KEYS_TOKEN:
            return {"keys": self.realm_keys}
        return {}


def stack_file_config(stack: str) -> tuple[dict[str, str], set[str]]:
    """A stack file's config as the CLI hands it to the program: strings, lists as JSON, secrets marked."""
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    raw, secrets = {}, set()
    for full_key, value in (doc.get("config") or {}).items():
        key = full_key.split(":", 1)[1]
        if isinstance(value, dict) and "secure" in value:
            raw[key], secrets = "stack-file-secret-value", secrets | {key}
        else:
            raw[key] = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return raw, secrets


def run_program(config: dict[str, str], secret_keys: set[str] = frozenset(), preview: bool = False,
                realm_keys: Optional[list[dict]] = None) -> Run:
    """Execute __main__.py under mocks with the given project config (keys without the project prefix)."""
    keys = realm_keys if realm_keys is not None else [
        {"algorithm": "RS256", "status": "ACTIVE", "certificate": self_signed_certificate(), "kid": "k1",
         "providerId": "rsa-generated", "providerPriority": 100, "publicKey": "", "type": "RSA"}]
    mocks = PlatformMocks(preview, keys)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="test", preview=preview, monitor=monitor)
    runtime_config.set_all_config({f"{PROJECT}:{k}": v for k, v in config.items()},
                                  [f"{PROJECT}:{k}" for k in secret_keys])
    exported: dict[str, Any] = {}
    original_export = pulumi.export
    pulumi.export = lambda name, value: exported.__setitem__(name, pulumi.Output.from_input(value))
    try:
        SETTINGS.rpc_manager.clear()
        SETTINGS.outputs.clear()
        _sync_await(run_pulumi_func(lambda: runpy.run_path(str(ROOT / "__main__.py"))))
    finally:
        pulumi.export = original_export
    values = {name: _sync_await(out.future(with_unknowns=True)) for name, out in exported.items()}
    secrets = {name for name, out in exported.items() if _sync_await(out.is_secret())}
    return Run(monitor.registrations, monitor.invokes, values, secrets)


@pytest.fixture(scope="session")
def dev_config() -> tuple[dict[str, str], set[str]]:
    return stack_file_config("dev")


@pytest.fixture(scope="session")
def dev_run(dev_config) -> Run:
    config, secrets = dev_config
    return run_program(config, secrets)
