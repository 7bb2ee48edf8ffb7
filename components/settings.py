"""The one place where stack configuration is read and validated.

Every config key is declared once in ``CONFIG_KEYS`` (type, default, description); ``parse_settings``
turns raw values into a frozen ``Settings`` tree or raises one ``SettingsError`` that lists every
problem, before any resource is registered. Components take ``Settings`` and never read config.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional
from urllib.parse import urlsplit

from cryptography import x509

PROJECT = "keycloak-registry"

# Pinned images. The integration tests install the same versions as local processes.
KEYCLOAK_VERSION = "26.7.3"
REGISTRY_VERSION = "3.1.2"
REGISTRY_LEGACY_VERSION = "2.8.3"
DATABASE_VERSIONS = {"mysql": "8.4.7", "mariadb": "11.4.8"}
# Server lines Keycloak 26 supports (keycloak.org "Configuring the database").
SUPPORTED_DATABASE_LINES = {"mysql": ("8.0", "8.4"), "mariadb": ("10.6", "10.11", "11.4", "11.8")}
DATABASE_IMAGES = {"mysql": "docker.io/library/mysql", "mariadb": "docker.io/library/mariadb"}
KEYCLOAK_IMAGE = "quay.io/keycloak/keycloak"
REGISTRY_IMAGE = "docker.io/library/registry"
# Bounds of tokenLifespanSeconds (the key's description says why).
TOKEN_LIFESPAN = (60, 3600)


class SettingsError(ValueError):
    """Invalid stack configuration; the message lists every offending key, its value (hidden for secret and
    unknown keys) and the expected form."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid stack configuration:\n  - " + "\n  - ".join(problems))


@dataclass(frozen=True)
class ConfigKey:
    name: str
    type: str  # string | integer | boolean | array (the Pulumi.yaml config types)
    default: Any
    description: str
    secret: bool = False
    items: str = "string"  # element type of an array key: string or object


