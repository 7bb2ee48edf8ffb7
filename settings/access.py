"""Repository access: what a rule, a team or a robot may do, and the extension's two mapper modes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional


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


# How long a robot's rotated-out password keeps working by default: a day, for every consumer to pick the new one up.
DEFAULT_ROTATION_OVERLAP_SECONDS = 86400
# The extension's own bound (PasswordRotationResource.MAX_OVERLAP_SECONDS): 30 days.
ROTATION_OVERLAP_SECONDS = (0, 30 * 86400)


@dataclass(frozen=True)
class Robot:
    """A non-human account (CI): a realm user outside every group, with its own grant and a generated password.
    ``expires_at`` (UTC) ends its logins; a new ``rotation`` value generates a new password, the previous one
    working ``rotation_overlap_seconds`` longer, so consumers switch without an outage."""

    name: str
    grant: RepositoryGrant
    expires_at: Optional[datetime] = None
    rotation: str = ""
    rotation_overlap_seconds: int = DEFAULT_ROTATION_OVERLAP_SECONDS

    def role_attributes(self) -> dict[str, str]:
        """The rule, and the expiry the extension's docker login checks (epoch seconds: one exact instant)."""
        expiry = {"expires-at": str(int(self.expires_at.timestamp()))} if self.expires_at else {}
        return {**self.grant.role_attributes(), **expiry}

    def summary(self) -> dict[str, Any]:
        expiry = {"expiresAt": self.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")} if self.expires_at else {}
        return {"robot": self.name, **self.grant.summary(), **expiry}


# The extension's mapper modes: every requested scope, or what the user's client roles allow.
ACCESS_ALLOW_ALL = "allow-all"
ACCESS_CLIENT_ROLES = "client-roles"
EVERYTHING = RepositoryGrant(("*",), ("*",), catalog=True)
# defaultAccess: what every member of the group may do beyond the rules.
DEFAULT_GRANTS: dict[str, Optional[RepositoryGrant]] = {
    "all": EVERYTHING, "pull": RepositoryGrant(("*",), ("pull",), catalog=True), "none": None}

