"""Refuses a configuration change that would delete the data on the database or registry claim, and a destroy.

A PVC's storage class cannot change in place, so Pulumi replaces the claim (fixed name: delete, then create) and
its volume's data goes with it; a new namespace or database engine loses it too. Keycloak would then start on an
empty database while the realm's dynamic resources see nothing to do. The guard is a dynamic resource everything
waits for: its diff stops `pulumi preview` and `pulumi up` with one message naming the key, before anything
changes, unless allowVolumeReplacement says the loss is planned. The claims are also `protect`ed as a backstop,
and so is a lock that depends on everything: `pulumi destroy` deletes it first and stops there, before the realm
(which lives in the database) or anything else is gone, even with --skip-preview.
"""

from __future__ import annotations

from typing import Any, Optional

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from settings import PROJECT, Settings

DATABASE_CLAIM, REGISTRY_CLAIM, BACKUP_CLAIM = "keycloak-db-data", "registry-data", "keycloak-db-backups"
# Each guarded key and what changing it does to the data.
CONSEQUENCES = {
    "namespace": f"moves everything to a new namespace, deleting the old one with the claims {DATABASE_CLAIM} and "
                 f"{REGISTRY_CLAIM}: the realm, its users and keys, and every image",
    "databaseEngine": f"starts another database server on the claim {DATABASE_CLAIM}, which cannot read the data "
                      "there: Keycloak would start on an empty database",
    "databaseStorageClass": f"replaces the claim {DATABASE_CLAIM}: the database (realm, users, keys) is deleted",
    "databaseBackupStorageClass": f"replaces the claim {BACKUP_CLAIM}: every database backup on it is deleted",
    "registryStorage": f"removes the claim {REGISTRY_CLAIM}: every image stored on it is deleted",
    "registryStorageClass": f"replaces the claim {REGISTRY_CLAIM}: every image stored on it is deleted",
}
MIGRATION = ("To migrate, follow docs/configuration.md > Storage (back up, set "
             "keycloak-registry:allowVolumeReplacement true for one `pulumi up`, restore, set it back); to keep the "
             "data, revert the change")


def guarded_values(settings: Settings) -> dict[str, str]:
    """The configuration the data on the claims depends on."""
    filesystem = settings.registry.storage == "filesystem"
    return {"namespace": settings.namespace, "databaseEngine": settings.database.engine,
            "databaseStorageClass": settings.database.storage_class,
            "databaseBackupStorageClass": settings.database.backup.storage_class if settings.database.backup else "",
            "registryStorage": settings.registry.storage,
            "registryStorageClass": settings.registry.storage_class if filesystem else ""}


def data_loss(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    """One line per guarded key whose change would delete data (state from before a key was guarded: no change)."""
    return [f"{PROJECT}:{key} changed from {olds[key]!r} to {news[key]!r}: this {CONSEQUENCES[key]}"
            for key in CONSEQUENCES if key in olds and olds[key] != news.get(key)]


class DataLossRefused(ValueError):
    """A configuration change would delete the data on a claim, and allowVolumeReplacement is false."""


class StorageGuardProvider(ResourceProvider):
    """Holds the guarded values; a diff that would lose data without the opt-in fails."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult("storage-guard", dict(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, dict(props))

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        losses = data_loss(olds, news)
        if losses and not news.get("allow_volume_replacement"):
            raise DataLossRefused("refusing a change that deletes data:\n  - " + "\n  - ".join(losses) +
                                  f"\n{MIGRATION}")
        # Not the engine's own __provider (the provider's serialized code): moving the module is no change.
        changed = any(olds.get(key) != value for key, value in news.items() if not key.startswith("__"))
        return DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(dict(news))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Nothing outside the state."""


class StorageGuard(Resource):
    """Register it before the namespace and make the namespace wait for it."""

    allow_volume_replacement: pulumi.Output[bool]

    def __init__(self, name: str, settings: Settings, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(StorageGuardProvider(), name, {
            **guarded_values(settings), "allow_volume_replacement": settings.allow_volume_replacement}, opts)


class NothingToManageProvider(ResourceProvider):
    """The destroy lock holds nothing outside the state."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult("destroy-lock", {})

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """No inputs, so never a change (the engine would otherwise compare the provider's own serialized code)."""
        return DiffResult(changes=False)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Only reached once the lock is unprotected (allowVolumeReplacement)."""


class DestroyLock(Resource):
    """Register it last, depending on every component, protected unless allowVolumeReplacement: the first thing a
    destroy would delete, so a refused destroy deletes nothing."""

    def __init__(self, name: str, protect: bool, depends_on: list[pulumi.Resource],
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(NothingToManageProvider(), name, {}, pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(protect=protect, depends_on=depends_on)))