CONFIG_KEYS: tuple[ConfigKey, ...] = (
    ConfigKey("namespace", "string", "registry", "Kubernetes namespace that holds every object."),
    ConfigKey("kubernetesRenderDir", "string", "", "Write manifests to this directory instead of applying them: no cluster and no Keycloak needed, so no realm, certificates or registry Deployment (see Rendering manifests); empty = apply to the kubeconfig's cluster."),
    ConfigKey("resourceProfile", "string", "small", "Requests/limits for all workloads: small, medium or large."),
    ConfigKey("databaseEngine", "string", "mysql", "Keycloak's database server: mysql or mariadb."),
    ConfigKey("databaseVersion", "string", "", "Database image tag; empty = the pinned version of the engine."),
    ConfigKey("databaseStorageSize", "string", "5Gi", "Size of the database volume (Kubernetes quantity)."),
    ConfigKey("databaseStorageClass", "string", "", "StorageClass of the database PVC; empty = the cluster's default (kind: local-path, minikube: hostpath; both provision directories the database can write)."),
    ConfigKey("keycloakVersion", "string", KEYCLOAK_VERSION, "Keycloak 26.x image tag."),
    ConfigKey("keycloakPublicUrl", "string", "", "Keycloak's public base URL (KC_HOSTNAME); token issuer and realm derive from it. Required."),
    ConfigKey("keycloakAdminUrl", "string", "", "URL Pulumi uses for Keycloak's admin API; empty = keycloakPublicUrl."),
    ConfigKey("keycloakAdminCaCertificate", "string", "", "PEM CA bundle Pulumi trusts for the admin URL (https signed by a private or staging CA, e.g. letsencrypt-staging); empty = the system's CAs."),
    ConfigKey("keycloakAdminUsername", "string", "registry-admin", "Bootstrap admin user of the master realm."),
    ConfigKey("keycloakAdminPassword", "string", "", "Bootstrap admin password (set with --secret); empty = generated.", secret=True),
    ConfigKey("keycloakServiceType", "string", "ClusterIP", "Keycloak Service type: ClusterIP or NodePort."),
    ConfigKey("keycloakNodePort", "integer", 30080, "Node port of Keycloak when keycloakServiceType is NodePort."),
    ConfigKey("keycloakIngress", "boolean", False, "Expose Keycloak through an Ingress for the host of keycloakPublicUrl (TLS when https)."),
    ConfigKey("realm", "string", "registry", "Keycloak realm holding the registry client, group and users (never master)."),
    ConfigKey("clientId", "string", "registry", "docker-v2 client id; also the registry's token service."),
    ConfigKey("group", "string", "registry-users", "Group whose members may obtain registry tokens."),
    ConfigKey("restrictToGroup", "boolean", True, "Deny registry tokens to realm users outside the group."),
    ConfigKey("users", "array", ["developer"], "Usernames created in the realm and added to the group."),
    ConfigKey("teams", "array", [], "Groups inside group, each {name, members}; members come from users. repositoryAccess rules name them.", items="object"),
    ConfigKey("repositoryAccess", "array", [], "Per-repository rules, each {group, repositories: [glob], actions: "
              "[pull, push, delete or *], catalog: bool}; what members of group may do beyond them is defaultAccess "
              "(see Repository access).", items="object"),
    ConfigKey("defaultAccess", "string", "", "What every member of group (teams included) may do on repositories "
              "beyond the repositoryAccess rules: all, pull or none. Required, so access is never inferred from an "
              "absent key; all = the behaviour without rules."),
    ConfigKey("robots", "array", [], "Non-human accounts, each {name, repositories: [glob], actions: [...], catalog: bool}, with generated passwords (output robotPasswords).", items="object"),
    ConfigKey("userPasswords", "string", "", "Secret JSON object username -> password; users not listed get generated passwords.", secret=True),
    ConfigKey("tokenLifespanSeconds", "integer", 300, "Lifetime of registry tokens (realm access-token lifespan), "
              "60 to 3600: a token is a bearer credential that cannot be revoked before it expires, and docker "
              "clients fetch a new one for every operation, so a short one costs nothing; 3600 covers slow pushes, "
              "60 outlives one request."),
    ConfigKey("registryVersion", "string", REGISTRY_VERSION, f"Registry image tag: the 3.x line or 2.8.x (e.g. {REGISTRY_LEGACY_VERSION})."),
    ConfigKey("registryPublicUrl", "string", "", "URL clients use for the registry, e.g. https://registry.example.com. Required."),
    ConfigKey("registryServiceType", "string", "ClusterIP", "Registry Service type: ClusterIP or NodePort."),
    ConfigKey("registryNodePort", "integer", 30500, "Node port of the registry when registryServiceType is NodePort."),
    ConfigKey("registryIngress", "boolean", False, "Expose the registry through an Ingress for the host of registryPublicUrl (TLS when https)."),
    ConfigKey("registryReplicas", "integer", 1, "Registry pods; more than one needs registryStorage s3."),
    ConfigKey("registryStorage", "string", "filesystem", "Blob storage: filesystem (PVC) or s3."),
    ConfigKey("registryStorageSize", "string", "20Gi", "Size of the registry PVC (filesystem storage)."),
    ConfigKey("registryStorageClass", "string", "", "StorageClass of the registry PVC; empty = cluster default."),
    ConfigKey("allowVolumeReplacement", "boolean", False, "true lets a change that replaces the database or "
              "registry claim (storage class, namespace, databaseEngine) go ahead — their data is deleted; leave "
              "false except for a planned migration (see Storage)."),
    ConfigKey("s3Bucket", "string", "", "S3 bucket (registryStorage s3)."),
    ConfigKey("s3Region", "string", "us-east-1", "S3 region (registryStorage s3)."),
    ConfigKey("s3Endpoint", "string", "", "S3-compatible endpoint URL; empty = AWS."),
    ConfigKey("s3AccessKey", "string", "", "S3 access key (set with --secret); empty = the node's IAM role.", secret=True),
    ConfigKey("s3SecretKey", "string", "", "S3 secret key (set with --secret).", secret=True),
    ConfigKey("ingressClass", "string", "nginx", "IngressClass of both Ingresses."),
    ConfigKey("ingressMaxBodySize", "string", "0", "Request body limit of the registry Ingress (nginx proxy-body-size); 0 = unlimited, fit for image layers."),
    ConfigKey("clusterIssuer", "string", "", "cert-manager ClusterIssuer for the Ingress TLS certificates; empty = bring your own TLS Secrets."),
)
KEYS_BY_NAME = {key.name: key for key in CONFIG_KEYS}
# Keys that once existed: a stack that still sets one is told what replaced it, not just "no such key".
REMOVED_KEYS = {
    "databaseHostPath": "no databaseHostPath: the key was removed because a hostPath volume is not writable by the "
                        "database user (uid 999); run `pulumi config rm databaseHostPath` and leave databaseStorageClass "
                        "empty for the cluster's default StorageClass (kind: local-path, minikube: its hostpath "
                        "provisioner) or set it to another StorageClass",
}


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
class DatabaseSettings:
    engine: str
    version: str
    storage_size: str
    storage_class: str
    resources: Resources
    name: str = "keycloak"
    user: str = "keycloak"
    port: int = 3306

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
    admin_ca_certificate: str = ""  # PEM; empty = the system's CAs

    @property
    def image(self) -> str:
        return f"{KEYCLOAK_IMAGE}:{self.version}"

    @property
    def public_url(self) -> str:
        return self.exposure.public_url


