package dev.keycloakregistry.login;

/**
 * Who may pass the docker flow: only a user holding the configured role. Every other case denies, so a role that
 * was deleted or renamed, or a missing configuration, turns everybody away instead of letting everybody in
 * (Keycloak's "Condition - User Role" answers "no match" for an unknown role, whatever its negate says).
 */
public final class MemberGate {

    /** The gate's answer and, for the log, why. */
    public enum Decision {
        ADMIT, DENY_NOT_CONFIGURED, DENY_UNKNOWN_ROLE, DENY_NOT_A_MEMBER;

        public boolean admits() {
            return this == ADMIT;
        }
    }

    private MemberGate() {
    }

    public static Decision decide(String configuredRole, boolean roleExists, boolean userHasRole) {
        if (configuredRole == null || configuredRole.isBlank()) {
            return Decision.DENY_NOT_CONFIGURED;
        }
        if (!roleExists) {
            return Decision.DENY_UNKNOWN_ROLE;
        }
        return userHasRole ? Decision.ADMIT : Decision.DENY_NOT_A_MEMBER;
    }
}
