package dev.keycloakregistry.login;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import org.junit.jupiter.api.Test;
import org.keycloak.protocol.docker.DockerAuthenticatorFactory;
import org.keycloak.services.managers.DefaultBruteForceProtector;

class DockerPasswordAuthenticatorFactoryTest {

    /** Brute-force detection counts only the categories it lists; Keycloak's docker one ("docker") is not among them. */
    @Test
    void filesDockerLoginsWhereBruteForceDetectionCountsThem() {
        var factory = new DockerPasswordAuthenticatorFactory();
        assertEquals(true, DefaultBruteForceProtector.ALLOWED_AUTHENTICATION_CATEGORIES
                .contains(factory.getReferenceCategory()));
        assertEquals(false, DefaultBruteForceProtector.ALLOWED_AUTHENTICATION_CATEGORIES
                .contains(new DockerAuthenticatorFactory().getReferenceCategory()));
        assertInstanceOf(DockerPasswordAuthenticator.class, factory.create(null));
    }
}
