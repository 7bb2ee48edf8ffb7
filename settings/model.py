"""The validated settings tree components take: one frozen dataclass per concern, and the resource profiles."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional
from urllib.parse import urlsplit

from .access import ACCESS_ALLOW_ALL, ACCESS_CLIENT_ROLES, DEFAULT_GRANTS, GroupRule, RepositoryGrant, Robot, Team
from .keys import DATABASE_IMAGES, KEYCLOAK_IMAGE, REGISTRY_IMAGE, registry_line


@dataclass(frozen=True)
class Resources:
    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str


# Workload sizes per profile: (database, keycloak, registry). Keycloak follows its sizing guide: a request of
# 1250 MB holds realm caches and 10,000 sessions; it puts 70% of the limit into heap plus ~300 MB off-heap, so
# limit = (request - 300 MB) / 0.7. (Measured here: 499 MB peak RSS for a lightly used Keycloak 26.7.3, 588 MB
# under 32 clients; registry 3.x 66 MB peak under the same load, so small requests 96 MiB, not 64.)
RESOURCE_PROFILES: dict[str, tuple[Resources, Resources, Resources]] = {
    "small": (
        Resources("100m", "384Mi", "1", "768Mi"),
        Resources("250m", "1250Mi", "2", "1357Mi"),
        Resources("50m", "96Mi", "500m", "256Mi"),
    ),
    "medium": (
        Resources("250m", "1Gi", "2", "2Gi"),
        Resources("500m", "1536Mi", "2", "1766Mi"),
        Resources("100m", "128Mi", "1", "512Mi"),
    ),
    "large": (
        Resources("1", "2Gi", "4", "4Gi"),
        Resources("1", "2Gi", "4", "2497Mi"),
        Resources("250m", "256Mi", "2", "1Gi"),
    ),
}


@dataclass(frozen=True)
class Exposure:
    """How a workload is reached: its Service type and, optionally, an Ingress for the public URL's host."""

    public_url: str
    service_type: str
    node_port: int
    ingress: bool
    ingress_class: str
    cluster_issuer: str

    @property
    def host(self) -> str:
        return urlsplit(self.public_url).netloc

    @property
    def hostname(self) -> str:
        return urlsplit(self.public_url).hostname or ""

    @property
    def tls(self) -> bool:
        return urlsplit(self.public_url).scheme == "https"


@dataclass(frozen=True)
class DatabaseBackup:
    """Scheduled dumps to a volume of their own, the newest ``retention`` kept."""

    schedule: str  # cron, UTC
    retention: int
    storage_size: str
    storage_class: str
    s3_prefix: str = ""  # s3://bucket/prefix: every dump copied there too, and restored from there
    s3_client_image: str = ""
    s3_endpoint: str = ""  # the S3 server, region and keys are the stack's s3* keys
    s3_region: str = ""
    s3_access_key: str = field(default="", repr=False)  # empty: the node's or pod's own AWS identity
    s3_secret_key: str = field(default="", repr=False)

    @property
    def s3_bucket(self) -> str:
        return self.s3_prefix.removeprefix("s3://").split("/", 1)[0]


@dataclass(frozen=True)
class DatabaseSettings:
    engine: str
    version: str
    storage_size: str
    storage_class: str
    resources: Resources
    name: str = "keycloak"
    user: str = "keycloak"
    port: int = 3306
    backup: Optional[DatabaseBackup] = None  # None: no backups

    @property
    def image(self) -> str:
        return f"{DATABASE_IMAGES[self.engine]}:{self.version}"


@dataclass(frozen=True)
class KeycloakSettings:
    version: str
    exposure: Exposure
    admin_url: str
    admin_username: str
    admin_password: str  # empty = generated
    resources: Resources
    replicas: int = 1  # more than one: a cluster (distributed caches, jdbc-ping discovery)
    admin_ca_certificate: str = ""  # PEM; empty = the system's CAs
    log_level: str = ""  # KC_LOG_LEVEL; empty = Keycloak's default

    @property
    def image(self) -> str:
        return f"{KEYCLOAK_IMAGE}:{self.version}"

    @property
    def clustered(self) -> bool:
        """More than one replica: distributed caches, a disruption budget, a spread over nodes."""
        return self.replicas > 1

    @property
    def public_url(self) -> str:
        return self.exposure.public_url


