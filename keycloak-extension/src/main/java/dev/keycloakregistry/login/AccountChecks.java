package dev.keycloakregistry.login;

import java.util.Objects;

import dev.keycloakregistry.robots.RobotLifecycle;
import org.jboss.logging.Logger;
import org.keycloak.models.AuthenticationExecutionModel;
import org.keycloak.models.AuthenticationFlowModel;
import org.keycloak.models.AuthenticatorConfigModel;
import org.keycloak.models.ClientModel;
import org.keycloak.models.RealmModel;
import org.keycloak.models.RoleModel;
import org.keycloak.models.UserModel;

/**
 * What a registry login checks of an account besides its password, shared by the docker flow's authenticators and
 * the refresh grant, so a refresh re-checks exactly what a password login checks.
 */
public final class AccountChecks {

    private static final Logger LOG = Logger.getLogger(AccountChecks.class);

    private AccountChecks() {
    }

    /** Whether one of the user's roles of the client carries an expiry (robots) that {@code now} has reached. */
    public static boolean expired(UserModel user, ClientModel client, long now) {
        return RobotLifecycle.expired(client.getRolesStream().filter(user::hasRole)
                .map(role -> role.getFirstAttribute(RobotLifecycle.EXPIRES_AT)).filter(Objects::nonNull).toList(), now);
    }

    /** The member gate's decision for a user, its configured role named {@code roleName} (null if unset). */
    public static MemberGate.Decision gate(RealmModel realm, String roleName, UserModel user) {
        RoleModel role = roleName == null || roleName.isBlank() ? null : realm.getRole(roleName);
        return MemberGate.decide(roleName, role != null, user != null && role != null && user.hasRole(role));
    }

    /**
     * Whether the realm's docker flow, without its password step, admits the user: every enabled member gate in it
     * does. A flow holding any other step (a condition, an OTP form) admits nobody, since a refresh cannot run it.
     */
    public static boolean dockerFlowAdmits(RealmModel realm, UserModel user) {
        AuthenticationFlowModel flow = realm.getDockerAuthenticationFlow();
        return flow != null && admits(realm, flow, user);
    }

    private static boolean admits(RealmModel realm, AuthenticationFlowModel flow, UserModel user) {
        return realm.getAuthenticationExecutionsStream(flow.getId())
                .filter(execution -> execution.getRequirement() != AuthenticationExecutionModel.Requirement.DISABLED)
                .allMatch(execution -> admits(realm, execution, user));
    }

    private static boolean admits(RealmModel realm, AuthenticationExecutionModel execution, UserModel user) {
        if (execution.isAuthenticatorFlow()) {
            AuthenticationFlowModel subFlow = realm.getAuthenticationFlowById(execution.getFlowId());
            return subFlow != null && admits(realm, subFlow, user);
        }
        String authenticator = execution.getAuthenticator();
        if (DockerPasswordAuthenticatorFactory.PROVIDER_ID.equals(authenticator)) {
            return true;
        }
        if (MemberGateAuthenticatorFactory.PROVIDER_ID.equals(authenticator)) {
            AuthenticatorConfigModel config = execution.getAuthenticatorConfig() == null ? null
                    : realm.getAuthenticatorConfigById(execution.getAuthenticatorConfig());
            String roleName = config == null || config.getConfig() == null ? null
                    : config.getConfig().get(MemberGateAuthenticatorFactory.ROLE);
            return gate(realm, roleName, user).admits();
        }
        LOG.warnf("refresh grant refused in realm %s: its docker flow runs %s, which a refresh cannot re-check",
                realm.getName(), authenticator);
        return false;
    }
}
