import json

import pytest
import yaml

from settings import (
    ACCESS_ALLOW_ALL,
    ACCESS_CLIENT_ROLES,
    CONFIG_KEYS,
    EVERYTHING,
    GroupRule,
    RepositoryGrant,
    SettingsError,
    parse_settings,
)
from support.keys import ca_certificate_pem
from support.mock_program import ROOT, VALID, RecordingMonitor, run_program, stack_file_config

TEST_CA_PEM = ca_certificate_pem()


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "local"])
def test_each_stack_file_loads_and_validates(stack):
    raw, secrets = stack_file_config(stack)
    settings = parse_settings(raw, frozenset(secrets))
    assert settings.realm.name == "registry"
    assert settings.keycloak.public_url.startswith("http")
    assert settings.realm.default_access == ("none" if stack == "local" else "all")


def test_dev_stack_runs_without_further_config():
    settings = parse_settings(stack_file_config("dev")[0])
    assert settings.keycloak.exposure.service_type == "NodePort"
    assert settings.registry.exposure.service_type == "NodePort"
    assert settings.database.storage_class == ""  # the cluster's default StorageClass: writable for uid 999
    assert settings.keycloak.admin_password == ""  # generated
    assert settings.realm.user_passwords == {}  # generated


def test_prod_stack_scales_the_registry_on_s3():
    settings = parse_settings(stack_file_config("prod")[0])
    assert settings.registry.replicas == 3 and settings.registry.storage == "s3"
    assert settings.registry.exposure.ingress and settings.registry.exposure.tls


def test_the_key_table_is_pulumi_yaml_with_well_formed_declarations():
    """One copy: the engine reads Pulumi.yaml, and so does the program; a default matches its key's type, and the
    keys holding credentials are secret (in the program: see settings/keys.py for why not in Pulumi.yaml)."""
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    assert [key.name for key in CONFIG_KEYS] == list(declared)
    types = {"string": str, "integer": int, "boolean": bool, "array": list}
    for key in CONFIG_KEYS:
        assert isinstance(key.default, types[key.type]) and key.description, key.name
        assert key.type == "array" or "items" not in declared[key.name], key.name
        assert "secret" not in declared[key.name], key.name
    assert {key.name for key in CONFIG_KEYS if key.secret} == {
        "keycloakAdminPassword", "userPasswords", "s3AccessKey", "s3SecretKey", "ldapBindCredential",
        "ssoClientSecret"}


def test_defaults_give_pinned_images():
    settings = parse_settings(VALID)
    assert settings.database.image == "docker.io/library/mysql:8.4.7"
    assert settings.keycloak.image == "quay.io/keycloak/keycloak:26.7.3"
    assert settings.registry.image == "docker.io/library/registry:3.1.2"
    assert settings.registry.line == "3"
    assert parse_settings({**VALID, "registryVersion": "2.8.3"}).registry.line == "2.8"
    assert parse_settings({**VALID, "databaseEngine": "mariadb"}).database.image == "docker.io/library/mariadb:11.4.8"


def test_given_secrets_are_used_when_marked_secret():
    passwords = json.dumps({"developer": "a-long-enough-password"})
    settings = parse_settings({**VALID, "userPasswords": passwords, "keycloakAdminPassword": "another-long-password"},
                              frozenset({"userPasswords", "keycloakAdminPassword"}))
    assert settings.realm.user_passwords == {"developer": "a-long-enough-password"}
    assert settings.keycloak.admin_password == "another-long-password"


