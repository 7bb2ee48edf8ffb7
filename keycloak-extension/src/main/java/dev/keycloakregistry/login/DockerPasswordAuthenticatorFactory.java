package dev.keycloakregistry.login;

import java.util.List;

import org.keycloak.authentication.Authenticator;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.credential.PasswordCredentialModel;
import org.keycloak.protocol.docker.DockerAuthenticatorFactory;
import org.keycloak.provider.ProviderConfigProperty;

/**
 * Registers {@link DockerPasswordAuthenticator} under the "password" category. Keycloak files its own Docker
 * Authenticator under "docker", which brute-force detection ignores (it counts password, OTP and recovery-code
 * logins only; Keycloak 26.7.3): failed docker logins never lock an account, whatever the realm says.
 */
public final class DockerPasswordAuthenticatorFactory extends DockerAuthenticatorFactory {

    public static final String PROVIDER_ID = "keycloak-registry-docker-password";

    @Override
    public String getId() {
        return PROVIDER_ID;
    }

    @Override
    public String getDisplayType() {
        return "Docker password (keycloak-registry)";
    }

    @Override
    public String getReferenceCategory() {
        return PasswordCredentialModel.TYPE;
    }

    @Override
    public String getHelpText() {
        return "HTTP Basic login of docker clients, counted by brute-force detection like the login form.";
    }

    @Override
    public List<ProviderConfigProperty> getConfigProperties() {
        return List.of();
    }

    @Override
    public Authenticator create(KeycloakSession session) {
        return new DockerPasswordAuthenticator();
    }
}
