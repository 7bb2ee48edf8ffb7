"""No configuration change deletes a claim's data without the opt-in (issue 14, item 9): the guard's decision, the
protected claims and the namespace waiting for the guard, as the engine would receive them."""

import pytest

from providers.storage_guard import DataLossRefused, StorageGuardProvider, data_loss, guarded_values
from settings import parse_settings
from support.mock_program import VALID, run_program, stack_file_config

DYNAMIC = "pulumi-python:dynamic:Resource"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
BEFORE = guarded_values(parse_settings(VALID))


@pytest.mark.parametrize("key, value, deleted", [
    ("databaseStorageClass", "fast", "replaces the claim keycloak-db-data"),
    ("registryStorageClass", "fast", "replaces the claim registry-data"),
    ("databaseBackupStorageClass", "fast", "replaces the claim keycloak-db-backups: every database backup"),
    ("registryStorage", "s3", "removes the claim registry-data"),
    ("namespace", "elsewhere", "deleting the old one with the claims"),
    ("databaseEngine", "mariadb", "cannot read the data there"),
])
def test_a_change_that_would_delete_data_is_refused_naming_the_key(key, value, deleted):
    news = {**BEFORE, key: value, "allow_volume_replacement": False}
    with pytest.raises(DataLossRefused) as refused:
        StorageGuardProvider().diff("storage-guard", {**BEFORE, "allow_volume_replacement": False}, news)
    message = str(refused.value)
    assert f"keycloak-registry:{key} changed from {BEFORE[key]!r} to {value!r}" in message and deleted in message
    assert "allowVolumeReplacement" in message and "docs/configuration.md > Storage" in message


def test_with_the_opt_in_the_change_goes_ahead():
    news = {**BEFORE, "databaseStorageClass": "fast", "allow_volume_replacement": True}
    assert StorageGuardProvider().diff("storage-guard", {**BEFORE, "allow_volume_replacement": False}, news).changes


def test_other_changes_and_state_from_before_a_key_was_guarded_pass():
    assert data_loss(BEFORE, dict(BEFORE)) == []
    assert data_loss({"namespace": BEFORE["namespace"]}, {**BEFORE, "databaseStorageClass": "fast"}) == []
    diff = StorageGuardProvider().diff("storage-guard", {**BEFORE, "allow_volume_replacement": False},
                                       {**BEFORE, "allow_volume_replacement": True})
    assert diff.changes and diff.replaces == []


def test_the_registry_storage_class_only_matters_on_filesystem_storage():
    s3 = parse_settings({**VALID, "registryStorage": "s3", "s3Bucket": "b", "registryStorageClass": "fast"})
    assert guarded_values(s3)["registryStorageClass"] == ""


def test_both_claims_are_protected_and_everything_waits_for_the_guard(dev_run):
    claims = {c.name: c for c in dev_run.of_type(PVC)}
    assert set(claims) == {"keycloak-db-data", "registry-data"} and all(c.protect for c in claims.values())
    guard = dev_run.one(DYNAMIC, "storage-guard")
    inputs = {k: v for k, v in guard.inputs.items() if not k.startswith("__")}  # __provider: the serialized provider
    assert inputs == {**guarded_values(parse_settings(*stack_file_config("dev"))), "allow_volume_replacement": False}
    assert guard.urn in dev_run.one("kubernetes:core/v1:Namespace").dependencies


def test_the_opt_in_lifts_the_protection():
    config, secrets = stack_file_config("dev")
    run = run_program({**config, "allowVolumeReplacement": "true"}, secrets)
    assert not any(c.protect for c in run.of_type(PVC))
    assert run.one(DYNAMIC, "storage-guard").inputs["allow_volume_replacement"] is True


def test_a_protected_lock_that_depends_on_everything_makes_destroy_stop_before_deleting_anything(dev_run):
    """`pulumi destroy --skip-preview` deletes what it can before it reaches a protected claim (measured: the realm,
    whose data lives in the database, went first); the lock is the only resource nothing depends on, so it is the
    first delete and a refused destroy stops there."""
    lock = dev_run.one(DYNAMIC, "destroy-lock")
    assert lock.protect
    others = {r.urn for r in dev_run.resources
              if r.urn != lock.urn and "pulumi:providers:" not in r.type
              and not r.type.startswith("keycloak-registry:")}
    reached, frontier = set(), set(lock.dependencies)
    while frontier:  # what the lock waits for, transitively
        reached |= frontier
        frontier = {urn for r in dev_run.resources if r.urn in frontier for urn in r.dependencies} - reached
    assert others - reached == set()
    depended_on = {urn for r in dev_run.resources for urn in r.dependencies}
    assert lock.urn not in depended_on


def test_with_the_opt_in_the_lock_is_unprotected():
    config, secrets = stack_file_config("dev")
    assert not run_program({**config, "allowVolumeReplacement": "true"}, secrets).one(DYNAMIC, "destroy-lock").protect
