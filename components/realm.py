"""The realm side of the registry: realm, access group and role, teams, users, robots, the docker-v2 client with
its access rules (client roles the extension's mapper reads) and the docker authentication flow that turns
away users outside the group."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_keycloak as keycloak

from lib import kube
from lib.keycloak_extension import DOCKER_PASSWORD_ID, MEMBER_GATE_ID, MEMBER_GATE_ROLE
from lib.passwords import generated_password
from providers.docker_client import DockerV2Client
from providers.keycloak_resources import KeycloakAdminCredentials, KeycloakRealm, UserPassword
from settings import ACCESS_CLIENT_ROLES, RealmSettings, RepositoryGrant, Robot

# Keycloak 26 asks users without first/last name and email to complete their profile; HTTP Basic (the
# docker protocol) cannot answer that, so the login would fail. Registry accounts need no profile.
VERIFY_PROFILE = "VERIFY_PROFILE"


def describe(grant: RepositoryGrant) -> str:
    """A rule in words, for the role's description in Keycloak's console."""
    parts = [f"{','.join(grant.actions)} on {', '.join(grant.repositories)}"] if grant.repositories else []
    return "; ".join(parts + (["catalog"] if grant.catalog else []))


def flow_alias(realm: RealmSettings) -> str:
    """Alias of the realm's docker flow."""
    return f"docker auth {realm.group}"


# Client-role names of the access rules. The ":" cannot occur in a group, team or robot name, so the names of rules,
# robots and the default grant never collide, whatever the settings name.
def rule_role(group: str, number: int) -> str:
    return f"rule:{group}:{number}"


def robot_role(robot: str) -> str:
    return f"robot:{robot}"


def default_role(group: str) -> str:
    return f"default:{group}"


