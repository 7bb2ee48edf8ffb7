"""The company directory (LDAP or Active Directory) as a read-only user federation of the realm.

Its users log in to the registry with their directory password. The directory groups the stack maps to teams are
Keycloak groups under /directory that hold those teams' roles, so a directory user gets exactly what the team's
members get. The group mapper puts each user in them at every login, nested memberships included, and reads the
directory each time (no cache). A user removed from a group, disabled or deleted in the directory therefore loses
access at the next login. Directory users in no mapped group hold no access role, and the docker flow's gate turns
them away.

On OpenLDAP, nested groups come from the dynlist overlay's memberOf, which JNDI's default referral handling turns
off: the federation follows referrals instead (providers/directory_referral.py). Active Directory answers nested
memberships with its in-chain matching rule and keeps Keycloak's default.
"""

from __future__ import annotations

import hashlib
from typing import Mapping, Optional

import pulumi
import pulumi_keycloak as keycloak

from lib import kube
from providers.directory_referral import FederationReferral
from settings import DirectorySettings

GROUPS_PATH = "directory"  # the top-level Keycloak group the directory's groups are imported under
CONNECTION_TIMEOUT = "2s"  # a directory that does not answer fails its users' logins fast (the extension: 401)
READ_TIMEOUT = "5s"


class DirectoryFederation(pulumi.ComponentResource):
    """The user federation, its group mapper and the Keycloak groups of the mapped directory groups."""

    federation: keycloak.ldap.UserFederation
    group_mapper: keycloak.ldap.GroupMapper
    groups: dict[str, keycloak.Group]  # directory group cn -> its Keycloak group (holding the team's roles)
    referral: Optional[FederationReferral]  # OpenLDAP: follow, so dynlist's memberOf reaches Keycloak

    def __init__(self, name: str, directory: DirectorySettings, realm_id: pulumi.Input[str],
                 team_roles: dict[str, list[pulumi.Output[str]]], provider: keycloak.Provider,
                 connection: Mapping[str, pulumi.Input[str]], realm_contents: pulumi.Resource,
                 opts: pulumi.ResourceOptions | None = None):
        """``team_roles``: for each team and the group, every role its members hold (what they inherit included).
        ``connection``: the admin API, for the one federation setting pulumi-keycloak lacks. ``realm_contents``: the
        realm's users, deleted only after the federation (see ``after_realm_contents``)."""
        super().__init__(kube.component_type("DirectoryFederation"), name, None, opts)
        kc = pulumi.ResourceOptions(parent=self, provider=provider)
        self.federation = keycloak.ldap.UserFederation(
            f"{name}-federation", realm_id=realm_id, name="directory", vendor="AD" if directory.active_directory
            else "OTHER", connection_url=directory.url, bind_dn=directory.bind_dn,
            bind_credential=pulumi.Output.secret(directory.bind_credential), users_dn=directory.users_dn,
            search_scope="SUBTREE", username_ldap_attribute=directory.username_attribute,
            rdn_ldap_attribute=directory.rdn_attribute, uuid_ldap_attribute=directory.uuid_attribute,
            user_object_classes=list(directory.user_object_classes), edit_mode="READ_ONLY", import_enabled=True,
            sync_registrations=False, trust_email=False, pagination=True,
            connection_timeout=CONNECTION_TIMEOUT, read_timeout=READ_TIMEOUT,
            use_truststore_spi="ALWAYS" if directory.ca_certificate else "NEVER",
            cache=keycloak.ldap.UserFederationCacheArgs(policy="NO_CACHE"),
            opts=after_realm_contents(kc, realm_contents))
        parent = keycloak.Group(f"{name}-groups", realm_id=realm_id, name=GROUPS_PATH, opts=kc)
        self.groups = {}
        for cn, team in directory.group_teams:
            group = keycloak.Group(f"{name}-group-{cn}", realm_id=realm_id, name=cn, parent_id=parent.id, opts=kc)
            keycloak.GroupRoles(f"{name}-group-{cn}-roles", realm_id=realm_id, group_id=group.id,
                                role_ids=team_roles[team], opts=kc)
            self.groups[cn] = group
        # Created once the mapped groups exist: the mapper finds them by name under /directory and adds members.
        self.group_mapper = keycloak.ldap.GroupMapper(
            f"{name}-group-mapper", realm_id=realm_id, ldap_user_federation_id=self.federation.id, name="groups",
            ldap_groups_dn=directory.groups_dn, group_name_ldap_attribute="cn",
            group_object_classes=["group"] if directory.active_directory else ["groupOfNames"],
            membership_ldap_attribute="member", membership_attribute_type="DN",
            membership_user_ldap_attribute=directory.username_attribute, memberof_ldap_attribute="memberOf",
            mode="READ_ONLY", user_roles_retrieve_strategy=directory.membership_strategy,
            preserve_group_inheritance=False, groups_path=f"/{GROUPS_PATH}", drop_non_existing_groups_during_sync=False,
            opts=pulumi.ResourceOptions.merge(kc, pulumi.ResourceOptions(depends_on=[parent, *self.groups.values()])))
        self.referral = None if directory.active_directory else FederationReferral(
            f"{name}-referral", connection=connection, realm=realm_id, federation_id=self.federation.id,
            referral="follow", revision=federation_revision(directory), opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"federationId": self.federation.id})


def after_realm_contents(opts: pulumi.ResourceOptions, realm_contents: pulumi.Resource) -> pulumi.ResourceOptions:
    """Created after, and deleted before, the realm's users: deleting a federation (or an identity provider) deletes
    its users in bulk, which deadlocks on MariaDB with pulumi-keycloak's parallel deletions of single users (500s,
    found by the destroy test)."""
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[realm_contents]))


def federation_revision(directory: DirectorySettings) -> str:
    """Changes whenever pulumi-keycloak rewrites the federation (any of its inputs changed)."""
    return hashlib.sha256(repr(directory).encode()).hexdigest()