INVALID = [
    ({"keycloakLogLevel": "verbose"}, "keycloakLogLevel = \"verbose\": expected comma-separated levels"),
    ({"keycloakLogLevel": "info,org.keycloak"}, "keycloakLogLevel = \"info,org.keycloak\": expected comma-separated"),
    ({"keycloakLogLevel": "info,,debug"}, "keycloakLogLevel = \"info,,debug\": expected comma-separated"),
    ({"namespace": "Registry_NS"}, "keycloak-registry:namespace = \"Registry_NS\": expected a DNS-1123 label"),
    ({"keycloakPublicUrl": "auth.example.com"},
     "keycloak-registry:keycloakPublicUrl = \"auth.example.com\": expected an http(s) base URL"),
    ({"keycloakPublicUrl": "https://auth.example.com/auth"},
     "keycloakPublicUrl = \"https://auth.example.com/auth\": expected an http(s) base URL without path"),
    ({"keycloakPublicUrl": ""}, "keycloakPublicUrl = \"\": expected an http(s) base URL"),
    ({"registryPublicUrl": "ftp://registry"}, "registryPublicUrl = \"ftp://registry\": expected an http(s) base URL"),
    ({"keycloakAdminUrl": "not a url"}, "keycloakAdminUrl = \"not a url\": expected an http(s) base URL"),
    ({"keycloakAdminCaCertificate": "not a certificate"},
     "keycloakAdminCaCertificate = \"not a certificate...\": expected one or more PEM certificates"),
    ({"keycloakAdminUrl": "http://keycloak.internal:8080", "keycloakAdminCaCertificate": TEST_CA_PEM},
     "expected empty while the admin URL (http://keycloak.internal:8080) is not https"),
    ({"databaseEngine": "postgres"}, "databaseEngine = \"postgres\": expected one of mysql, mariadb"),
    ({"databaseVersion": "5.7.44"},
     "databaseVersion = \"5.7.44\": expected an exact mysql version of a line Keycloak supports (8.0, 8.4)"),
    ({"databaseEngine": "mariadb", "databaseVersion": "10.5.2"},
     "databaseVersion = \"10.5.2\": expected an exact mariadb version"),
    ({"keycloakVersion": "25.0.6"}, "keycloakVersion = \"25.0.6\": expected a Keycloak 26.x.y version"),
    ({"keycloakVersion": "latest"}, "keycloakVersion = \"latest\": expected a Keycloak 26.x.y version"),
    ({"registryVersion": "2.7.1"}, "registryVersion = \"2.7.1\": expected a registry version of the 3.x line"),
    ({"databaseStorageSize": "0Gi"}, "databaseStorageSize = \"0Gi\": expected a positive Kubernetes quantity"),
    ({"registryStorageSize": "lots"}, "registryStorageSize = \"lots\": expected a positive Kubernetes quantity"),
    ({"registryReplicas": "0"}, "registryReplicas = 0: expected a positive whole number"),
    ({"registryReplicas": "two"}, "registryReplicas = \"two\": expected a whole number"),
    ({"registryReplicas": "2"}, "registryReplicas = 2: expected 1 with registryStorage filesystem"),
    ({"registryStorage": "s3"}, "s3Bucket = \"\": expected a bucket name when registryStorage is s3"),
    ({"registryStorage": "gcs"}, "registryStorage = \"gcs\": expected one of filesystem, s3"),
    ({"users": "[]"}, "users = []: expected at least one username"),
    ({"users": '["alice", "alice"]'}, "expected each username once; alice is listed twice"),
    ({"users": '["Alice Smith"]'},
     "expected lower-case usernames (letters, digits, . _ @ -); \"Alice Smith\" is not one"),
    ({"users": "alice"}, "users = \"alice\": expected a JSON/YAML list"),
    ({"users": '["registry-admin"]'}, "expected realm users other than the master-realm admin registry-admin"),
    ({"realm": "master"}, "realm = \"master\": expected a realm name of letters, digits, _ and - other than master"),
    ({"clientId": "my registry"}, "clientId = \"my registry\": expected a client id"),
    ({"keycloakServiceType": "LoadBalancer"},
     "keycloakServiceType = \"LoadBalancer\": expected one of ClusterIP, NodePort"),
    ({"keycloakNodePort": "8080"}, "keycloakNodePort = 8080: expected a node port between 30000 and 32767"),
    ({"keycloakServiceType": "NodePort", "registryServiceType": "NodePort", "registryNodePort": "30080"},
     "registryNodePort = 30080: expected a node port different from keycloakNodePort"),
    ({"resourceProfile": "huge"}, "resourceProfile = \"huge\": expected one of small, medium, large"),
    ({"tokenLifespanSeconds": "-5"}, "tokenLifespanSeconds = -5: expected between 60 and 3600 seconds"),
    ({"tokenLifespanSeconds": str(10**12)}, f"tokenLifespanSeconds = {10**12}: expected between 60 and 3600 seconds"),
    ({"tokenLifespanSeconds": "59"}, "tokenLifespanSeconds = 59: expected between 60 and 3600 seconds"),
    ({"refreshTokenIdleSeconds": "60"}, "refreshTokenIdleSeconds = 60: expected between 300 and 31536000 seconds"),
    ({"refreshTokenMaxAgeSeconds": "31536001"},
     "refreshTokenMaxAgeSeconds = 31536001: expected between 604800 and 31536000 seconds (at least refreshTokenIdle"),
    ({"refreshTokenIdleSeconds": "86400", "refreshTokenMaxAgeSeconds": "3600"},
     "refreshTokenMaxAgeSeconds = 3600: expected between 86400 and 31536000 seconds (at least refreshTokenIdle"),
    ({"refreshTokens": "sometimes"}, "refreshTokens"),
    ({"keycloakReplicas": "0"}, "keycloakReplicas = 0: expected between 1 and 10 pods"),
    ({"bruteForceMaxLoginFailures": "0"}, "bruteForceMaxLoginFailures = 0: expected a positive whole number"),
    ({"bruteForceProtection": "yes"}, "bruteForceProtection = \"yes\": expected true or false"),
    ({"bruteForceWaitIncrementSeconds": "1000"},
     "bruteForceWaitIncrementSeconds = 1000: expected at most bruteForceMaxWaitSeconds (900)"),
    ({"bruteForceMinimumQuickLoginWaitSeconds": "901"},
     "bruteForceMinimumQuickLoginWaitSeconds = 901: expected at most bruteForceMaxWaitSeconds (900)"),
    ({"bruteForceQuickLoginCheckMilliseconds": "-1"},
     "bruteForceQuickLoginCheckMilliseconds = -1: expected between 0 and 60000 milliseconds"),
    ({"bruteForceFailureResetSeconds": "-3"}, "bruteForceFailureResetSeconds = -3: expected a positive whole number"),
    ({"keycloakPublicUrl": "https://auth.example.com:99999"}, "keycloakPublicUrl = \"https://auth.example.com:99999\": "
     "expected an http(s) base URL without path, e.g. https://auth.example.com; a port between 1 and 65535"),
    ({"registryPublicUrl": "https://registry.example.com:0"}, "expected an http(s) base URL without path, e.g. "
     "https://auth.example.com; a port between 1 and 65535"),
    ({"keycloakAdminUrl": "https://auth.example.com:https"}, "a port between 1 and 65535"),
    ({"keycloakPublicUrl": "https://auth.example.com/#login"}, "keycloakPublicUrl = "
     "\"https://auth.example.com/#login\": expected an http(s) base URL without path, e.g. https://auth.example.com; "
     "no #fragment"),
    ({"registryStorage": "s3", "s3Bucket": "b", "s3Endpoint": "https://s3.example.com#"}, "s3Endpoint = "
     "\"https://s3.example.com#\": expected an http(s) base URL without path, e.g. https://auth.example.com; "
     "no #fragment"),
    ({"keycloakAdminUrl": "http://[::1"}, "keycloakAdminUrl = \"http://[::1\": expected an http(s) base URL"),
    ({"defaultAccess": "read"}, "defaultAccess = \"read\": expected all, pull or none: what every member of "
     "registry-users may do beyond the repositoryAccess rules (all = today's behaviour without rules)"),
    ({"defaultAccess": ""}, "defaultAccess = \"\": expected all, pull or none"),
    ({"allowVolumeReplacement": "yes"}, "allowVolumeReplacement = \"yes\": expected true or false"),
    ({"keycloakIngress": "yes"}, "keycloakIngress = \"yes\": expected true or false"),
    ({"databaseHostPath": "/data/db"}, "databaseHostPath = (value hidden): no databaseHostPath: the key was removed"),
    ({"registryReplica": "3"},
     "keycloak-registry:registryReplica = (value hidden): no such key; did you mean registryReplicas?"),
    ({"fooBar": "3"}, "keycloak-registry:fooBar = (value hidden): no such key; known keys are listed in Pulumi.yaml"),
    ({"ingressMaxBodySize": "unlimited"}, "ingressMaxBodySize = \"unlimited\": expected an nginx size"),
    ({"registryGarbageCollection": "0 3 * *"}, "registryGarbageCollection = \"0 3 * *\": expected a cron schedule "
                                               "of five fields"),
    ({"registryGarbageCollection": "0 24 * * sun"}, "registryGarbageCollection = \"0 24 * * sun\": expected a cron"),
    ({"registryGarbageCollection": "@often"}, "registryGarbageCollection = \"@often\": expected a cron"),
    ({"databaseBackupSchedule": "@daily", "databaseBackupS3Prefix": "https://bucket/x"},
     "databaseBackupS3Prefix = \"https://bucket/x\": expected s3://<bucket>[/<prefix>]"),
    ({"databaseBackupS3Prefix": "s3://backups/keycloak"},
     "databaseBackupS3Prefix = \"s3://backups/keycloak\": expected empty unless databaseBackupSchedule is set"),
    ({"registryGarbageCollection": "@weekly", "kubectlImage": ""},
     "kubectlImage = \"\": expected an image with sh and kubectl when registryGarbageCollection is set"),
]