class RealmConfiguration(pulumi.ComponentResource):
    """Everything inside the realm; the pulumi-keycloak children use the explicit, readiness-gated provider,
    the dynamic ones log in with ``admin``'s (rotated) credentials."""

    realm: KeycloakRealm
    group: keycloak.Group
    role: keycloak.Role
    teams: dict[str, keycloak.Group]  # subgroups of ``group``: they inherit its access role
    users: list[keycloak.User]
    passwords: dict[str, pulumi.Output[str]]  # username -> the password Keycloak has (known once applied)
    client: DockerV2Client
    access_roles: list[keycloak.Role]  # one client role per rule and per robot; attributes hold the rule
    robot_passwords: dict[str, pulumi.Output[str]]  # robot name -> its generated password (known once applied)
    member_roles: dict[str, list[pulumi.Output[str]]]  # team or group -> every role its members hold, inherited too
    member_groups: dict[str, keycloak.Group]  # team or group -> its Keycloak group (``group`` or one of ``teams``)

    def __init__(self, name: str, realm: RealmSettings, provider: keycloak.Provider, admin: KeycloakAdminCredentials,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(kube.component_type("RealmConfiguration"), name, None, opts)
        kc = pulumi.ResourceOptions(parent=self, provider=provider)
        dynamic = pulumi.ResourceOptions(parent=self)
        connection = admin.connection()

        self.realm = KeycloakRealm(
            f"{name}-realm", connection=connection, realm=realm.name, enabled=True, display_name="Container registry",
            access_token_lifespan=realm.token_lifespan_seconds,
            brute_force=realm.brute_force.realm_attributes(), opts=dynamic)
        realm_id = self.realm.realm  # the name, known once the realm exists
        keycloak.RequiredAction(f"{name}-no-profile-prompt", realm_id=realm_id, alias=VERIFY_PROFILE,
                                name="Verify Profile", enabled=False, opts=kc)
        # The stack owns user passwords (userPasswords shows only what Keycloak has): no self-service change, neither
        # as a required action (which also refuses kc_action=UPDATE_PASSWORD) nor through the account console.
        keycloak.RequiredAction(f"{name}-no-password-change", realm_id=realm_id, alias="UPDATE_PASSWORD",
                                name="Update Password", enabled=False, opts=kc)
        keycloak.DefaultRoles(f"{name}-default-roles", realm_id=realm_id,
                              default_roles=["offline_access", "uma_authorization", "account/view-profile"], opts=kc)

        self.group = keycloak.Group(f"{name}-group", realm_id=realm_id, name=realm.group, opts=kc)
        self.role = keycloak.Role(f"{name}-access-role", realm_id=realm_id, name=realm.access_role,
                                  description=f"May obtain registry tokens (granted through group {realm.group})",
                                  opts=kc)
        self.teams = {team.name: keycloak.Group(f"{name}-team-{team.name}", realm_id=realm_id, name=team.name,
                                                parent_id=self.group.id, opts=kc) for team in realm.teams}

        self.passwords = {}
        self.users = []
        for username in realm.users:
            given = realm.user_passwords.get(username)
            password = pulumi.Output.secret(given) if given else generated_password(
                f"{name}-user-{username}-password", self, length=24)
            user = keycloak.User(f"{name}-user-{username}", realm_id=realm_id, username=username, enabled=True, opts=kc)
            teams = [self.teams[team.name].id for team in realm.teams if username in team.members]
            keycloak.UserGroups(f"{name}-user-{username}-groups", realm_id=realm_id, user_id=user.id,
                                group_ids=[self.group.id, *teams], opts=kc)
            applied = UserPassword(f"{name}-user-{username}-credential", connection=connection, realm=realm_id,
                                   user_id=user.id, password=password, opts=dynamic)
            self.passwords[username] = applied.password
            self.users.append(user)

        self.client = DockerV2Client(
            f"{name}-docker-client", connection=connection, realm=realm_id, client_id=realm.client_id,
            access_mode=realm.access_mode, default_access=realm.default_access,
            refresh_lifetimes=realm.refresh_tokens.client_lifetimes,
            description="Container registry token service (docker-v2 protocol)",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.realm]))
        self.access_roles = []
        self._grant_groups(name, realm, realm_id, kc)
        self.robot_passwords = {}
        for robot in realm.robots:
            self._add_robot(name, realm_id, robot, connection, kc, dynamic)

        self._docker_flow(name, realm, realm_id, kc)
        self.register_outputs({"realm": self.realm.realm, "clientId": self.client.client_id,
                               "usernames": list(realm.users), "robots": [robot.name for robot in realm.robots]})

    def _access_role(self, resource_name: str, realm_id: pulumi.Output[str], role_name: str, holder: str,
                     grant: RepositoryGrant, kc: pulumi.ResourceOptions,
                     attributes: Optional[dict[str, str]] = None) -> keycloak.Role:
        """A client role of the docker-v2 client whose attributes are one rule (``attributes``: the rule and more):
        Keycloak keeps the rules as data. One at a time: concurrent role-attribute writes deadlock in MySQL/MariaDB
        (Keycloak 26.7.3 answers 500)."""
        after_previous = pulumi.ResourceOptions(depends_on=self.access_roles[-1:])
        role = keycloak.Role(resource_name, realm_id=realm_id, client_id=self.client.id, name=role_name,
                             description=f"{holder}: {describe(grant)}",
                             attributes=attributes or grant.role_attributes(),
                             opts=pulumi.ResourceOptions.merge(kc, after_previous))
        self.access_roles.append(role)
        return role

    def _grant_groups(self, name: str, realm: RealmSettings, realm_id: pulumi.Output[str],
                      kc: pulumi.ResourceOptions) -> None:
        """Each group's roles: the access role (registry group; teams inherit it), the stated default grant of every
        member (client-roles mode) and one role per rule."""
        roles: dict[str, list[pulumi.Output[str]]] = {realm.group: [self.role.id]}
        if realm.access_mode == ACCESS_CLIENT_ROLES and realm.default_grant:
            role = self._access_role(f"{name}-default-access", realm_id, default_role(realm.group),
                                     f"every member of {realm.group} (defaultAccess {realm.default_access})",
                                     realm.default_grant, kc)
            roles[realm.group].append(role.id)
        numbers: dict[str, int] = {}
        for rule in realm.repository_access:
            held = roles.setdefault(rule.group, [])
            numbers[rule.group] = number = numbers.get(rule.group, 0) + 1
            role = self._access_role(f"{name}-rule-{rule.group}-{number}", realm_id, rule_role(rule.group, number),
                                     f"group {rule.group}", rule.grant, kc)
            held.append(role.id)
        self.member_roles = {realm.group: roles[realm.group],
                             **{team.name: roles[realm.group] + roles.get(team.name, []) for team in realm.teams}}
        self.member_groups = {realm.group: self.group, **self.teams}
        for group, role_ids in roles.items():
            resource = f"{name}-group-roles" if group == realm.group else f"{name}-team-{group}-roles"
            keycloak.GroupRoles(resource, realm_id=realm_id, group_id=self.member_groups[group].id, role_ids=role_ids,
                                opts=kc)

    def _add_robot(self, name: str, realm_id: pulumi.Output[str], robot: Robot, connection: dict,
                   kc: pulumi.ResourceOptions, dynamic: pulumi.ResourceOptions) -> None:
        """A realm user in no group: the access role and its own rule's role, exactly (with its expiry, which the
        extension's docker login enforces); a generated password, rotated with an overlap when ``rotation`` changes."""
        user = keycloak.User(f"{name}-robot-{robot.name}", realm_id=realm_id, username=robot.name, enabled=True,
                             opts=kc)
        role = self._access_role(f"{name}-robot-{robot.name}-rule", realm_id, robot_role(robot.name),
                                 f"robot {robot.name}", robot.grant, kc, robot.role_attributes())
        keycloak.UserRoles(f"{name}-robot-{robot.name}-roles", realm_id=realm_id, user_id=user.id,
                           role_ids=[self.role.id, role.id], opts=kc)
        password = generated_password(f"{name}-robot-{robot.name}-password", self, length=32, rotation=robot.rotation)
        applied = UserPassword(f"{name}-robot-{robot.name}-credential", connection=connection, realm=realm_id,
                               user_id=user.id, password=password, overlap_seconds=robot.rotation_overlap_seconds,
                               opts=dynamic)
        self.robot_passwords[robot.name] = applied.password

    def _docker_flow(self, name: str, realm: RealmSettings, realm_id: pulumi.Output[str],
                     kc: pulumi.ResourceOptions) -> None:
        """The extension's Docker password login (Keycloak's own is invisible to brute-force detection), then, when
        restricted, its member gate: it admits only holders of the group's role and fails closed, denying everyone
        while that role is missing (deleted, or mid-rename) or unconfigured."""
        flow = keycloak.authentication.Flow(f"{name}-docker-flow", realm_id=realm_id, alias=flow_alias(realm),
                                            provider_id="basic-flow", opts=kc)
        password = keycloak.authentication.Execution(
            f"{name}-docker-basic-auth", realm_id=realm_id, parent_flow_alias=flow.alias,
            authenticator=DOCKER_PASSWORD_ID, requirement="REQUIRED", priority=10, opts=kc)
        complete: list[pulumi.Resource] = [password]
        if realm.restrict_to_group:
            gate = keycloak.authentication.Execution(
                f"{name}-member-gate", realm_id=realm_id, parent_flow_alias=flow.alias, authenticator=MEMBER_GATE_ID,
                requirement="REQUIRED", priority=20,
                opts=pulumi.ResourceOptions.merge(kc, pulumi.ResourceOptions(depends_on=[password])))
            gate_config = keycloak.authentication.ExecutionConfig(
                f"{name}-member-gate-config", realm_id=realm_id, execution_id=gate.id,
                alias="registry member gate", config={MEMBER_GATE_ROLE: self.role.name}, opts=kc)
            complete += [gate, gate_config]
        # Bound once complete (an unconfigured gate denies everyone, members too).
        keycloak.authentication.Bindings(
            f"{name}-docker-flow-binding", realm_id=realm_id, docker_authentication_flow=flow.alias,
            opts=pulumi.ResourceOptions.merge(kc, pulumi.ResourceOptions(depends_on=complete)))
