package dev.keycloakregistry.apppasswords;

import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import dev.keycloakregistry.StoredSecret;

/**
 * What an app password looks like, without Keycloak types, so it is tested on its own. An app password is
 * {@code kcrp_<credential id>_<secret>}, the secret a {@link StoredSecret}: the id finds the one stored credential to
 * check (no search over all of them), the prefix lets secret scanners and the docker login tell it from a password.
 */
public final class AppPasswordFormat {

    public static final String PREFIX = "kcrp_";
    public static final int MAX_NAME_LENGTH = 64;
    public static final long MIN_LIFETIME_SECONDS = 60;
    public static final long MAX_LIFETIME_SECONDS = 365L * 24 * 3600;
    public static final long DEFAULT_LIFETIME_SECONDS = 30L * 24 * 3600;

    /** The parts of an app password: the id of its stored credential and the secret checked against it. */
    public record Parsed(String credentialId, String secret) {
    }

    /** A Keycloak credential id (a UUID string), then the secret. */
    private static final Pattern PASSWORD = Pattern.compile(Pattern.quote(PREFIX)
            + "([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})_(" + StoredSecret.PATTERN + ")");
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9 ._-]{1," + MAX_NAME_LENGTH + "}");

    private AppPasswordFormat() {
    }

    /** The id and secret of an app password; empty for anything else (a user's own password, say). */
    public static Optional<Parsed> parse(String password) {
        if (password == null) {
            return Optional.empty();
        }
        Matcher matcher = PASSWORD.matcher(password);
        return matcher.matches() ? Optional.of(new Parsed(matcher.group(1), matcher.group(2))) : Optional.empty();
    }

    /** The app password of this stored credential and secret; refuses parts that would not parse back. */
    public static String format(String credentialId, String secret) {
        String password = PREFIX + credentialId + "_" + secret;
        if (parse(password).isEmpty()) {
            throw new IllegalArgumentException("an app password needs a UUID credential id and a 43-character secret");
        }
        return password;
    }

    /** The name, if valid: it is shown in lists and the admin console, and unique among the user's app passwords. */
    public static String validName(String name) {
        if (name == null || name.isBlank() || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("name: 1 to " + MAX_NAME_LENGTH
                    + " characters of letters, digits, space, '.', '_' and '-', not blank");
        }
        return name;
    }

    /** The lifetime asked for, if valid, in seconds; 30 days when none was asked for. */
    public static long validLifetime(Long expiresInSeconds) {
        if (expiresInSeconds == null) {
            return DEFAULT_LIFETIME_SECONDS;
        }
        if (expiresInSeconds < MIN_LIFETIME_SECONDS || expiresInSeconds > MAX_LIFETIME_SECONDS) {
            throw new IllegalArgumentException("expiresInSeconds: from " + MIN_LIFETIME_SECONDS + " to "
                    + MAX_LIFETIME_SECONDS + " (365 days), or left out for " + DEFAULT_LIFETIME_SECONDS + " (30 days)");
        }
        return expiresInSeconds;
    }
}