@pytest.mark.parametrize("overrides,message", INVALID,
                         ids=[m.split(":")[1][:40] if ":" in m else m[:40] for _, m in INVALID])
def test_invalid_config_fails_with_a_message_naming_key_value_and_form(overrides, message):
    with pytest.raises(SettingsError) as error:
        parse_settings({**VALID, **overrides})
    assert message in str(error.value)


SECRET_PROBLEMS = [
    ({"keycloakAdminPassword": "short"}, {"keycloakAdminPassword"},
     "keycloakAdminPassword = <secret>: expected at least 12 characters"),
    ({"keycloakAdminPassword": "a-long-enough-password"}, set(),
     "keycloakAdminPassword is set in plain text: expected a secret"),
    ({"userPasswords": '{"bob": "a-long-enough-password"}'}, {"userPasswords"},
     "expected only usernames listed in users; bob is not"),
    ({"userPasswords": '{"developer": "short"}'}, {"userPasswords"},
     "expected passwords of at least 12 characters (developer's is shorter)"),
    ({"userPasswords": "developer=secret"}, {"userPasswords"}, "userPasswords = <secret>: expected a JSON object"),
    ({"registryStorage": "s3", "s3Bucket": "b", "s3AccessKey": "AKIA123"}, {"s3AccessKey"},
     "s3SecretKey = <secret>: expected s3AccessKey and s3SecretKey set together"),
]


