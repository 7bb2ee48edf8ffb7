package dev.keycloakregistry.robots;

import dev.keycloakregistry.StatelessProviderFactory;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.RealmModel;
import org.keycloak.services.resources.admin.AdminEventBuilder;
import org.keycloak.services.resources.admin.ext.AdminRealmResourceProvider;
import org.keycloak.services.resources.admin.ext.AdminRealmResourceProviderFactory;
import org.keycloak.services.resources.admin.fgap.AdminPermissionEvaluator;

/** Registers {@link PasswordRotationResource} under {@code /admin/realms/{realm}/keycloak-registry}. */
public final class PasswordRotationProviderFactory implements AdminRealmResourceProviderFactory,
        StatelessProviderFactory<AdminRealmResourceProvider>, AdminRealmResourceProvider {

    public static final String ID = "keycloak-registry";

    @Override
    public Object getResource(KeycloakSession session, RealmModel realm, AdminPermissionEvaluator auth,
                              AdminEventBuilder adminEvent) {
        return new PasswordRotationResource(session, realm, auth, adminEvent);
    }

    @Override
    public AdminRealmResourceProvider create(KeycloakSession session) {
        return this;
    }

    @Override
    public void close() {
    }

    @Override
    public String getId() {
        return ID;
    }
}
