"""The whole program as the engine sees it: one graph, the right outputs, and a safe first preview."""

import pytest
from pulumi.output import Unknown

from support.mock_program import REALM_KEYS_TOKEN, Run, holds_unknown, is_secret, run_program, stack_file_config

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
SECRET = "kubernetes:core/v1:Secret"
PROVIDER = "pulumi:providers:keycloak"
REALM = "keycloak:index/realm:Realm"
USER = "keycloak:index/user:User"
DYNAMIC = "pulumi-python:dynamic:Resource"


def all_dependencies(resource) -> set[str]:
    deps = set(resource.dependencies)
    for urns in resource.property_dependencies.values():
        deps.update(urns)
    return deps


def test_one_graph_from_database_to_registry(dev_run: Run):
    database = dev_run.one(STATEFUL_SET, "keycloak-db")
    keycloak = dev_run.one(DEPLOYMENT, "keycloak")
    provider = dev_run.one(PROVIDER)
    credentials = dev_run.one(DYNAMIC, "keycloak-admin-credentials")
    realm = dev_run.one(DYNAMIC, "realm-realm")
    client = dev_run.one(DYNAMIC, "realm-docker-client")
    users = dev_run.of_type(USER)
    certs = dev_run.one(SECRET, "registry-signing-certs")
    registry = dev_run.one(DEPLOYMENT, "registry")

    assert database.urn in all_dependencies(keycloak), "Keycloak must wait for the database"
    # readiness gate: the provider's URL comes from the Keycloak Deployment's status
    assert keycloak.urn in provider.property_dependencies["url"]
    # the admin login Keycloak accepted feeds the provider and the realm
    assert keycloak.urn in credentials.property_dependencies["server_url"]
    assert credentials.urn in provider.property_dependencies["password"]
    assert credentials.urn in all_dependencies(realm)
    assert realm.urn in all_dependencies(client)
    assert users and all(realm.urn in all_dependencies(u) and u.provider.startswith(provider.urn) for u in users)
    assert {realm.urn, client.urn} <= all_dependencies(certs)
    assert certs.urn in all_dependencies(registry)


def test_every_resource_belongs_to_a_component(dev_run: Run):
    platform = next(r for r in dev_run.resources if r.type == "keycloak-registry:index:Platform")
    components = {r.urn for r in dev_run.resources if r.type.startswith("keycloak-registry:")}
    for resource in dev_run.resources:
        if resource is not platform:
            assert resource.parent in components, f"{resource.type} {resource.name} has no component parent"


def test_all_realm_objects_use_the_explicit_provider(dev_run: Run):
    provider = dev_run.one(PROVIDER)
    for resource in dev_run.resources:
        if resource.type.startswith("keycloak:"):
            assert resource.provider.startswith(provider.urn), resource.name
    assert all(provider_urn.startswith(provider.urn) for token, _, provider_urn in dev_run.invokes
               if token == REALM_KEYS_TOKEN)


def test_outputs(dev_run: Run):
    out = dev_run.outputs
    assert out["namespace"] == "registry"
    assert out["registryHost"] == "localhost:30500"
    assert out["registryUrl"] == "http://localhost:30500"
    assert out["keycloakUrl"] == "http://localhost:30080"
    assert out["realm"] == "registry"
    assert out["tokenRealm"] == "http://localhost:30080/realms/registry/registry-token"
    assert out["tokenService"] == "registry"
    assert out["tokenIssuer"] == "http://localhost:30080/realms/registry"
    assert out["usernames"] == ["developer", "ci-bot"]
    assert out["dockerLoginCommand"] == "docker login localhost:30500"
    assert [rule["alert"] for rule in out["alertRules"]["groups"][0]["rules"]] == [
        "RegistryTokenFailures", "RegistryServerErrors", "KeycloakClusterSplit", "RegistryStorageErrors"]
    assert set(out["userPasswords"]) == {"developer", "ci-bot"}


def test_credentials_are_secret_outputs_and_nothing_else_is(dev_run: Run):
    assert dev_run.secret_outputs == {"keycloakAdminPassword", "userPasswords", "robotPasswords"}


def test_generated_credentials_stay_secret_in_kubernetes_and_the_client(dev_run: Run):
    for name in ("keycloak-db-credentials", "keycloak-bootstrap-admin", "registry-config"):
        assert is_secret(dev_run.one(SECRET, name).inputs["stringData"]), name
    assert is_secret(dev_run.one(DYNAMIC, "realm-docker-client").inputs["admin_password"])
    assert is_secret(dev_run.one(PROVIDER).inputs["password"])


def test_preview_of_a_new_stack_never_asks_keycloak(dev_config):
    config, secrets = dev_config
    preview = run_program(config, secrets, preview=True)
    assert [tok for tok, _, _ in preview.invokes if tok.startswith("keycloak:")] == []
    # the provider is registered unconfigured: its URL waits for the Keycloak Deployment
    assert isinstance(preview.one(PROVIDER).inputs["url"], Unknown)
    # the certificates are not read, so the Secret's content is unknown (how deep the unknown sits varies by SDK)
    assert holds_unknown(preview.one(SECRET, "registry-signing-certs").inputs["stringData"])