@pytest.mark.parametrize("overrides,secrets,message", SECRET_PROBLEMS)
def test_secret_problems_never_echo_the_secret(overrides, secrets, message):
    with pytest.raises(SettingsError) as error:
        parse_settings({**VALID, **overrides}, frozenset(secrets))
    assert message in str(error.value)
    for key in secrets:
        assert overrides[key] not in str(error.value)


LEAKY = 'pa"ss\\wörd-123'  # a double quote, a backslash and non-ASCII: JSON and repr each write it differently
LEAKS = [
    ({"keycloakAdminPasword": LEAKY}, set(), "keycloakAdminPasword = (value hidden): no such key; did you mean "
                                             "keycloakAdminPassword?"),
    ({"keycloakAdminPasword": LEAKY}, {"keycloakAdminPasword"}, "did you mean keycloakAdminPassword?"),
    ({"userPasswords": LEAKY}, {"userPasswords"}, "userPasswords = <secret>: expected a JSON object"),
    ({"keycloakAdminPassword": LEAKY[:8]}, {"keycloakAdminPassword"},
     "keycloakAdminPassword = <secret>: expected at least"),
    ({"keycloakPublicUrl": LEAKY}, {"keycloakPublicUrl"}, "keycloakPublicUrl = <secret>: expected an http(s) base URL"),
    ({"databaseHostPath": LEAKY}, {"databaseHostPath"}, "databaseHostPath = (value hidden): no databaseHostPath"),
]


