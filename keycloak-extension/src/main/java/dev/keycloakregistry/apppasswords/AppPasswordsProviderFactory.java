package dev.keycloakregistry.apppasswords;

import dev.keycloakregistry.StatelessProviderFactory;
import org.keycloak.models.KeycloakSession;
import org.keycloak.services.resource.RealmResourceProvider;
import org.keycloak.services.resource.RealmResourceProviderFactory;

/** Registers {@link AppPasswordsResource} under {@code /realms/{realm}/registry-app-passwords}. */
public final class AppPasswordsProviderFactory implements RealmResourceProviderFactory,
        StatelessProviderFactory<RealmResourceProvider> {

    /** The path segment after {@code /realms/{realm}/}. */
    public static final String ID = "registry-app-passwords";

    @Override
    public RealmResourceProvider create(KeycloakSession session) {
        return new AppPasswordsResource(session);
    }

    @Override
    public String getId() {
        return ID;
    }
}