def test_update_preview_reads_the_realm_keys(dev_run: Run):
    calls = [args for tok, args, _ in dev_run.invokes if tok == REALM_KEYS_TOKEN]
    assert calls == [{"realmId": "registry", "algorithms": ["RS256"], "statuses": ["ACTIVE", "PASSIVE"]}]


EXPECTED_COUNTS = {
    "dev": {DEPLOYMENT: 2, STATEFUL_SET: 1, "kubernetes:core/v1:PersistentVolume": 0,
            "kubernetes:core/v1:PersistentVolumeClaim": 2, "kubernetes:networking.k8s.io/v1:Ingress": 0, USER: 2},
    "staging": {DEPLOYMENT: 2, STATEFUL_SET: 1, "kubernetes:core/v1:PersistentVolume": 0,
                "kubernetes:core/v1:PersistentVolumeClaim": 2, "kubernetes:networking.k8s.io/v1:Ingress": 2, USER: 2},
    "prod": {DEPLOYMENT: 2, STATEFUL_SET: 1, "kubernetes:core/v1:PersistentVolume": 0,
             # the database's and its backups' claims (the images are on S3)
             "kubernetes:core/v1:PersistentVolumeClaim": 2, "kubernetes:networking.k8s.io/v1:Ingress": 2, USER: 2},
}


@pytest.mark.parametrize("stack", sorted(EXPECTED_COUNTS))
def test_each_stack_registers_its_resources(stack):
    run = run_program(*stack_file_config(stack))
    counts = run.count_by_type()
    for type_, expected in EXPECTED_COUNTS[stack].items():
        assert counts.get(type_, 0) == expected, f"{stack}: {type_}"


def test_workload_specs_stay_readable_in_preview_diffs(dev_run: Run):
    for resource in dev_run.of_type(DEPLOYMENT) + dev_run.of_type(STATEFUL_SET):
        assert not is_secret(resource.inputs["spec"]), resource.name


def test_kubernetes_objects_go_through_the_explicit_provider(dev_run: Run):
    provider = dev_run.one("pulumi:providers:kubernetes")
    assert "renderYamlToDirectory" not in provider.inputs
    for resource in dev_run.resources:
        if resource.type.startswith("kubernetes:"):
            assert resource.provider.startswith(provider.urn), resource.name


def test_a_render_directory_renders_manifests_instead_of_applying_them(dev_config):
    config, secrets = dev_config
    run = run_program({**config, "kubernetesRenderDir": ".localenv/manifests"}, secrets)
    assert run.one("pulumi:providers:kubernetes").inputs["renderYamlToDirectory"] == ".localenv/manifests"


def test_render_mode_makes_no_keycloak_call(dev_config):
    """A rendered Deployment has a known, empty status: the readiness gate would open on nothing."""
    config, secrets = dev_config
    run = run_program({**config, "kubernetesRenderDir": ".localenv/manifests"}, secrets)
    assert [tok for tok, _, _ in run.invokes if tok.startswith("keycloak:")] == []
    assert [r.name for r in run.resources
            if r.type.startswith(("keycloak:", "pulumi:providers:keycloak", DYNAMIC))] == []
    # everything that needs no live Keycloak is rendered
    rendered = {(r.type.split(":")[-1], r.name) for r in run.resources if r.type.startswith("kubernetes:")}
    assert rendered == {
        ("Namespace", "namespace"), ("Secret", "keycloak-db-credentials"),
        ("PersistentVolumeClaim", "keycloak-db-data"),
        ("Service", "keycloak-db"), ("StatefulSet", "keycloak-db"), ("NetworkPolicy", "keycloak-db-clients"),
        ("Secret", "keycloak-bootstrap-admin"), ("ConfigMap", "keycloak-extensions"), ("Deployment", "keycloak"),
        ("Service", "keycloak"),
        ("Secret", "registry-config"), ("PersistentVolumeClaim", "registry-data"), ("Service", "registry")}
    # and the outputs say what is not
    assert run.outputs["renderMode"]["directory"] == ".localenv/manifests"
    assert run.outputs["renderMode"]["notRendered"] == [
        "realm configuration (realm, group, role, teams, users, robots, access rules, docker flow, docker-v2 client)",
        "signing-certificate Secret", "registry Deployment"]
    assert not {"realm", "tokenService", "userPasswords"} & set(run.outputs)


def test_render_mode_renders_the_ingresses_a_stack_enables():
    config, secrets = stack_file_config("staging")
    run = run_program({**config, "kubernetesRenderDir": "manifests"}, secrets)
    assert sorted(r.name for r in run.of_type("kubernetes:networking.k8s.io/v1:Ingress")) == ["keycloak", "registry"]
    assert run.of_type(PROVIDER) == []
