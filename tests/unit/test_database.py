import pytest

from components.database import database_env, readiness_command
from lib.kube import SecretRef
from settings import parse_settings
from support.mock_program import VALID, container, run_program, stack_file_config


def test_statefulset_uses_its_explicitly_named_headless_service(dev_run):
    service = dev_run.one("kubernetes:core/v1:Service", "keycloak-db")
    assert service.inputs["spec"]["clusterIP"] == "None"
    stateful_set = dev_run.one("kubernetes:apps/v1:StatefulSet", "keycloak-db")
    assert stateful_set.inputs["spec"]["serviceName"] == "keycloak-db" == service.inputs["metadata"]["name"]
    assert stateful_set.inputs["spec"]["replicas"] == 1


def test_mysql_84_pinned_with_credentials_from_the_secret(dev_run):
    db = container(dev_run.one("kubernetes:apps/v1:StatefulSet", "keycloak-db"))
    assert db["image"] == "docker.io/library/mysql:8.4.7"
    env = {e["name"]: e for e in db["env"]}
    assert env["MYSQL_DATABASE"]["value"] == "keycloak"
    for name in ("MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "keycloak-db-credentials"
    assert db["readinessProbe"]["exec"]["command"] == readiness_command("mysql")
    assert db["resources"]["limits"]["memory"] and db["resources"]["requests"]["cpu"]


def test_mariadb_engine_uses_the_mariadb_image_and_variables():
    settings = parse_settings({**VALID, "databaseEngine": "mariadb"})
    env = dict(database_env(settings.database))
    assert env["MARIADB_PASSWORD"] == SecretRef("keycloak-db-credentials", "password")
    assert readiness_command("mariadb")[0] == "healthcheck.sh"


def test_dev_stack_uses_the_clusters_default_storage_class(dev_run):
    """kind's local-path and minikube's hostpath provisioners create directories uid 999 can write."""
    assert dev_run.of_type("kubernetes:core/v1:PersistentVolume") == []
    claim = dev_run.one("kubernetes:core/v1:PersistentVolumeClaim", "keycloak-db-data")
    assert claim.inputs["spec"].get("storageClassName") is None
    assert claim.inputs["spec"]["resources"]["requests"]["storage"] == "5Gi"


def test_a_named_storage_class():
    run = run_program(*stack_file_config("prod"))
    assert run.of_type("kubernetes:core/v1:PersistentVolume") == []
    claim = run.one("kubernetes:core/v1:PersistentVolumeClaim", "keycloak-db-data")
    assert claim.inputs["spec"]["storageClassName"] == "standard-rwo"
    assert claim.inputs["spec"]["resources"]["requests"]["storage"] == "20Gi"


def test_the_data_directory_is_a_sub_path_of_the_volume(dev_run):
    """A fresh ext4 volume's root holds lost+found, and mysqld --initialize aborts on a non-empty directory."""
    stateful_set = dev_run.one("kubernetes:apps/v1:StatefulSet", "keycloak-db")
    (mount,) = container(stateful_set)["volumeMounts"]
    assert mount["mountPath"] == "/var/lib/mysql"
    assert mount["subPath"] == "data"
    (volume,) = stateful_set.inputs["spec"]["template"]["spec"]["volumes"]
    assert volume["persistentVolumeClaim"]["claimName"] == "keycloak-db-data"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_destroy_keeps_no_database_behind_the_new_credentials(stack):
    """After `pulumi destroy` an `up` generates new passwords, so no volume or object may outlive the stack. Only
    the data claims and the destroy lock are protected (see allowVolumeReplacement), so such a destroy stops first."""
    run = run_program(*stack_file_config(stack))
    assert run.of_type("kubernetes:core/v1:PersistentVolume") == []
    assert "volumeClaimTemplates" not in run.one("kubernetes:apps/v1:StatefulSet", "keycloak-db").inputs["spec"]
    for resource in run.resources:
        assert not resource.retain_on_delete, f"{resource.type} {resource.name}"
        assert not resource.protect or resource.type == "kubernetes:core/v1:PersistentVolumeClaim" \
            or resource.name == "destroy-lock", resource.name


def test_only_keycloak_and_the_backup_jobs_reach_the_database(dev_run):
    policy = dev_run.one("kubernetes:networking.k8s.io/v1:NetworkPolicy").inputs["spec"]
    assert policy["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "database"
    (rule,) = policy["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": name,
                                                             "app.kubernetes.io/part-of": "keycloak-registry"}}}
                            for name in ("keycloak", "database-backup")]
    assert rule["ports"] == [{"port": 3306, "protocol": "TCP"}]


def test_keycloak_reaches_the_database_by_a_name_that_works_with_any_cluster_domain():
    """The pod's DNS search path completes the short form; a hard-coded cluster.local breaks other domains."""
    run = run_program({**VALID, "namespace": "team-x"})
    env = {e["name"]: e.get("value") for e in container(run.one("kubernetes:apps/v1:Deployment", "keycloak"))["env"]}
    assert env["KC_DB_URL_HOST"] == "keycloak-db.team-x.svc"
    assert "cluster.local" not in env["KC_DB_URL_HOST"]
