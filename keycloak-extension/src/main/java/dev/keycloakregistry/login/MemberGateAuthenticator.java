package dev.keycloakregistry.login;

import jakarta.ws.rs.core.Response;
import org.jboss.logging.Logger;
import org.keycloak.authentication.AuthenticationFlowContext;
import org.keycloak.authentication.AuthenticationFlowError;
import org.keycloak.authentication.Authenticator;
import org.keycloak.events.Errors;
import org.keycloak.models.AuthenticatorConfigModel;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.RealmModel;
import org.keycloak.models.UserModel;
import org.keycloak.services.messages.Messages;

/** Admits only users holding the configured realm role; denies as Keycloak's "Deny access" does (401) otherwise. */
public final class MemberGateAuthenticator implements Authenticator {

    private static final Logger LOG = Logger.getLogger(MemberGateAuthenticator.class);

    @Override
    public void authenticate(AuthenticationFlowContext context) {
        AuthenticatorConfigModel config = context.getAuthenticatorConfig();
        String roleName = config == null || config.getConfig() == null ? null
                : config.getConfig().get(MemberGateAuthenticatorFactory.ROLE);
        UserModel user = context.getUser();
        MemberGate.Decision decision = AccountChecks.gate(context.getRealm(), roleName, user);
        if (decision.admits()) {
            context.success();
            return;
        }
        if (decision != MemberGate.Decision.DENY_NOT_A_MEMBER) {
            LOG.warnf("registry login denied to %s in realm %s: %s (role %s); the docker flow fails closed",
                    user == null ? "?" : user.getUsername(), context.getRealm().getName(), decision, roleName);
        }
        context.getEvent().error(Errors.ACCESS_DENIED);
        Response challenge = context.form().setError(Messages.ACCESS_DENIED)
                .createErrorPage(Response.Status.UNAUTHORIZED);
        context.failure(AuthenticationFlowError.ACCESS_DENIED, challenge);
    }

    @Override
    public void action(AuthenticationFlowContext context) {
        authenticate(context);
    }

    @Override
    public boolean requiresUser() {
        return true;
    }

    @Override
    public boolean configuredFor(KeycloakSession session, RealmModel realm, UserModel user) {
        return true;
    }

    @Override
    public void setRequiredActions(KeycloakSession session, RealmModel realm, UserModel user) {
    }

    @Override
    public void close() {
    }
}