@dataclass(frozen=True)
class RepositoryGrant:
    """What one rule allows: ``actions`` on repositories matching any of the globs (``*`` spans slashes), and
    ``registry:catalog:*`` when ``catalog``. Keycloak keeps it as attributes of a client role."""

    repositories: tuple[str, ...]
    actions: tuple[str, ...]
    catalog: bool = False

    def role_attributes(self) -> dict[str, str]:
        """The role attributes the extension's mapper reads: one comma-separated value each. Not multi-valued:
        Keycloak returns the values of one attribute in no fixed order, so every refresh would propose an update."""
        attributes = {"repositories": ",".join(self.repositories), "actions": ",".join(self.actions),
                      "catalog": "true" if self.catalog else ""}
        return {key: value for key, value in attributes.items() if value}

    def summary(self) -> dict[str, Any]:
        return {"repositories": list(self.repositories), "actions": list(self.actions), "catalog": self.catalog}


@dataclass(frozen=True)
class GroupRule:
    group: str
    grant: RepositoryGrant


@dataclass(frozen=True)
class Team:
    """A group inside the registry group: its members may log in, and rules may name it."""

    name: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class Robot:
    """A non-human account (CI): a realm user outside every group, with its own grant and a generated password."""

    name: str
    grant: RepositoryGrant


# The extension's mapper modes: every requested scope, or what the user's client roles allow.
ACCESS_ALLOW_ALL = "allow-all"
ACCESS_CLIENT_ROLES = "client-roles"
EVERYTHING = RepositoryGrant(("*",), ("*",), catalog=True)
# defaultAccess: what every member of the group may do beyond the rules.
DEFAULT_GRANTS: dict[str, Optional[RepositoryGrant]] = {
    "all": EVERYTHING, "pull": RepositoryGrant(("*",), ("pull",), catalog=True), "none": None}


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
    teams: tuple[Team, ...] = ()
    repository_access: tuple[GroupRule, ...] = ()
    robots: tuple[Robot, ...] = ()

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
                "robots": [{"robot": robot.name, **robot.grant.summary()} for robot in self.robots],
                "teams": {team.name: list(team.members) for team in self.teams}}


@dataclass(frozen=True)
class S3Storage:
    bucket: str
    region: str
    endpoint: str
    access_key: str
    secret_key: str


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

    @property
    def image(self) -> str:
        return f"{REGISTRY_IMAGE}:{self.version}"

    @property
    def line(self) -> str:
        """The release line, "3" or "2.8": they match token signing keys differently (see registry_config)."""
        return "2.8" if self.version.startswith("2.8.") else "3"

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