@pytest.mark.parametrize("overrides,secrets,message", LEAKS)
def test_no_message_shows_an_unknown_or_secret_value_in_any_form(overrides, secrets, message):
    """The engine masks a secret's plain form only; an unknown key may be a misspelled secret."""
    with pytest.raises(SettingsError) as error:
        parse_settings({**VALID, **overrides}, frozenset(secrets))
    text = str(error.value)
    assert message in text
    (value,) = overrides.values()
    for form in (value, json.dumps(value), json.dumps(value, ensure_ascii=False), repr(value)):
        assert form not in text
    for fragment in ('pa"ss', r'pa\"ss', "wö", r"w\u00f6", r"w\xf6"):  # nor a part of it
        assert fragment not in text


def test_a_url_with_userinfo_is_refused_without_showing_the_password():
    with pytest.raises(SettingsError) as error:
        parse_settings({**VALID, "keycloakPublicUrl": "https://user:hunter2-pw@auth.example.com",
                        "keycloakAdminUrl": "https://admin:hunter3-pw@auth.example.com:8443"})
    expected = ": expected an http(s) base URL without path, e.g. https://auth.example.com; no user or password in " \
               "it (credentials belong in secret keys)"
    assert error.value.problems == [
        'keycloak-registry:keycloakPublicUrl = "https://***@auth.example.com"' + expected,
        'keycloak-registry:keycloakAdminUrl = "https://***@auth.example.com:8443"' + expected]
    assert "hunter" not in str(error.value) and "user" not in str(error.value).replace("no user", "")
    with pytest.raises(SettingsError) as error:  # unencoded / and # in a password still end at its last @
        parse_settings({**VALID, "keycloakAdminUrl": "https://admin:hunter4/x#y@auth.example.com"})
    assert "hunter" not in str(error.value) and '"https://***@auth.example.com"' in str(error.value)


def test_bad_urls_and_lifespans_are_collected_with_the_other_problems():
    with pytest.raises(SettingsError) as error:
        parse_settings({**VALID, "keycloakPublicUrl": "https://u:p@auth.example.com", "realm": "master",
                        "tokenLifespanSeconds": str(10**12),
                        "registryPublicUrl": "https://registry.example.com:99999#x"})
    assert [p.split(" = ")[0] for p in error.value.problems] == [
        "keycloak-registry:realm", "keycloak-registry:keycloakPublicUrl", "keycloak-registry:registryPublicUrl",
        "keycloak-registry:tokenLifespanSeconds"]


@pytest.mark.parametrize("seconds", ["60", "300", "3600"])
def test_token_lifespans_within_bounds_are_accepted(seconds):
    assert parse_settings({**VALID, "tokenLifespanSeconds": seconds}).realm.token_lifespan_seconds == int(seconds)


def test_refresh_tokens_default_on_and_off_hands_the_client_zero_lifetimes():
    default = parse_settings(VALID).realm.refresh_tokens
    assert (default.enabled, default.client_lifetimes) == (True, (604800, 2592000))
    off = parse_settings({**VALID, "refreshTokens": "false", "refreshTokenIdleSeconds": "600"}).realm.refresh_tokens
    assert (off.idle_seconds, off.client_lifetimes) == (600, (0, 0))


def test_without_default_access_the_configuration_is_refused():
    """Access is never inferred from an absent key."""
    config = {k: v for k, v in VALID.items() if k != "defaultAccess"}
    with pytest.raises(SettingsError) as error:
        parse_settings(config)
    assert error.value.problems == [
        'keycloak-registry:defaultAccess = "": expected all, pull or none: what every member of registry-users may do '
        "beyond the repositoryAccess rules (all = today's behaviour without rules)"]


