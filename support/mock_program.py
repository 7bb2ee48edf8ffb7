"""Runs the real program (__main__.py) against Pulumi mocks and records what it registers.

The recording monitor keeps each registration request's parent, dependencies and provider, so the
tests check the graph the engine would see, not the graph we think we built.
"""

from __future__ import annotations

import runpy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pulumi
import yaml
from pulumi.output import Unknown
from pulumi.runtime import config as runtime_config
from pulumi.runtime.mocks import MockMonitor, Mocks, _sync_await
from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.stack import run_pulumi_func

from providers.keycloak_resources import accepted
from settings import stack_file_values
from support.keys import certificate_b64

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "keycloak-registry"
REALM_KEYS_TOKEN = "keycloak:index/getRealmKeys:getRealmKeys"


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
    # resource options that decide what an update or `pulumi destroy` does to the object
    protect: bool = False
    retain_on_delete: bool = False
    delete_before_replace: bool = False
    replace_on_changes: tuple[str, ...] = ()


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
                provider=request.provider, protect=request.protect, retain_on_delete=request.retainOnDelete,
                delete_before_replace=request.deleteBeforeReplace, replace_on_changes=tuple(request.replaceOnChanges)))
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
        if args.name == "keycloak-admin-credentials":  # what its dynamic provider's create returns
            state = accepted(state)
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == REALM_KEYS_TOKEN:
            return {"keys": self.realm_keys}
        return {}


def stack_file_config(stack: str) -> tuple[dict[str, str], frozenset[str]]:
    if stack == "local":  # with what scripts/localenv sets at `up`
        from localenv.environment import local_stack_values
        return local_stack_values()
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    return stack_file_values(doc.get("config"))


def run_program(config: dict[str, str], secret_keys: set[str] = frozenset(), preview: bool = False,
                realm_keys: Optional[list[dict]] = None) -> Run:
    """Execute __main__.py under mocks with the given project config (keys without the project prefix)."""
    keys = realm_keys if realm_keys is not None else [
        {"algorithm": "RS256", "status": "ACTIVE", "certificate": certificate_b64(), "kid": "k1",
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


# Three required keys make a valid configuration for tests that vary one other key.
VALID = {"keycloakPublicUrl": "https://auth.example.com", "registryPublicUrl": "https://registry.example.com",
         "defaultAccess": "all"}


def container(resource: Registration) -> dict:
    """The first container of a registered Deployment or StatefulSet."""
    return resource.inputs["spec"]["template"]["spec"]["containers"][0]


def holds_unknown(value) -> bool:
    """Whether a registered input is, or contains, a value not known until the engine creates something.
    (How deep the unknown sits, e.g. a Secret's whole stringData or one of its values, varies by SDK version.)"""
    if isinstance(value, Unknown):
        return True
    if isinstance(value, dict):
        return any(holds_unknown(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(holds_unknown(v) for v in value)
    return False


# The engine's marker of a secret value on the wire (Pulumi's sig.Secret).
SECRET_SIGNATURE_KEY, SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"


def is_secret(value) -> bool:
    """A registered input the engine will encrypt (the wire form of a secret)."""
    return isinstance(value, dict) and value.get(SECRET_SIGNATURE_KEY) == SECRET_SIGNATURE
