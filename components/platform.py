"""The whole system as one graph: namespace → database (→ its backups) → Keycloak → (readiness gate) →
Keycloak provider → realm, users, docker-v2 client → signing-certificate Secret → registry → its garbage collection."""

from __future__ import annotations

import pulumi
import pulumi_keycloak as keycloak
import pulumi_kubernetes as k8s

from lib import kube
from providers.keycloak_resources import KeycloakAdminCredentials
from providers.storage_guard import DestroyLock, StorageGuard
from settings import Settings

from . import database
from .backup import DatabaseBackups
from .database import Database, DatabaseEndpoint
from .directory import DirectoryFederation
from .garbage_collection import GarbageCollection
from .keycloak import Keycloak
from .monitoring import Monitoring, alert_rules
from .realm import RealmConfiguration
from .registry import Registry, token_auth
from .signing_keys import SigningCertificates
from .single_sign_on import SingleSignOn

# What render mode leaves out: each needs a live Keycloak (the realm is configured through its admin API, the
# certificates are read from the realm, and the registry pods mount them).
NOT_RENDERED = ("realm configuration (realm, group, role, teams, users, robots, access rules, docker flow, "
                "docker-v2 client)",
                "signing-certificate Secret", "registry Deployment")


def secret_map(values: dict[str, pulumi.Output[str]]) -> pulumi.Output[dict]:
    """A secret name -> value map; an empty one stays a map (Output.all() of nothing is a list)."""
    return pulumi.Output.secret(pulumi.Output.all(**values) if values else {})


class Platform(pulumi.ComponentResource):
    """Builds every component from the settings and collects the stack outputs."""

    outputs: dict[str, pulumi.Input]

    def __init__(self, name: str, settings: Settings, opts: pulumi.ResourceOptions | None = None):
        super().__init__(kube.component_type("Platform"), name, None, opts)
        # Explicit, so a stack can render manifests instead of applying them; children inherit it.
        # Mutable Secrets: a rotated key updates its Secret in place (not delete+create, replacing the registry too).
        cluster = k8s.Provider("kubernetes", render_yaml_to_directory=settings.render_dir or None,
                               enable_secret_mutable=True, opts=pulumi.ResourceOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self, providers={"kubernetes": cluster})
        # Everything waits for the guard: a change that would delete the data on a claim stops here, unchanged.
        guard = [] if settings.render_dir else [
            StorageGuard("storage-guard", settings, opts=pulumi.ResourceOptions(parent=self))]

        namespace = k8s.core.v1.Namespace(
            "namespace", metadata=k8s.meta.v1.ObjectMetaArgs(name=settings.namespace, labels={
                "app.kubernetes.io/part-of": kube.APP,
                # Baseline admission rejects privileged pods; every workload here meets "restricted".
                "pod-security.kubernetes.io/enforce": "restricted"}),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=guard)))
        ns = namespace.metadata.name

        db = Database("database", settings.database, ns, protect_data=not settings.allow_volume_replacement, opts=child)
        backups = [DatabaseBackups("database-backups", settings.database, settings.namespace, ns, db,
                                   protect_data=not settings.allow_volume_replacement, opts=child)
                   ] if settings.database.backup else []
        endpoint = DatabaseEndpoint(settings.database.engine, database.service_host(settings.namespace),
                                    settings.database.port, settings.database.name)
        directory = settings.realm.directory
        server = Keycloak("keycloak", settings.keycloak, endpoint, db, ns, opts=child, trusted_cas={
            "directory-ca.pem": directory.ca_certificate} if directory and directory.ca_certificate else None)
        if settings.service_monitor:
            Monitoring("monitoring", settings, ns, opts=child)
        token = token_auth(settings)
        self.outputs: dict[str, pulumi.Input] = {
            "namespace": ns,
            "registryHost": settings.registry.host,
            "registryUrl": settings.registry.public_url,
            "keycloakUrl": settings.keycloak.public_url,
            "tokenRealm": token.realm,
            "tokenIssuer": token.issuer,
            "usernames": list(settings.realm.users),
            "robots": [robot.name for robot in settings.realm.robots],
            "repositoryAccess": settings.realm.access_summary(),
            "dockerLoginCommand": f"docker login {settings.registry.host}",
            "alertRules": alert_rules(settings),
            "keycloakAdminUsername": server.admin_username,
            "keycloakAdminPassword": pulumi.Output.secret(server.admin_password),
        }
        if settings.render_dir:
            # No Keycloak call at all: a rendered Deployment reports a known, empty status, so the readiness gate
            # would open and the provider log in to whatever answers at the admin URL.
            Registry("registry", settings, ns, None, opts=child)
            self.outputs["renderMode"] = {"directory": settings.render_dir, "notRendered": list(NOT_RENDERED)}
            self.register_outputs(self.outputs)
            return

        # Carries a changed admin username/password to Keycloak (KC_BOOTSTRAP_ADMIN_* applies only once); the
        # provider and the dynamic resources log in with its outputs, so they switch only after the rotation.
        ca_certificate = settings.keycloak.admin_ca_certificate
        admin = KeycloakAdminCredentials("keycloak-admin-credentials", server_url=server.admin_url,
                                         username=server.admin_username, password=server.admin_password,
                                         ca_certificate=ca_certificate, opts=child)
        provider = keycloak.Provider(
            "keycloak-admin", url=server.admin_url, base_path="", realm="master", client_id="admin-cli",
            username=admin.accepted_username, password=admin.accepted_password, client_timeout=60,
            root_ca_certificate=ca_certificate or None, opts=child)
        realm = RealmConfiguration("realm", settings.realm, provider, admin, opts=child)
        federation = [DirectoryFederation("directory", directory, realm.realm.realm, realm.member_roles, provider,
                                          admin.connection(), realm, opts=child)] if directory else []
        sso = [SingleSignOn("sso", settings.realm.sso, realm.realm.realm, realm.member_groups, provider, realm,
                            opts=child)] if settings.realm.sso else []
        # Read through the provider, which has no login in the preview of an admin-credential change (an unconfigured
        # provider answers invokes with nothing): the read waits for the accepted login as well.
        realm_to_read = pulumi.Output.all(realm.realm.realm, admin.accepted_username).apply(lambda values: values[0])
        signing = SigningCertificates("signing-certs", realm_to_read, provider, ns, read_after=[realm.client],
                                      opts=child)
        registry = Registry("registry", settings, ns, signing, opts=pulumi.ResourceOptions.merge(
            child, pulumi.ResourceOptions(depends_on=[realm.client, signing])))
        if settings.registry.garbage_collection:
            GarbageCollection("garbage-collection", settings.registry, settings.namespace, ns,
                              opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[registry])))
        DestroyLock("destroy-lock", protect=not settings.allow_volume_replacement,
                    depends_on=[namespace, db, *backups, server, admin, provider, realm, *federation, *sso, signing,
                                registry],
                    opts=pulumi.ResourceOptions(parent=self))

        self.outputs.update({
            "keycloakAdminUsername": admin.accepted_username,
            "keycloakAdminPassword": pulumi.Output.secret(admin.accepted_password),
            "realm": realm.realm.realm,
            "tokenService": realm.client.client_id,
            "userPasswords": secret_map(realm.passwords),
            "robotPasswords": secret_map(realm.robot_passwords),
        })
        self.register_outputs(self.outputs)