RULE = GroupRule("registry-users", RepositoryGrant(("team-a/*",), ("pull", "push")))
ROBOT = json.dumps([{"name": "ci-pull", "repositories": ["team-a/*"], "actions": ["pull"]}])
IMPLICIT = {"all": EVERYTHING, "pull": RepositoryGrant(("*",), ("pull",), catalog=True), "none": None}


@pytest.mark.parametrize("robots", [False, True], ids=["no-robots", "robots"])
@pytest.mark.parametrize("rules", [False, True], ids=["no-rules", "rules"])
@pytest.mark.parametrize("access", ["all", "pull", "none"])
def test_default_access_decides_the_mode_and_the_groups_implicit_rule(access, rules, robots):
    config = {**VALID, "defaultAccess": access}
    if rules:
        config["repositoryAccess"] = json.dumps([{"group": "registry-users", "repositories": ["team-a/*"],
                                                  "actions": ["pull", "push"]}])
    if robots:
        config["robots"] = ROBOT
    realm = parse_settings(config).realm
    declared = (RULE,) if rules else ()
    if access == "all" and not rules and not robots:
        assert realm.access_mode == ACCESS_ALLOW_ALL and realm.group_rules == ()
    else:
        implicit = (GroupRule("registry-users", IMPLICIT[access]),) if IMPLICIT[access] else ()
        assert realm.access_mode == ACCESS_CLIENT_ROLES
        assert realm.group_rules == implicit + declared
    assert realm.default_grant == IMPLICIT[access]
    assert realm.access_summary()["defaultAccess"] == access


def test_volume_replacement_is_refused_unless_allowed():
    assert parse_settings(VALID).allow_volume_replacement is False
    assert parse_settings({**VALID, "allowVolumeReplacement": "true"}).allow_volume_replacement is True
    assert all(parse_settings(*stack_file_config(stack)).allow_volume_replacement is False
               for stack in ("dev", "staging", "prod", "local"))


def test_a_removed_key_is_one_error_saying_what_to_use_instead():
    with pytest.raises(SettingsError) as error:
        parse_settings({**VALID, "databaseHostPath": "/var/lib/keycloak-registry/database"})
    (problem,) = error.value.problems
    assert "not writable by the database user" in problem
    assert "pulumi config rm databaseHostPath" in problem and "databaseStorageClass" in problem
    assert "default StorageClass" in problem


def test_all_problems_are_reported_at_once():
    with pytest.raises(SettingsError) as error:
        parse_settings({**VALID, "realm": "master", "registryReplicas": "0", "databaseEngine": "oracle"})
    assert len(error.value.problems) == 3


def test_invalid_config_stops_the_program_before_any_resource_is_registered(monkeypatch):
    monitors = []
    original = RecordingMonitor.__init__

    def remember(self, mocks):
        original(self, mocks)
        monitors.append(self)
    monkeypatch.setattr(RecordingMonitor, "__init__", remember)
    with pytest.raises(SettingsError, match="registryReplicas = 0"):
        run_program({**VALID, "registryReplicas": "0"})
    assert monitors and monitors[0].registrations == []


def test_docs_config_table_lists_every_key_with_its_default():
    rows = {}
    for line in (ROOT / "docs" / "configuration.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if (len(cells) == 4 and cells[0].startswith("`")
                and cells[1].split(" ")[0] in ("string", "integer", "boolean", "array")):
            rows[cells[0].strip("`")] = cells
    assert list(rows) == [key.name for key in CONFIG_KEYS]
    for key in CONFIG_KEYS:
        name, type_, default, description = rows[key.name]
        assert type_ == key.type + (" (secret)" if key.secret else ""), key.name
        shown = {True: "true", False: "false"}.get(key.default) if isinstance(key.default, bool) else \
            "[" + ", ".join(key.default) + "]" if isinstance(key.default, list) else str(key.default)
        assert default == (f"`{shown}`" if shown else "—"), key.name
        assert description == key.description, key.name
