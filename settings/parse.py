"""Raw config strings to ``Settings``: every problem found at once, raised as one ``SettingsError`` before any
resource is registered."""

from __future__ import annotations

import difflib
import json
import re
from datetime import date, datetime, timezone
from typing import Any, Mapping, Optional
from urllib.parse import urlsplit

from cryptography import x509

from .access import (
    DEFAULT_GRANTS,
    DEFAULT_ROTATION_OVERLAP_SECONDS,
    ROTATION_OVERLAP_SECONDS,
    GroupRule,
    RepositoryGrant,
    Robot,
    Team,
)
from .keys import (
    CONFIG_KEYS,
    DATABASE_VERSIONS,
    KEYCLOAK_VERSION,
    KEYS_BY_NAME,
    PROJECT,
    REFRESH_TOKEN_SECONDS,
    REGISTRY_LEGACY_VERSION,
    REGISTRY_VERSION,
    REMOVED_KEYS,
    SUPPORTED_DATABASE_LINES,
    TOKEN_LIFESPAN,
    ConfigKey,
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
    RefreshTokens,
    RegistrySettings,
    S3Storage,
    Settings,
    SingleSignOnSettings,
)


class SettingsError(ValueError):
    """Invalid stack configuration; the message lists every offending key, its value (hidden for secret and
    unknown keys) and the expected form."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid stack configuration:\n  - " + "\n  - ".join(problems))



DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,254}$")
CLIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
REALM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,35}$")
QUANTITY = re.compile(r"^([0-9]+(\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$")
BODY_SIZE = re.compile(r"^[0-9]+[kKmMgG]?$")
SEMVER = re.compile(r"^([0-9]+)\.([0-9]+)\.([0-9]+)$")
SERVICE_TYPES = ("ClusterIP", "NodePort")
# One item of KC_LOG_LEVEL: a level, or a logging category and its level (Keycloak's "Configuring logging").
LOG_LEVEL_ITEM = re.compile(r"^([A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*:)?(off|fatal|error|warn|info|debug|trace|all)$",
                            re.IGNORECASE)
ACTIONS = ("pull", "push", "delete", "*")
ROLE_ATTRIBUTE_LENGTH = 255  # Keycloak's limit for one attribute value: a rule's repositories, comma-joined
# A repository name (lower-case path components) in which * and ? may stand for characters.
REPOSITORY_GLOB = re.compile(r"^(?!/)(?!.*//)[a-z0-9._/*?-]{1,255}(?<!/)$")
# A distinguished name of at least one attribute=value (the directory checks the rest), and a group cn.
DN = re.compile(r"^[A-Za-z][A-Za-z0-9-]*=[^,=]+(,\s*[A-Za-z][A-Za-z0-9-]*=[^,=]+)*$")
LDAP_GROUP = re.compile(r"^[^,=+<>#;\\\"]{1,64}$")
MIN_PASSWORD_LENGTH = 12
URL_FORM = "an http(s) base URL without path, e.g. https://auth.example.com"
# Up to the last @: a password may hold unencoded / ? or #, and a base URL needs no @ anywhere.
USERINFO = re.compile(r"^([^/]*//)?.*@")
DEFAULT_ACCESS = tuple(DEFAULT_GRANTS)
# Keycloak's sizing guide tests clusters up to a handful of pods; more is a typo more likely than a plan.
KEYCLOAK_REPLICAS = (1, 10)
BACKUP_RETENTION = (1, 366)
S3_PREFIX = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9!_.*'()/-]+)?$")


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


def _refresh_tokens(problems: _Problems, values: dict) -> RefreshTokens:
    """Both lifetimes within bounds, the maximum age no shorter than the idle timeout (it would be the only limit)."""
    idle = _within(problems, "refreshTokenIdleSeconds", values["refreshTokenIdleSeconds"], REFRESH_TOKEN_SECONDS,
                   "seconds")
    max_age = _within(problems, "refreshTokenMaxAgeSeconds", values["refreshTokenMaxAgeSeconds"],
                      (max(idle, REFRESH_TOKEN_SECONDS[0]), REFRESH_TOKEN_SECONDS[1]),
                      "seconds (at least refreshTokenIdleSeconds)")
    return RefreshTokens(values["refreshTokens"], idle, max_age)


def _positive(problems: _Problems, key: str, value: int) -> int:
    if value <= 0:
        problems.add(key, value, "a positive whole number")
    return value


def _quantity(problems: _Problems, key: str, value: str) -> str:
    match = QUANTITY.match(value)
    if not match or float(match.group(1)) <= 0:
        problems.add(key, value, "a positive Kubernetes quantity such as 5Gi")
    return value


def _log_level(problems: _Problems, value: str) -> str:
    if value and not all(LOG_LEVEL_ITEM.match(item) for item in value.split(",")):
        problems.add("keycloakLogLevel", value, "comma-separated levels (off, fatal, error, warn, info, debug, trace, "
                                                "all), each alone or after a category and a colon, e.g. "
                                                "info,dev.keycloakregistry.access:debug")
    return value


def _choice(problems: _Problems, key: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        problems.add(key, value, "one of " + ", ".join(choices))
    return value


CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
# minute, hour, day of month, month, day of week: bounds, and the names the field also takes
CRON_FIELDS = (((0, 59), ()), ((0, 23), ()), ((1, 31), ()),
               ((1, 12), ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
               ((0, 7), ("sun", "mon", "tue", "wed", "thu", "fri", "sat")))
CRON_ITEM = re.compile(r"^(\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/([0-9]+))?$")


def _cron_field(text: str, bounds: tuple[int, int], names: tuple[str, ...]) -> bool:
    """One field of a 5-field schedule: comma-separated *, N, N-M or names, each with an optional /step."""
    def number(token: str) -> Optional[int]:
        if token in names:
            return names.index(token) + bounds[0]
        return int(token) if token.isdigit() and bounds[0] <= int(token) <= bounds[1] else None

    for item in text.lower().split(","):
        match = CRON_ITEM.match(item)
        if not match or (match.group(2) is not None and int(match.group(2)) == 0):
            return False
        if match.group(1) != "*":
            ends = [number(token) for token in match.group(1).split("-")]
            if None in ends or ends[0] > ends[-1]:
                return False
    return True


def _schedule(problems: _Problems, key: str, value: str) -> str:
    """A CronJob schedule (empty: none), checked here so a typo is not a CronJob the API server refuses mid-update."""
    fields = value.split()
    if value and not (value in CRON_MACROS or (len(fields) == 5 and all(
            _cron_field(field, *spec) for field, spec in zip(fields, CRON_FIELDS)))):
        problems.add(key, value, "a cron schedule of five fields (minute hour day-of-month month day-of-week, "
                                 "e.g. \"0 3 * * 0\") or @daily/@weekly/@monthly, or empty for never")
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
            problems.add("users", value,
                         f"lower-case usernames (letters, digits, . _ @ -); {json.dumps(name)} is not one")
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
            problems.add("userPasswords", raw,
                         f"passwords of at least {MIN_PASSWORD_LENGTH} characters ({name}'s is shorter)")
    return value


def _entries(problems: _Problems, key: str, value: list, fields: dict[str, bool]) -> list[dict]:
    """The objects of an object-array key; ``fields`` maps each allowed field to whether it is required."""
    entries = []
    for entry in value:
        if not isinstance(entry, dict):
            problems.add(key, value,
                         f"a list of objects with fields {', '.join(fields)}; {json.dumps(entry)} is not one")
            continue
        unknown = sorted(set(entry) - set(fields))
        missing = [name for name, required in fields.items() if required and name not in entry]
        if unknown or missing:
            found = "unknown: " + ", ".join(unknown) if unknown else "missing: " + ", ".join(missing)
            problems.add(key, entry, f"fields {', '.join(fields)} ({found})")
            continue
        entries.append(entry)
    return entries


def _grant(problems: _Problems, key: str, entry: dict) -> RepositoryGrant:
    """The repositories/actions/catalog fields of a rule or robot."""
    repositories, actions, catalog = (entry.get("repositories", []), entry.get("actions", []),
                                      entry.get("catalog", False))
    if not isinstance(catalog, bool):
        problems.add(key, entry, "catalog: true or false")
    if not isinstance(repositories, list) or not all(isinstance(r, str) and REPOSITORY_GLOB.match(r)
                                                     for r in repositories):
        problems.add(key, entry, "repositories: a list of repository globs such as team-a/* (lower-case letters, "
                                 "digits, . _ - /, with * and ?); empty patterns are not allowed")
        repositories = ["?"]  # reported; not "missing" as well
    elif not repositories and catalog is not True:
        problems.add(key, entry, "at least one repository glob in repositories (or catalog: true)")
    elif len(",".join(repositories)) > ROLE_ATTRIBUTE_LENGTH:
        problems.add(key, entry, f"repositories of at most {ROLE_ATTRIBUTE_LENGTH} characters in all (one Keycloak "
                                 "role attribute); split them into several rules")
    unknown = [a for a in actions if a not in ACTIONS] if isinstance(actions, list) else [actions]
    if unknown or (repositories and not actions):
        shown = f"; {json.dumps(unknown[0])} is not one" if unknown else ""
        problems.add(key, entry, f"actions: a non-empty list of {', '.join(ACTIONS)}{shown} "
                                 "(only a catalog-only rule may omit it)")
        actions = []
    return RepositoryGrant(tuple(repositories), tuple(dict.fromkeys(actions)), catalog is True)


def _teams(problems: _Problems, value: list, group: str, users: tuple[str, ...]) -> tuple[Team, ...]:
    teams: dict[str, Team] = {}
    for entry in _entries(problems, "teams", value, {"name": True, "members": True}):
        name, members = entry["name"], entry["members"]
        if not isinstance(name, str) or not DNS_LABEL.match(name) or name == group or name in teams:
            problems.add("teams", entry,
                         f"a unique team name of lower-case letters, digits and - other than the group {group}")
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
            problems.add("repositoryAccess", entry,
                         f"group: a declared group ({', '.join(groups)}); {json.dumps(entry['group'])} is not one")
        rules.append(GroupRule(str(entry["group"]), _grant(problems, "repositoryAccess", entry)))
    return tuple(rules)


def _robots(problems: _Problems, value: list, taken: tuple[str, ...]) -> tuple[Robot, ...]:
    robots: dict[str, Robot] = {}
    for entry in _entries(problems, "robots", value,
                          {"name": True, "repositories": False, "actions": False, "catalog": False,
                           "expiresAt": False, "rotation": False, "rotationOverlapSeconds": False}):
        name = entry["name"]
        if not isinstance(name, str) or not USERNAME.match(name):
            problems.add("robots", entry, "name: a lower-case account name (letters, digits, . _ @ -)")
            continue
        if name in taken or name in robots:
            problems.add("robots", entry, f"a robot name used by no user, admin or other robot; {name} is taken")
            continue
        rotation, overlap = entry.get("rotation", ""), entry.get("rotationOverlapSeconds",
                                                                    DEFAULT_ROTATION_OVERLAP_SECONDS)
        if isinstance(rotation, bool) or not isinstance(rotation, (str, int)) or len(str(rotation)) > 100:
            problems.add("robots", entry, "rotation: a string of at most 100 characters (change it to rotate)")
        if isinstance(overlap, bool) or not isinstance(overlap, int) or \
                not ROTATION_OVERLAP_SECONDS[0] <= overlap <= ROTATION_OVERLAP_SECONDS[1]:
            problems.add("robots", entry, f"rotationOverlapSeconds: whole seconds from {ROTATION_OVERLAP_SECONDS[0]} "
                                          f"to {ROTATION_OVERLAP_SECONDS[1]} (30 days)")
        robots[name] = Robot(name, _grant(problems, "robots", entry), _expires_at(problems, entry),
                             str(rotation), overlap if isinstance(overlap, int) else 0)
    return tuple(robots.values())


def _expires_at(problems: _Problems, entry: dict) -> Optional[datetime]:
    """A robot's expiresAt: an RFC 3339 time with its offset, or a date (00:00 UTC that day); in UTC."""
    value = entry.get("expiresAt")
    if value is None:
        return None
    try:
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), timezone.utc)
        parsed = datetime.fromisoformat(value) if isinstance(value, str) and "T" in value.upper() else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        problems.add("robots", entry, "expiresAt: an RFC 3339 time with its offset, e.g. 2027-03-31T18:00:00Z, "
                                      "or a date, e.g. 2027-03-31 (00:00 UTC)")
        return None
    return parsed.astimezone(timezone.utc)


