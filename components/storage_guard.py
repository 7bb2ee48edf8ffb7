"""Import shim (not a component): stacks made before the providers moved to providers/ record this module path in
their state, and the engine loads a resource's provider from there until the resource is next updated."""

from providers.storage_guard import NothingToManageProvider, StorageGuardProvider  # noqa: F401
