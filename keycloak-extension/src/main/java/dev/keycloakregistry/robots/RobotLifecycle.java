package dev.keycloakregistry.robots;

import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.List;
import java.util.OptionalLong;

/**
 * The two time limits of an account's passwords, as data Keycloak stores: an expiry on the account's client role
 * (after it, no login), and the end of the overlap of a password rotated out. Unreadable data counts as expired,
 * so a damaged attribute or label closes the door rather than opening it.
 */
public final class RobotLifecycle {

    /** Client-role attribute: the account may not log in from this instant on (epoch seconds). */
    public static final String EXPIRES_AT = "expires-at";
    /** Credential type of a password rotated out that still works until the instant its label names. */
    public static final String PREVIOUS_PASSWORD = "keycloak-registry-previous-password";
    private static final String VALID_UNTIL = "valid until ";

    private RobotLifecycle() {
    }

    /** Whether a login at {@code now} (epoch seconds) comes at or after any of these expiries. */
    public static boolean expired(List<String> expiresAt, long now) {
        return expiresAt.stream().anyMatch(value -> !before(now, value));
    }

    /** The label of a password rotated out: when it stops working, readable in the admin console too. */
    public static String previousPasswordLabel(long validUntil) {
        return VALID_UNTIL + Instant.ofEpochSecond(validUntil);
    }

    /** When a rotated-out password stops working, from its label; empty if the label is not one of ours. */
    public static OptionalLong validUntil(String label) {
        if (label == null || !label.startsWith(VALID_UNTIL)) {
            return OptionalLong.empty();
        }
        try {
            return OptionalLong.of(Instant.parse(label.substring(VALID_UNTIL.length())).getEpochSecond());
        } catch (DateTimeParseException e) {
            return OptionalLong.empty();
        }
    }

    /** Whether a rotated-out password with this label still works at {@code now}. */
    public static boolean stillValid(String label, long now) {
        OptionalLong until = validUntil(label);
        return until.isPresent() && now < until.getAsLong();
    }

    private static boolean before(long now, String expiresAt) {
        try {
            return now < Long.parseLong(expiresAt.trim());
        } catch (NumberFormatException | NullPointerException e) {
            return false;
        }
    }
}