def _group_teams(problems: _Problems, key: str, value: Any, groups: tuple[str, ...], pattern: re.Pattern,
                 what: str, whose: str) -> dict[str, str]:
    """A list of {group, team}: an outside group (``what``, matching ``pattern``, once each) -> a declared team or the
    group, at least one (``whose`` members in no mapped group cannot log in)."""
    mappings: dict[str, str] = {}
    for entry in _entries(problems, key, value, {"group": True, "team": True}):
        if not isinstance(entry["group"], str) or not pattern.match(entry["group"]) or entry["group"] in mappings:
            problems.add(key, entry, f"group: {what}, once")
        elif entry["team"] not in groups:
            problems.add(key, entry, f"team: a declared team or the group ({', '.join(groups)})")
        else:
            mappings[entry["group"]] = entry["team"]
    if not value:
        problems.add(key, [], f"at least one {{group, team}}: {whose} in no mapped group cannot log in")
    return mappings


LDAP_KEYS = ("ldapBindDn", "ldapBindCredential", "ldapUsersDn", "ldapGroupsDn", "ldapGroupTeams", "ldapCaCertificate")


def _directory(problems: _Problems, values: Mapping[str, Any], groups: tuple[str, ...]) -> Optional[DirectorySettings]:
    """The ldap* keys: all of them with ldapUrl, none without it."""
    url = values["ldapUrl"]
    if not url:
        for key in LDAP_KEYS:
            if values[key]:
                problems.add(key, "..." if key == "ldapBindCredential" else values[key], "empty unless ldapUrl is set")
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("ldap", "ldaps") or not parts.hostname or parts.path not in ("", "/") or "@" in url:
        problems.add("ldapUrl", url, "ldap://host[:port] or ldaps://host[:port], e.g. ldaps://ldap.example.org")
    for key in ("ldapUsersDn", "ldapGroupsDn"):
        if not DN.match(values[key]):
            problems.add(key, values[key], "a DN such as ou=people,dc=example,dc=org")
    if values["ldapBindDn"] and not DN.match(values["ldapBindDn"]):
        problems.add("ldapBindDn", values["ldapBindDn"], "a DN such as cn=keycloak,ou=services,dc=example,dc=org")
    if bool(values["ldapBindDn"]) != bool(values["ldapBindCredential"]):
        problems.add("ldapBindCredential" if values["ldapBindDn"] else "ldapBindDn", "",
                     "ldapBindDn and ldapBindCredential set together (anonymous binds are not supported)")
    vendor = _choice(problems, "ldapVendor", values["ldapVendor"], ("other", "ad"))
    mappings = _group_teams(problems, "ldapGroupTeams", values["ldapGroupTeams"], groups, LDAP_GROUP,
                            "the cn of a directory group", "directory users")
    ca = values["ldapCaCertificate"]
    if ca:
        try:
            x509.load_pem_x509_certificates(ca.encode())
        except ValueError:
            problems.add("ldapCaCertificate", ca[:40] + "...",
                         "one or more PEM certificates (-----BEGIN CERTIFICATE-----)")
        if parts.scheme != "ldaps":
            problems.add("ldapCaCertificate", ca[:40] + "...", "empty unless ldapUrl is ldaps://")
    return DirectorySettings(url, values["ldapBindDn"], values["ldapBindCredential"], values["ldapUsersDn"],
                             values["ldapGroupsDn"], vendor, tuple(mappings.items()), ca)


