package dev.keycloakregistry.tokens;

import dev.keycloakregistry.StatelessProviderFactory;
import org.keycloak.models.KeycloakSession;
import org.keycloak.services.resource.RealmResourceProvider;
import org.keycloak.services.resource.RealmResourceProviderFactory;

/** Registers {@link RegistryTokenResource} under {@code /realms/{realm}/registry-token}. */
public final class RegistryTokenProviderFactory implements RealmResourceProviderFactory,
        StatelessProviderFactory<RealmResourceProvider> {

    /** The path segment after {@code /realms/{realm}/}: the registries' token realm. */
    public static final String ID = "registry-token";

    @Override
    public RealmResourceProvider create(KeycloakSession session) {
        return new RegistryTokenResource(session);
    }

    @Override
    public String getId() {
        return ID;
    }
}