@dataclass(frozen=True)
class BruteForce:
    """Keycloak's brute-force detection of the realm (temporary locks only: a permanent one needs an admin)."""

    enabled: bool
    max_login_failures: int
    wait_increment_seconds: int
    max_wait_seconds: int
    failure_reset_seconds: int
    quick_login_check_milliseconds: int
    minimum_quick_login_wait_seconds: int

    def realm_attributes(self) -> dict[str, Any]:
        """As the admin API names them."""
        return {"bruteForceProtected": self.enabled, "permanentLockout": False,
                "failureFactor": self.max_login_failures, "waitIncrementSeconds": self.wait_increment_seconds,
                "maxFailureWaitSeconds": self.max_wait_seconds, "maxDeltaTimeSeconds": self.failure_reset_seconds,
                "quickLoginCheckMilliSeconds": self.quick_login_check_milliseconds,
                "minimumQuickLoginWaitSeconds": self.minimum_quick_login_wait_seconds}


@dataclass(frozen=True)
class DirectorySettings:
    """LDAP/AD federation: the directory's users log in with their directory password, read-only and never cached, so
    a change in the directory counts at the next login. ``group_teams`` maps directory groups (by cn) to the team or
    group whose access their members, nested ones included, get; members of no mapped group cannot log in."""

    url: str
    bind_dn: str
    bind_credential: str
    users_dn: str
    groups_dn: str
    vendor: str  # other | ad
    group_teams: tuple[tuple[str, str], ...]  # (directory group cn, team or group)
    ca_certificate: str = ""

    @property
    def active_directory(self) -> bool:
        return self.vendor == "ad"

    @property
    def username_attribute(self) -> str:
        return "sAMAccountName" if self.active_directory else "uid"

    @property
    def rdn_attribute(self) -> str:
        return "cn" if self.active_directory else "uid"

    @property
    def uuid_attribute(self) -> str:
        return "objectGUID" if self.active_directory else "entryUUID"

    @property
    def user_object_classes(self) -> tuple[str, ...]:
        return ("person", "organizationalPerson", "user") if self.active_directory else \
            ("inetOrgPerson", "organizationalPerson")

    @property
    def membership_strategy(self) -> str:
        """How Keycloak finds a user's groups, nested ones included: AD answers a recursive member query; OpenLDAP
        computes memberOf (dynlist's nested mode) and answers only direct member queries."""
        return "LOAD_GROUPS_BY_MEMBER_ATTRIBUTE_RECURSIVELY" if self.active_directory else \
            "GET_GROUPS_FROM_USER_MEMBEROF_ATTRIBUTE"


@dataclass(frozen=True)
class SingleSignOnSettings:
    """The company's OpenID Connect provider as an identity provider of the realm. Its users sign in to Keycloak
    through it and mint app passwords for `docker login` (they have no Keycloak password); ``group_teams`` maps
    values of their ``groups_claim`` to the team or group whose access they get, re-read at every sign-in."""

    issuer: str
    authorization_url: str
    token_url: str
    jwks_url: str
    client_id: str
    client_secret: str
    display_name: str
    groups_claim: str
    group_teams: tuple[tuple[str, str], ...]  # (provider group, team or group)


@dataclass(frozen=True)
class RefreshTokens:
    """Refresh (identity) tokens of the registry's token endpoint; the extension reads them off the docker client."""

    enabled: bool
    idle_seconds: int
    max_age_seconds: int

    @property
    def client_lifetimes(self) -> tuple[int, int]:
        """(idle, max age) as the docker client carries them: (0, 0) turns refresh tokens off."""
        return (self.idle_seconds, self.max_age_seconds) if self.enabled else (0, 0)


