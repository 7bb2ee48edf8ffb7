"""The one place where stack configuration is read and validated.

The keys are declared once, in Pulumi.yaml (``keys``); ``parse_settings`` (``parse``) turns raw values into the frozen
``Settings`` tree (``model``, ``access``) or raises one ``SettingsError`` listing every problem, before any resource is
registered; ``pulumi_config`` reads the running stack. Components take ``Settings`` and never read config.
"""

from .access import (
    ACCESS_ALLOW_ALL,
    ACCESS_CLIENT_ROLES,
    DEFAULT_GRANTS,
    EVERYTHING,
    GroupRule,
    RepositoryGrant,
    Robot,
    Team,
)
from .keys import (
    CONFIG_KEYS,
    DATABASE_IMAGES,
    DATABASE_VERSIONS,
    KEYCLOAK_IMAGE,
    KEYCLOAK_VERSION,
    KEYS_BY_NAME,
    PROJECT,
    REGISTRY_IMAGE,
    REGISTRY_LEGACY_VERSION,
    REGISTRY_VERSION,
    REMOVED_KEYS,
    SUPPORTED_DATABASE_LINES,
    TOKEN_LIFESPAN,
    ConfigKey,
    other_registry_line,
    registry_line,
)
from .model import (
    RESOURCE_PROFILES,
    BruteForce,
    DatabaseBackup,
    DatabaseSettings,
    DirectorySettings,
    Exposure,
    KeycloakSettings,
    RealmSettings,
    RegistrySettings,
    Resources,
    S3Storage,
    Settings,
    SingleSignOnSettings,
)
from .parse import MIN_PASSWORD_LENGTH, SettingsError, parse_settings
from .pulumi_config import load_settings, settings_from_pulumi, stack_file_values

__all__ = [
    "ACCESS_ALLOW_ALL", "ACCESS_CLIENT_ROLES", "BruteForce", "CONFIG_KEYS", "DATABASE_IMAGES", "DATABASE_VERSIONS",
    "DEFAULT_GRANTS", "EVERYTHING", "KEYCLOAK_IMAGE", "KEYCLOAK_VERSION", "KEYS_BY_NAME", "MIN_PASSWORD_LENGTH",
    "PROJECT",
    "REGISTRY_IMAGE", "REGISTRY_LEGACY_VERSION", "REGISTRY_VERSION", "REMOVED_KEYS", "RESOURCE_PROFILES",
    "SUPPORTED_DATABASE_LINES", "TOKEN_LIFESPAN", "ConfigKey", "DatabaseBackup", "DatabaseSettings",
    "DirectorySettings", "Exposure", "SingleSignOnSettings",
    "GroupRule",
    "KeycloakSettings", "RealmSettings", "RegistrySettings", "RepositoryGrant", "Resources", "Robot", "S3Storage",
    "Settings", "SettingsError", "Team", "load_settings", "other_registry_line", "registry_line", "parse_settings",
    "settings_from_pulumi", "stack_file_values",
]
