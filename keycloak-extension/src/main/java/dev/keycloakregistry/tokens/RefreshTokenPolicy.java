package dev.keycloakregistry.tokens;

import java.util.Map;

/**
 * When a refresh token stops working, without Keycloak types, so it is tested on its own. Lifetimes come from
 * attributes of the docker-v2 client (set by the program from its settings), so a shorter setting applies to tokens
 * already issued. Missing or unreadable attributes mean "off": damage closes the door rather than opening it.
 */
public final class RefreshTokenPolicy {

    /** Client attribute: seconds a refresh token may go unused before it ends (0 or absent: no refresh tokens). */
    public static final String IDLE_ATTRIBUTE = "keycloak-registry.refresh-token.idle-seconds";
    /** Client attribute: seconds after its issue that a refresh token ends however often it is used. */
    public static final String MAX_AGE_ATTRIBUTE = "keycloak-registry.refresh-token.max-age-seconds";
    /** The last use is recorded at most this often, so a fleet sharing one token does not write on every pull. */
    public static final long LAST_USE_RESOLUTION_SECONDS = 60;

    /** Why a refresh token no longer yields access tokens. */
    public enum Verdict {
        VALID, DISABLED, EXPIRED, IDLE, REVOKED
    }

    /** The two lifetimes, in seconds. */
    public record Lifetimes(long idleSeconds, long maxAgeSeconds) {

        public static final Lifetimes OFF = new Lifetimes(0, 0);

        /** The lifetimes the client's attributes state; {@link #OFF} when either is missing or not a number. */
        public static Lifetimes of(Map<String, String> clientAttributes) {
            try {
                return new Lifetimes(Long.parseLong(clientAttributes.getOrDefault(IDLE_ATTRIBUTE, "0")),
                        Long.parseLong(clientAttributes.getOrDefault(MAX_AGE_ATTRIBUTE, "0")));
            } catch (NumberFormatException e) {
                return OFF;
            }
        }

        public boolean enabled() {
            return idleSeconds > 0 && maxAgeSeconds > 0;
        }
    }

    private RefreshTokenPolicy() {
    }

    /**
     * Whether a token issued at {@code createdAt} and last used at {@code lastUsedAt} (0: never) still works at
     * {@code now}. {@code notBefore} is Keycloak's revocation time (the latest of the realm's, the client's and the
     * user's, in seconds, 0 for none); a token issued in that very second counts as revoked, since the second
     * cannot tell before from after.
     */
    public static Verdict judge(long createdAt, long lastUsedAt, long notBefore, Lifetimes lifetimes, long now) {
        if (!lifetimes.enabled()) {
            return Verdict.DISABLED;
        }
        if (notBefore > 0 && createdAt <= notBefore) {
            return Verdict.REVOKED;
        }
        if (now >= createdAt + lifetimes.maxAgeSeconds()) {
            return Verdict.EXPIRED;
        }
        if (now >= Math.max(createdAt, lastUsedAt) + lifetimes.idleSeconds()) {
            return Verdict.IDLE;
        }
        return Verdict.VALID;
    }

    /** Whether this use must be written down: idle time is measured to {@link #LAST_USE_RESOLUTION_SECONDS}. */
    public static boolean recordsUse(long createdAt, long lastUsedAt, long now) {
        return now - Math.max(createdAt, lastUsedAt) >= LAST_USE_RESOLUTION_SECONDS;
    }
}