DEFAULT_REFRESH_TOKENS = RefreshTokens(True, 604800, 2592000)


@dataclass(frozen=True)
class RealmSettings:
    name: str
    client_id: str
    group: str
    restrict_to_group: bool
    users: tuple[str, ...]
    user_passwords: Mapping[str, str]  # given passwords; the rest are generated
    token_lifespan_seconds: int
    default_access: str  # all | pull | none: what every member of the group may do beyond the rules
    brute_force: BruteForce
    teams: tuple[Team, ...] = ()
    repository_access: tuple[GroupRule, ...] = ()
    robots: tuple[Robot, ...] = ()
    directory: Optional[DirectorySettings] = None
    sso: Optional[SingleSignOnSettings] = None
    refresh_tokens: RefreshTokens = DEFAULT_REFRESH_TOKENS

    @property
    def access_role(self) -> str:
        """Realm role the group carries; the docker flow denies users without it."""
        return f"{self.group}-access"

    @property
    def access_mode(self) -> str:
        """allow-all only when the group may do everything and nothing else is declared."""
        if self.default_access == "all" and not self.repository_access and not self.robots:
            return ACCESS_ALLOW_ALL
        return ACCESS_CLIENT_ROLES

    @property
    def default_grant(self) -> Optional[RepositoryGrant]:
        """The group's implicit rule stated by defaultAccess; None for none."""
        return DEFAULT_GRANTS[self.default_access]

    @property
    def group_rules(self) -> tuple[GroupRule, ...]:
        """The rules Keycloak gets in client-roles mode: the group's implicit rule first, then the declared ones."""
        if self.access_mode == ACCESS_ALLOW_ALL:
            return ()
        implicit = (GroupRule(self.group, self.default_grant),) if self.default_grant else ()
        return implicit + self.repository_access

    def access_summary(self) -> dict[str, Any]:
        """Who may do what, as Keycloak enforces it: a stack output for audits and for other stacks."""
        return {"mode": self.access_mode, "defaultAccess": self.default_access,
                "groups": [{"group": rule.group, **rule.grant.summary()} for rule in self.group_rules],
                "robots": [robot.summary() for robot in self.robots],
                "teams": {team.name: list(team.members) for team in self.teams}}


@dataclass(frozen=True)
class S3Storage:
    bucket: str
    region: str
    endpoint: str
    access_key: str
    secret_key: str
    redirect: bool = False  # presigned URLs to the bucket for downloads


@dataclass(frozen=True)
class RegistrySettings:
    version: str
    exposure: Exposure
    replicas: int
    storage: str  # filesystem | s3
    storage_size: str
    storage_class: str
    s3: Optional[S3Storage]
    ingress_max_body_size: str
    resources: Resources
    garbage_collection: str = ""  # cron schedule of the maintenance CronJob (UTC); empty = never
    kubectl_image: str = ""  # sh and kubectl, for that CronJob

    @property
    def image(self) -> str:
        return f"{REGISTRY_IMAGE}:{self.version}"

    @property
    def line(self) -> str:
        """The release line, "3" or "2.8" (see registry_config)."""
        return registry_line(self.version)

    @property
    def replicated(self) -> bool:
        """More than one pod: they share the S3 bucket and the http secret, and a disruption budget keeps one."""
        return self.replicas > 1

    @property
    def host(self) -> str:
        return self.exposure.host

    @property
    def public_url(self) -> str:
        return self.exposure.public_url


@dataclass(frozen=True)
class Settings:
    namespace: str
    render_dir: str
    database: DatabaseSettings
    keycloak: KeycloakSettings
    realm: RealmSettings
    registry: RegistrySettings
    allow_volume_replacement: bool = False  # whether a change may replace (and so empty) a data volume
    service_monitor: bool = False  # Prometheus Operator objects: metrics Services, ServiceMonitors, PrometheusRule