# --- parsing -------------------------------------------------------------------------------------

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,254}$")
CLIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
REALM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,35}$")
QUANTITY = re.compile(r"^([0-9]+(\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$")
BODY_SIZE = re.compile(r"^[0-9]+[kKmMgG]?$")
SEMVER = re.compile(r"^([0-9]+)\.([0-9]+)\.([0-9]+)$")
SERVICE_TYPES = ("ClusterIP", "NodePort")
ACTIONS = ("pull", "push", "delete", "*")
ROLE_ATTRIBUTE_LENGTH = 255  # Keycloak's limit for one attribute value: a rule's repositories, comma-joined
# A repository name (lower-case path components) in which * and ? may stand for characters.
REPOSITORY_GLOB = re.compile(r"^(?!/)(?!.*//)[a-z0-9._/*?-]{1,255}(?<!/)$")
MIN_PASSWORD_LENGTH = 12
URL_FORM = "an http(s) base URL without path, e.g. https://auth.example.com"
# Up to the last @: a password may hold unencoded / ? or #, and a base URL needs no @ anywhere.
USERINFO = re.compile(r"^([^/]*//)?.*@")
DEFAULT_ACCESS = tuple(DEFAULT_GRANTS)


class _Problems:
    """Collects every problem so the user sees them all at once. Never shows a value given as a secret or
    declared secret: the engine masks a secret's plain form in output, not its JSON-escaped form."""

    def __init__(self, secret_keys: frozenset[str]) -> None:
        self.items: list[str] = []
        self.secret_keys = secret_keys

    def add(self, key: str, value: Any, expected: str) -> None:
        hidden = key in self.secret_keys or key in KEYS_BY_NAME and KEYS_BY_NAME[key].secret
        self.items.append(f"{PROJECT}:{key} = {'<secret>' if hidden else json.dumps(value)}: expected {expected}")

    def unknown(self, key: str) -> None:
        """A key no one declared: perhaps a misspelled secret, so its value is never shown."""
        close = difflib.get_close_matches(key, KEYS_BY_NAME, n=1)
        advice = REMOVED_KEYS.get(key) or (f"no such key; did you mean {close[0]}?" if close else
                                           "no such key; known keys are listed in Pulumi.yaml")
        self.items.append(f"{PROJECT}:{key} = (value hidden): {advice}")


def _convert(key: ConfigKey, raw: Optional[str], problems: _Problems) -> Any:
    if raw is None:
        return key.default
    try:
        if key.type == "integer":
            return int(raw)
        if key.type == "boolean":
            if raw.lower() not in ("true", "false"):
                raise ValueError
            return raw.lower() == "true"
        if key.type == "array":
            value = json.loads(raw)
            if not isinstance(value, list):
                raise ValueError
            return value
        return raw
    except ValueError:
        forms = {"integer": "a whole number", "boolean": "true or false", "array": "a JSON/YAML list"}
        problems.add(key.name, raw, forms[key.type])
        return key.default


def _url(problems: _Problems, key: str, value: str, required: bool) -> str:
    if not value and not required:
        return ""
    faults = []
    try:
        parts = urlsplit(value)
    except ValueError:  # an unbalanced [ around an IPv6 host
        parts = urlsplit("")
    try:
        if parts.port == 0:  # .port raises for 99999 or a name, not for 0
            raise ValueError
    except ValueError:
        faults.append("a port between 1 and 65535")
    if "@" in value:
        faults.append("no user or password in it (credentials belong in secret keys)")
    if "#" in value:
        faults.append("no #fragment")
    if faults or parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") \
            or parts.query:
        problems.add(key, USERINFO.sub(r"\1***@", value), "; ".join([URL_FORM, *faults]))
    return value.rstrip("/")


def _version(problems: _Problems, key: str, value: str, lines: tuple[str, ...], form: str) -> str:
    match = SEMVER.match(value)
    if not match or f"{match.group(1)}.{match.group(2)}" not in lines and match.group(1) not in lines:
        problems.add(key, value, form)
    return value


