"""The whole system as one graph: namespace → database → Keycloak → (readiness gate) → Keycloak provider →
realm, users, docker-v2 client → signing-certificate Secret → registry."""

from __future__ import annotations

import pulumi
import pulumi_keycloak as keycloak
import pulumi_kubernetes as k8s

from . import database, kube
from .database import Database, DatabaseEndpoint
from .keycloak import Keycloak
from .realm import RealmConfiguration
from .registry import Registry
from .settings import Settings
from .signing_keys import SigningCertificates


class Platform(pulumi.ComponentResource):
    """Builds every component from the settings and collects the stack outputs."""

    def __init__(self, name: str, settings: Settings, opts: pulumi.ResourceOptions | None = None):
        super().__init__(kube.component_type("Platform"), name, None, opts)
        # Explicit, so a stack can render manifests instead of applying them; children inherit it.
        cluster = k8s.Provider("kubernetes", render_yaml_to_directory=settings.render_dir or None,
                               opts=pulumi.ResourceOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self, providers={"kubernetes": cluster})

        namespace = k8s.core.v1.Namespace(
            "namespace", metadata=k8s.meta.v1.ObjectMetaArgs(name=settings.namespace, labels={
                "app.kubernetes.io/part-of": kube.APP,
                # Baseline admission rejects privileged pods; every workload here meets "restricted".
                "pod-security.kubernetes.io/enforce": "restricted"}),
            opts=child)
        ns = namespace.metadata.name

        db = Database("database", settings.database, ns, opts=child)
        endpoint = DatabaseEndpoint(settings.database.engine, database.service_host(settings.namespace),
                                    settings.database.port, settings.database.name)
        server = Keycloak("keycloak", settings.keycloak, endpoint, db, ns, opts=child)

        provider = keycloak.Provider(
            "keycloak-admin", url=server.admin_url, base_path="", realm="master", client_id="admin-cli",
            username=server.admin_username, password=server.admin_password, client_timeout=60, opts=child)
        realm = RealmConfiguration("realm", settings.realm, provider, server.admin_url, server.admin_username,
                                   server.admin_password, opts=child)
        signing = SigningCertificates("signing-certs", realm.realm.id, provider, ns, read_after=[realm.client], opts=child)
        registry = Registry("registry", settings, ns, signing.files, signing.secret,
                            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[realm.client, signing])))

        token = registry.token
        self.outputs: dict[str, pulumi.Input] = {
            "namespace": ns,
            "registryHost": settings.registry.host,
            "registryUrl": settings.registry.public_url,
            "keycloakUrl": settings.keycloak.public_url,
            "realm": realm.realm.realm,
            "tokenRealm": token.realm,
            "tokenService": realm.client.client_id,
            "tokenIssuer": token.issuer,
            "usernames": list(settings.realm.users),
            "dockerLoginCommand": f"docker login {settings.registry.host}",
            "keycloakAdminUsername": server.admin_username,
            "keycloakAdminPassword": pulumi.Output.secret(server.admin_password),
            "userPasswords": pulumi.Output.secret(pulumi.Output.all(**realm.passwords)),
        }
        self.register_outputs(self.outputs)
