"""Repository access: what a rule, a team or a robot may do, and the extension's two mapper modes."""

from __future__ import annotations

from dataclasses import dataclass
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