def _within(problems: _Problems, key: str, value: int, bounds: tuple[int, int], unit: str) -> int:
    if not bounds[0] <= value <= bounds[1]:
        problems.add(key, value, f"between {bounds[0]} and {bounds[1]} {unit}")
    return value


def _positive(problems: _Problems, key: str, value: int) -> int:
    if value <= 0:
        problems.add(key, value, "a positive whole number")
    return value


def _quantity(problems: _Problems, key: str, value: str) -> str:
    match = QUANTITY.match(value)
    if not match or float(match.group(1)) <= 0:
        problems.add(key, value, "a positive Kubernetes quantity such as 5Gi")
    return value


def _choice(problems: _Problems, key: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        problems.add(key, value, "one of " + ", ".join(choices))
    return value


def _node_port(problems: _Problems, key: str, value: int) -> int:
    if not 30000 <= value <= 32767:
        problems.add(key, value, "a node port between 30000 and 32767")
    return value


def _users(problems: _Problems, value: list) -> tuple[str, ...]:
    if not value:
        problems.add("users", value, "at least one username")
    seen: set[str] = set()
    for name in value:
        if not isinstance(name, str) or not USERNAME.match(name):
            problems.add("users", value, f"lower-case usernames (letters, digits, . _ @ -); {json.dumps(name)} is not one")
        elif name in seen:
            problems.add("users", value, f"each username once; {name} is listed twice")
        seen.add(str(name))
    return tuple(str(name) for name in value)


def _user_passwords(problems: _Problems, raw: str, users: tuple[str, ...]) -> dict[str, str]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        problems.add("userPasswords", raw, 'a JSON object {"username": "password", ...}')
        return {}
    for name, password in value.items():
        if name not in users:
            problems.add("userPasswords", raw, f"only usernames listed in users; {name} is not")
        elif len(password) < MIN_PASSWORD_LENGTH:
            problems.add("userPasswords", raw, f"passwords of at least {MIN_PASSWORD_LENGTH} characters ({name}'s is shorter)")
    return value


def _entries(problems: _Problems, key: str, value: list, fields: dict[str, bool]) -> list[dict]:
    """The objects of an object-array key; ``fields`` maps each allowed field to whether it is required."""
    entries = []
    for entry in value:
        if not isinstance(entry, dict):
            problems.add(key, value, f"a list of objects with fields {', '.join(fields)}; {json.dumps(entry)} is not one")
            continue
        unknown = sorted(set(entry) - set(fields))
        missing = [name for name, required in fields.items() if required and name not in entry]
        if unknown or missing:
            problems.add(key, entry, f"fields {', '.join(fields)} ({'unknown: ' + ', '.join(unknown) if unknown else 'missing: ' + ', '.join(missing)})")
            continue
        entries.append(entry)
    return entries


def _grant(problems: _Problems, key: str, entry: dict) -> RepositoryGrant:
    """The repositories/actions/catalog fields of a rule or robot."""
    repositories, actions, catalog = entry.get("repositories", []), entry.get("actions", []), entry.get("catalog", False)
    if not isinstance(catalog, bool):
        problems.add(key, entry, "catalog: true or false")
    if not isinstance(repositories, list) or not all(isinstance(r, str) and REPOSITORY_GLOB.match(r) for r in repositories):
        problems.add(key, entry, "repositories: a list of repository globs such as team-a/* (lower-case letters, digits, . _ - /, "
                                 "with * and ?); empty patterns are not allowed")
        repositories = ["?"]  # reported; not "missing" as well
    elif not repositories and catalog is not True:
        problems.add(key, entry, "at least one repository glob in repositories (or catalog: true)")
    elif len(",".join(repositories)) > ROLE_ATTRIBUTE_LENGTH:
        problems.add(key, entry, f"repositories of at most {ROLE_ATTRIBUTE_LENGTH} characters in all (one Keycloak role "
                                 "attribute); split them into several rules")
    unknown = [a for a in actions if a not in ACTIONS] if isinstance(actions, list) else [actions]
    if unknown or (repositories and not actions):
        shown = f"; {json.dumps(unknown[0])} is not one" if unknown else ""
        problems.add(key, entry, f"actions: a non-empty list of {', '.join(ACTIONS)}{shown} (only a catalog-only rule may omit it)")
        actions = []
    return RepositoryGrant(tuple(repositories), tuple(dict.fromkeys(actions)), catalog is True)


def _teams(problems: _Problems, value: list, group: str, users: tuple[str, ...]) -> tuple[Team, ...]:
    teams: dict[str, Team] = {}
    for entry in _entries(problems, "teams", value, {"name": True, "members": True}):
        name, members = entry["name"], entry["members"]
        if not isinstance(name, str) or not DNS_LABEL.match(name) or name == group or name in teams:
            problems.add("teams", entry, f"a unique team name of lower-case letters, digits and - other than the group {group}")
            continue
        if not isinstance(members, list) or not all(m in users for m in members):
            problems.add("teams", entry, f"members: usernames listed in users ({', '.join(users)})")
            continue
        teams[name] = Team(name, tuple(members))
    return tuple(teams.values())


def _repository_access(problems: _Problems, value: list, groups: tuple[str, ...]) -> tuple[GroupRule, ...]:
    rules = []
    for entry in _entries(problems, "repositoryAccess", value,
                          {"group": True, "repositories": False, "actions": False, "catalog": False}):
        if entry["group"] not in groups:
            problems.add("repositoryAccess", entry, f"group: a declared group ({', '.join(groups)}); {json.dumps(entry['group'])} is not one")
        rules.append(GroupRule(str(entry["group"]), _grant(problems, "repositoryAccess", entry)))
    return tuple(rules)


def _robots(problems: _Problems, value: list, taken: tuple[str, ...]) -> tuple[Robot, ...]:
    robots: dict[str, Robot] = {}
    for entry in _entries(problems, "robots", value, {"name": True, "repositories": False, "actions": False, "catalog": False}):
        name = entry["name"]
        if not isinstance(name, str) or not USERNAME.match(name):
            problems.add("robots", entry, "name: a lower-case account name (letters, digits, . _ @ -)")
            continue
        if name in taken or name in robots:
            problems.add("robots", entry, f"a robot name used by no user, admin or other robot; {name} is taken")
            continue
        robots[name] = Robot(name, _grant(problems, "robots", entry))
    return tuple(robots.values())


def _ca_certificate(problems: _Problems, pem: str, admin_url: str) -> str:
    """A CA bundle is only meaningful for an https admin URL, and must hold at least one PEM certificate."""
    if not pem:
        return ""
    try:
        x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        problems.add("keycloakAdminCaCertificate", pem[:40] + "...", "one or more PEM certificates (-----BEGIN CERTIFICATE-----)")
        return pem
    if urlsplit(admin_url).scheme != "https":
        problems.add("keycloakAdminCaCertificate", pem[:40] + "...", f"empty while the admin URL ({admin_url}) is not https")
    return pem


def _exposure(problems: _Problems, prefix: str, values: Mapping[str, Any]) -> Exposure:
    url_key = f"{prefix}PublicUrl"
    exposure = Exposure(
        public_url=_url(problems, url_key, values[url_key], required=True),
        service_type=_choice(problems, f"{prefix}ServiceType", values[f"{prefix}ServiceType"], SERVICE_TYPES),
        node_port=_node_port(problems, f"{prefix}NodePort", values[f"{prefix}NodePort"]),
        ingress=values[f"{prefix}Ingress"],
        ingress_class=values["ingressClass"],
        cluster_issuer=values["clusterIssuer"],
    )
    return exposure


def parse_settings(raw: Mapping[str, str], secret_keys: frozenset[str] = frozenset()) -> Settings:
    """Turn raw config strings (key -> value, without the project prefix) into validated Settings.

    ``secret_keys`` names the keys stored as secrets; a secret key set in plain text is an error.
    """
    problems = _Problems(secret_keys)
    for name in sorted(set(raw) - set(KEYS_BY_NAME)):
        problems.unknown(name)
    for name in sorted(raw):
        key = KEYS_BY_NAME.get(name)
        if key and key.secret and raw[name] and name not in secret_keys:
            problems.items.append(f"{PROJECT}:{name} is set in plain text: expected a secret (pulumi config set --secret {name} ...)")
    values = {key.name: _convert(key, raw.get(key.name), problems) for key in CONFIG_KEYS}

    namespace = values["namespace"]
    if not DNS_LABEL.match(namespace):
        problems.add("namespace", namespace, "a DNS-1123 label (lower-case letters, digits, -; at most 63)")
    profile = _choice(problems, "resourceProfile", values["resourceProfile"], tuple(RESOURCE_PROFILES))
    db_resources, kc_resources, reg_resources = RESOURCE_PROFILES.get(profile, RESOURCE_PROFILES["small"])

    engine = _choice(problems, "databaseEngine", values["databaseEngine"], tuple(DATABASE_VERSIONS))
    db_version = values["databaseVersion"] or DATABASE_VERSIONS.get(engine, "")
    if engine in SUPPORTED_DATABASE_LINES:
        lines = SUPPORTED_DATABASE_LINES[engine]
        _version(problems, "databaseVersion", db_version, lines, f"an exact {engine} version of a line Keycloak supports ({', '.join(lines)}), e.g. {DATABASE_VERSIONS[engine]}")

    _version(problems, "keycloakVersion", values["keycloakVersion"], ("26",), f"a Keycloak 26.x.y version, e.g. {KEYCLOAK_VERSION}")
    _version(problems, "registryVersion", values["registryVersion"], ("2.8", "3"), f"a registry version of the 3.x line (e.g. {REGISTRY_VERSION}) or 2.8.x (e.g. {REGISTRY_LEGACY_VERSION})")

    realm = values["realm"]
    if not REALM.match(realm) or realm == "master":
        problems.add("realm", realm, "a realm name of letters, digits, _ and - other than master")
    client_id = values["clientId"]
    if not CLIENT_ID.match(client_id):
        problems.add("clientId", client_id, "a client id of letters, digits, . _ and -")
    group = values["group"]
    if not DNS_LABEL.match(group):
        problems.add("group", group, "a group name of lower-case letters, digits and -")
    admin_username = values["keycloakAdminUsername"]
    if not USERNAME.match(admin_username):
        problems.add("keycloakAdminUsername", admin_username, "a lower-case username")
    admin_password = values["keycloakAdminPassword"]
    if admin_password and len(admin_password) < MIN_PASSWORD_LENGTH:
        problems.add("keycloakAdminPassword", admin_password, f"at least {MIN_PASSWORD_LENGTH} characters, or empty to generate one")
    users = _users(problems, values["users"])
    if admin_username in users:
        problems.add("users", values["users"], f"realm users other than the master-realm admin {admin_username}")
    teams = _teams(problems, values["teams"], group, users)
    default_access = values["defaultAccess"]
    if default_access not in DEFAULT_ACCESS:
        problems.add("defaultAccess", default_access,
                     f"all, pull or none: what every member of {group} may do beyond the repositoryAccess rules "
                     "(all = today's behaviour without rules)")
    repository_access = _repository_access(problems, values["repositoryAccess"], (group, *(t.name for t in teams)))
    robots = _robots(problems, values["robots"], (*users, admin_username))

    storage = _choice(problems, "registryStorage", values["registryStorage"], ("filesystem", "s3"))
    replicas = _positive(problems, "registryReplicas", values["registryReplicas"])
    if storage == "filesystem" and replicas > 1:
        problems.add("registryReplicas", replicas, "1 with registryStorage filesystem (a ReadWriteOnce volume); use s3 for more replicas")
    s3 = None
    if storage == "s3":
        if not values["s3Bucket"]:
            problems.add("s3Bucket", "", "a bucket name when registryStorage is s3")
        if bool(values["s3AccessKey"]) != bool(values["s3SecretKey"]):
            problems.add("s3SecretKey" if values["s3AccessKey"] else "s3AccessKey", "", "s3AccessKey and s3SecretKey set together, or neither")
        s3 = S3Storage(values["s3Bucket"], values["s3Region"], _url(problems, "s3Endpoint", values["s3Endpoint"], required=False),
                       values["s3AccessKey"], values["s3SecretKey"])
    if not BODY_SIZE.match(values["ingressMaxBodySize"]):
        problems.add("ingressMaxBodySize", values["ingressMaxBodySize"], "an nginx size such as 0, 512m or 2g")

    keycloak_exposure = _exposure(problems, "keycloak", values)
    admin_url = _url(problems, "keycloakAdminUrl", values["keycloakAdminUrl"], required=False) or keycloak_exposure.public_url
    registry_exposure = _exposure(problems, "registry", values)
    if keycloak_exposure.service_type == "NodePort" and registry_exposure.service_type == "NodePort" \
            and keycloak_exposure.node_port == registry_exposure.node_port:
        problems.add("registryNodePort", registry_exposure.node_port, "a node port different from keycloakNodePort")

    settings = Settings(
        namespace=namespace,
        render_dir=values["kubernetesRenderDir"],
        database=DatabaseSettings(engine, db_version, _quantity(problems, "databaseStorageSize", values["databaseStorageSize"]),
                                  values["databaseStorageClass"], db_resources),
        keycloak=KeycloakSettings(values["keycloakVersion"], keycloak_exposure, admin_url,
                                  admin_username, admin_password, kc_resources,
                                  _ca_certificate(problems, values["keycloakAdminCaCertificate"], admin_url)),
        realm=RealmSettings(realm, client_id, group, values["restrictToGroup"], users,
                            _user_passwords(problems, values["userPasswords"], users),
                            _within(problems, "tokenLifespanSeconds", values["tokenLifespanSeconds"], TOKEN_LIFESPAN,
                                    "seconds"),
                            default_access, teams, repository_access, robots),
        registry=RegistrySettings(values["registryVersion"], registry_exposure, replicas, storage,
                                  _quantity(problems, "registryStorageSize", values["registryStorageSize"]),
                                  values["registryStorageClass"], s3, values["ingressMaxBodySize"], reg_resources),
        allow_volume_replacement=values["allowVolumeReplacement"],
    )
    if problems.items:
        raise SettingsError(problems.items)
    return settings


def load_settings(get_config: Callable[[str], Optional[str]], is_secret: Callable[[str], bool], present_keys: list[str]) -> Settings:
    """Read this project's keys through the given accessors (pulumi.runtime.config in the program)."""
    prefix = f"{PROJECT}:"
    raw = {}
    for full_key in present_keys:
        if full_key.startswith(prefix):
            value = get_config(full_key)
            if value is not None:
                raw[full_key[len(prefix):]] = value
    secrets = frozenset(name for name in raw if is_secret(prefix + name))
    return parse_settings(raw, secrets)


def stack_file_values(stack_config: Mapping[str, Any]) -> tuple[dict[str, str], frozenset[str]]:
    """A stack file's ``config:`` block as the CLI hands it to the program: strings, lists as JSON, secrets
    marked (their ciphertext stands in for the value, so only the shape is checked)."""
    prefix = f"{PROJECT}:"
    raw: dict[str, str] = {}
    secrets: set[str] = set()
    for full_key, value in (stack_config or {}).items():
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix):]
        if isinstance(value, dict) and "secure" in value:
            raw[key] = value["secure"]
            secrets.add(key)
        else:
            raw[key] = json.dumps(value) if isinstance(value, (list, dict)) else str(value).lower() if isinstance(value, bool) else str(value)
    return raw, frozenset(secrets)


def settings_from_pulumi() -> Settings:
    """Settings of the running stack."""
    from pulumi.runtime import config as runtime_config

    present = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    return load_settings(runtime_config.get_config, runtime_config.is_config_secret, sorted(present))
