package dev.keycloakregistry.login;

import org.keycloak.authentication.AuthenticationFlowContext;
import org.keycloak.models.UserModel;
import org.keycloak.models.credential.PasswordCredentialModel;
import org.keycloak.protocol.docker.DockerAuthenticator;

/**
 * Keycloak's Docker Authenticator, with its success recorded as a password login so brute-force detection resets
 * the account's failure count, as it does for the login form.
 */
public final class DockerPasswordAuthenticator extends DockerAuthenticator {

    @Override
    protected void userSuccessAction(AuthenticationFlowContext context, UserModel user) {
        context.getAuthenticationSession().setAuthenticatedUser(user);
        context.success(PasswordCredentialModel.TYPE);
    }
}