SSO_KEYS = ("ssoAuthorizationUrl", "ssoTokenUrl", "ssoJwksUrl", "ssoClientId", "ssoClientSecret", "ssoGroupTeams")
SSO_GROUP = re.compile(r"^[^\s,]{1,255}$")


def _endpoint(problems: _Problems, key: str, value: str) -> str:
    """An http(s) URL with a path (an OpenID Connect endpoint): no credentials, no fragment."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc or parts.fragment:
        problems.add(key, value, "an http(s) URL without credentials or #fragment, e.g. "
                                 "https://login.example.com/oauth2/v1/token")
    return value


def _single_sign_on(problems: _Problems, values: Mapping[str, Any],
                    groups: tuple[str, ...]) -> Optional[SingleSignOnSettings]:
    """The sso* keys: all of them with ssoIssuer, none without it."""
    issuer = values["ssoIssuer"]
    if not issuer:
        for key in SSO_KEYS:
            if values[key]:
                problems.add(key, "..." if key == "ssoClientSecret" else values[key], "empty unless ssoIssuer is set")
        return None
    for key in ("ssoIssuer", "ssoAuthorizationUrl", "ssoTokenUrl", "ssoJwksUrl"):
        _endpoint(problems, key, values[key])
    for key in ("ssoClientId", "ssoClientSecret"):
        if not values[key]:
            problems.add(key, "", "the client Keycloak is registered as at the provider, and its secret")
    if not values["ssoGroupsClaim"]:
        problems.add("ssoGroupsClaim", "", "the name of the ID-token claim listing the user's groups, e.g. groups")
    mappings = _group_teams(problems, "ssoGroupTeams", values["ssoGroupTeams"], groups, SSO_GROUP,
                            "a value of the groups claim (no spaces or commas)", "users")
    return SingleSignOnSettings(issuer, values["ssoAuthorizationUrl"], values["ssoTokenUrl"], values["ssoJwksUrl"],
                                values["ssoClientId"], values["ssoClientSecret"], values["ssoDisplayName"],
                                values["ssoGroupsClaim"], tuple(mappings.items()))


def _brute_force(problems: _Problems, values: Mapping[str, Any]) -> BruteForce:
    """Every duration positive (the quick check may be 0, off); a lock never longer than its cap."""
    brute_force = BruteForce(
        values["bruteForceProtection"],
        *(_positive(problems, key, values[key]) for key in (
            "bruteForceMaxLoginFailures", "bruteForceWaitIncrementSeconds", "bruteForceMaxWaitSeconds",
            "bruteForceFailureResetSeconds")),
        _within(problems, "bruteForceQuickLoginCheckMilliseconds", values["bruteForceQuickLoginCheckMilliseconds"],
                (0, 60_000), "milliseconds"),
        _positive(problems, "bruteForceMinimumQuickLoginWaitSeconds", values["bruteForceMinimumQuickLoginWaitSeconds"]))
    for key, value in (("bruteForceWaitIncrementSeconds", brute_force.wait_increment_seconds),
                       ("bruteForceMinimumQuickLoginWaitSeconds", brute_force.minimum_quick_login_wait_seconds)):
        if value > brute_force.max_wait_seconds:
            problems.add(key, value, f"at most bruteForceMaxWaitSeconds ({brute_force.max_wait_seconds})")
    return brute_force


def _ca_certificate(problems: _Problems, pem: str, admin_url: str) -> str:
    """A CA bundle is only meaningful for an https admin URL, and must hold at least one PEM certificate."""
    if not pem:
        return ""
    try:
        x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        problems.add("keycloakAdminCaCertificate", pem[:40] + "...",
                     "one or more PEM certificates (-----BEGIN CERTIFICATE-----)")
        return pem
    if urlsplit(admin_url).scheme != "https":
        problems.add("keycloakAdminCaCertificate", pem[:40] + "...",
                     f"empty while the admin URL ({admin_url}) is not https")
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
            problems.items.append(f"{PROJECT}:{name} is set in plain text: expected a secret "
                                  f"(pulumi config set --secret {name} ...)")
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
        _version(problems, "databaseVersion", db_version, lines,
                 f"an exact {engine} version of a line Keycloak supports ({', '.join(lines)}), "
                 f"e.g. {DATABASE_VERSIONS[engine]}")

    _version(problems, "keycloakVersion", values["keycloakVersion"], ("26",),
             f"a Keycloak 26.x.y version, e.g. {KEYCLOAK_VERSION}")
    _version(problems, "registryVersion", values["registryVersion"], ("2.8", "3"),
             f"a registry version of the 3.x line (e.g. {REGISTRY_VERSION}) or 2.8.x (e.g. {REGISTRY_LEGACY_VERSION})")

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
        problems.add("keycloakAdminPassword", admin_password,
                     f"at least {MIN_PASSWORD_LENGTH} characters, or empty to generate one")
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
        problems.add("registryReplicas", replicas,
                     "1 with registryStorage filesystem (a ReadWriteOnce volume); use s3 for more replicas")
    s3 = None
    s3_endpoint = _url(problems, "s3Endpoint", values["s3Endpoint"], required=False)
    if storage == "s3":
        if not values["s3Bucket"]:
            problems.add("s3Bucket", "", "a bucket name when registryStorage is s3")
        if bool(values["s3AccessKey"]) != bool(values["s3SecretKey"]):
            problems.add("s3SecretKey" if values["s3AccessKey"] else "s3AccessKey", "",
                         "s3AccessKey and s3SecretKey set together, or neither")
        s3 = S3Storage(values["s3Bucket"], values["s3Region"], s3_endpoint, values["s3AccessKey"],
                       values["s3SecretKey"], values["s3Redirect"])
    if values["registryGarbageCollection"] and not values["kubectlImage"]:
        problems.add("kubectlImage", "", "an image with sh and kubectl when registryGarbageCollection is set")
    if not BODY_SIZE.match(values["ingressMaxBodySize"]):
        problems.add("ingressMaxBodySize", values["ingressMaxBodySize"], "an nginx size such as 0, 512m or 2g")

    backup = None
    s3_prefix = values["databaseBackupS3Prefix"].rstrip("/")
    if s3_prefix and not S3_PREFIX.match(s3_prefix):
        problems.add("databaseBackupS3Prefix", s3_prefix, "s3://<bucket>[/<prefix>], e.g. s3://example-backups/keycloak")
    if _schedule(problems, "databaseBackupSchedule", values["databaseBackupSchedule"]):
        backup = DatabaseBackup(values["databaseBackupSchedule"],
                                _within(problems, "databaseBackupRetention", values["databaseBackupRetention"],
                                        BACKUP_RETENTION, "dumps"),
                                _quantity(problems, "databaseBackupStorageSize", values["databaseBackupStorageSize"]),
                                values["databaseBackupStorageClass"], s3_prefix, values["s3ClientImage"],
                                s3_endpoint, values["s3Region"], values["s3AccessKey"], values["s3SecretKey"])
    elif s3_prefix:
        problems.add("databaseBackupS3Prefix", s3_prefix, "empty unless databaseBackupSchedule is set")

    keycloak_exposure = _exposure(problems, "keycloak", values)
    admin_url = (_url(problems, "keycloakAdminUrl", values["keycloakAdminUrl"], required=False)
                 or keycloak_exposure.public_url)
    registry_exposure = _exposure(problems, "registry", values)
    if keycloak_exposure.service_type == "NodePort" and registry_exposure.service_type == "NodePort" \
            and keycloak_exposure.node_port == registry_exposure.node_port:
        problems.add("registryNodePort", registry_exposure.node_port, "a node port different from keycloakNodePort")

    settings = Settings(
        namespace=namespace,
        render_dir=values["kubernetesRenderDir"],
        database=DatabaseSettings(engine, db_version,
                                  _quantity(problems, "databaseStorageSize", values["databaseStorageSize"]),
                                  values["databaseStorageClass"], db_resources, backup=backup),
        keycloak=KeycloakSettings(values["keycloakVersion"], keycloak_exposure, admin_url,
                                  admin_username, admin_password, kc_resources,
                                  _within(problems, "keycloakReplicas", values["keycloakReplicas"], KEYCLOAK_REPLICAS,
                                          "pods"),
                                  _ca_certificate(problems, values["keycloakAdminCaCertificate"], admin_url),
                                  _log_level(problems, values["keycloakLogLevel"])),
        realm=RealmSettings(realm, client_id, group, values["restrictToGroup"], users,
                            _user_passwords(problems, values["userPasswords"], users),
                            _within(problems, "tokenLifespanSeconds", values["tokenLifespanSeconds"], TOKEN_LIFESPAN,
                                    "seconds"),
                            default_access, _brute_force(problems, values), teams, repository_access, robots,
                            _directory(problems, values, (group, *(t.name for t in teams))),
                            _single_sign_on(problems, values, (group, *(t.name for t in teams))),
                            _refresh_tokens(problems, values)),
        registry=RegistrySettings(values["registryVersion"], registry_exposure, replicas, storage,
                                  _quantity(problems, "registryStorageSize", values["registryStorageSize"]),
                                  values["registryStorageClass"], s3, values["ingressMaxBodySize"], reg_resources,
                                  _schedule(problems, "registryGarbageCollection", values["registryGarbageCollection"]),
                                  values["kubectlImage"]),
        allow_volume_replacement=values["allowVolumeReplacement"],
        service_monitor=values["serviceMonitor"],
    )
    if problems.items:
        raise SettingsError(problems.items)
    return settings
