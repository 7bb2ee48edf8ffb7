"""The extension jar the program ships: the same ids as its Java source, the pinned Keycloak, and a ConfigMap
whose jar and checksum roll Keycloak's pod."""

import base64
import hashlib
import re
import zipfile

from components.single_sign_on import APP_PASSWORDS_PATH, SELF_SERVICE_CLIENT_ID
from lib import keycloak_extension
from providers.docker_client import REFRESH_IDLE_ATTRIBUTE, REFRESH_MAX_AGE_ATTRIBUTE
from providers.keycloak_resources import EXTENSION_ADMIN_PATH
from settings import ACCESS_ALLOW_ALL, ACCESS_CLIENT_ROLES, KEYCLOAK_VERSION
from settings.access import ROTATION_OVERLAP_SECONDS
from support.mock_program import container

SOURCES = keycloak_extension.SOURCE_DIR / "src" / "main" / "java" / "dev" / "keycloakregistry"


def java_constant(name: str, source: str = "access/RepositoryAccessMapper.java") -> str:
    return re.search(rf'{name}\s*=\s*"([^"]*)"', (SOURCES / source).read_text()).group(1)


def test_the_program_names_the_mapper_and_modes_the_jar_defines():
    assert java_constant("PROVIDER_ID") == keycloak_extension.MAPPER_ID
    assert java_constant("MODE") == keycloak_extension.MAPPER_MODE
    assert (java_constant("MODE_ALLOW_ALL"), java_constant("MODE_CLIENT_ROLES")) == \
        (ACCESS_ALLOW_ALL, ACCESS_CLIENT_ROLES)


def test_the_program_names_the_member_gate_and_its_setting_as_the_jar_defines():
    factory = "login/MemberGateAuthenticatorFactory.java"
    assert java_constant("PROVIDER_ID", factory) == keycloak_extension.MEMBER_GATE_ID
    assert java_constant("ROLE", factory) == keycloak_extension.MEMBER_GATE_ROLE


def test_the_program_names_the_docker_password_authenticator_as_the_jar_defines():
    factory = "login/DockerPasswordAuthenticatorFactory.java"
    assert java_constant("PROVIDER_ID", factory) == keycloak_extension.DOCKER_PASSWORD_ID


def test_the_program_names_the_rotation_resource_and_robot_data_as_the_jar_defines():
    assert java_constant("ID", "robots/PasswordRotationProviderFactory.java") == EXTENSION_ADMIN_PATH
    assert java_constant("EXPIRES_AT", "robots/RobotLifecycle.java") == "expires-at"
    rotation = "robots/PasswordRotationResource.java"
    assert int(re.search(r"MAX_OVERLAP_SECONDS = (\d+)L \* (\d+) \* (\d+)", (SOURCES / rotation).read_text())
               .group(1)) * 86400 == ROTATION_OVERLAP_SECONDS[1]


def test_the_program_names_the_token_endpoint_and_refresh_lifetimes_as_the_jar_defines():
    assert java_constant("ID", "tokens/RegistryTokenProviderFactory.java") == keycloak_extension.TOKEN_ENDPOINT
    policy = "tokens/RefreshTokenPolicy.java"
    assert (java_constant("IDLE_ATTRIBUTE", policy), java_constant("MAX_AGE_ATTRIBUTE", policy)) == \
        (REFRESH_IDLE_ATTRIBUTE, REFRESH_MAX_AGE_ATTRIBUTE)


def test_the_extension_builds_against_the_keycloak_the_program_deploys():
    pom = (keycloak_extension.SOURCE_DIR / "pom.xml").read_text()
    assert re.search(r"<keycloak.version>([^<]+)</keycloak.version>", pom).group(1) == KEYCLOAK_VERSION


def test_the_committed_jar_registers_the_mapper_with_keycloak():
    with zipfile.ZipFile(keycloak_extension.JAR) as jar:
        services = jar.read("META-INF/services/org.keycloak.protocol.ProtocolMapper").decode().split()
        assert services == ["dev.keycloakregistry.access.RepositoryAccessMapper"]
        assert "dev/keycloakregistry/access/AccessPolicy.class" in jar.namelist()
        authenticators = jar.read("META-INF/services/org.keycloak.authentication.AuthenticatorFactory").decode().split()
        assert authenticators == ["dev.keycloakregistry.login.MemberGateAuthenticatorFactory",
                                  "dev.keycloakregistry.login.DockerPasswordAuthenticatorFactory"]
        admin = jar.read("META-INF/services/org.keycloak.services.resources.admin.ext."
                         "AdminRealmResourceProviderFactory").decode().split()
        assert admin == ["dev.keycloakregistry.robots.PasswordRotationProviderFactory"]


def test_keycloak_mounts_the_jar_from_a_config_map_and_rolls_when_it_changes(dev_run):
    config_map = dev_run.one("kubernetes:core/v1:ConfigMap", "keycloak-extensions").inputs
    shipped = base64.b64decode(config_map["binaryData"][keycloak_extension.JAR_NAME])
    assert shipped == keycloak_extension.JAR.read_bytes()
    deployment = dev_run.one("kubernetes:apps/v1:Deployment", "keycloak")
    template = deployment.inputs["spec"]["template"]
    assert template["metadata"]["annotations"]["checksum/extension"] == hashlib.sha256(shipped).hexdigest()
    assert template["spec"]["volumes"] == [{"name": "extensions", "configMap": {"name": "keycloak-extensions"}}]
    assert container(deployment)["volumeMounts"] == [{
        "name": "extensions", "mountPath": "/opt/keycloak/providers/keycloak-registry-extension.jar",
        "subPath": "keycloak-registry-extension.jar", "readOnly": True}]
    assert dev_run.by_urn(next(u for u in deployment.dependencies if "ConfigMap" in u)).name == "keycloak-extensions"


def test_the_app_password_client_and_path_are_the_ones_the_extension_serves():
    assert java_constant("SELF_SERVICE_CLIENT_ID", "apppasswords/AppPasswordsResource.java") == SELF_SERVICE_CLIENT_ID
    assert java_constant("ID", "apppasswords/AppPasswordsProviderFactory.java") == APP_PASSWORDS_PATH
