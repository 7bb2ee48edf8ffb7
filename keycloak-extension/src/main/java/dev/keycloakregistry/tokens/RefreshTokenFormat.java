package dev.keycloakregistry.tokens;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import dev.keycloakregistry.StoredSecret;

/**
 * What a refresh token looks like, without Keycloak types, so it is tested on its own: {@code
 * kcrt.<user id, base64url>.<credential id>.<secret>}. The ids find the one stored credential to check without a
 * search (a refresh request names no user); the secret is a {@link StoredSecret}; the prefix lets secret scanners
 * find a leaked one.
 */
public final class RefreshTokenFormat {

    public static final String PREFIX = "kcrt.";

    /** The parts of a refresh token. */
    public record Parsed(String userId, String credentialId, String secret) {
    }

    private static final int MAX_USER_ID_LENGTH = 255; // Keycloak's USER_ENTITY.ID column
    private static final Pattern TOKEN = Pattern.compile(Pattern.quote(PREFIX) + "([A-Za-z0-9_-]{1,340})\\."
            + "([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\\.(" + StoredSecret.PATTERN + ")");

    private RefreshTokenFormat() {
    }

    /** The parts of a refresh token; empty for anything else, a truncated or padded token included. */
    public static Optional<Parsed> parse(String token) {
        if (token == null) {
            return Optional.empty();
        }
        Matcher matcher = TOKEN.matcher(token);
        if (!matcher.matches()) {
            return Optional.empty();
        }
        return userId(matcher.group(1)).map(userId -> new Parsed(userId, matcher.group(2), matcher.group(3)));
    }

    /** The refresh token of this user's stored credential and secret; refuses parts that would not parse back. */
    public static String format(String userId, String credentialId, String secret) {
        String token = PREFIX + Base64.getUrlEncoder().withoutPadding()
                .encodeToString(userId.getBytes(StandardCharsets.UTF_8)) + "." + credentialId + "." + secret;
        if (!parse(token).map(parsed -> parsed.userId().equals(userId)).orElse(false)) {
            throw new IllegalArgumentException("a refresh token needs a user id, a UUID credential id and a secret");
        }
        return token;
    }

    private static Optional<String> userId(String encoded) {
        try {
            String userId = new String(Base64.getUrlDecoder().decode(encoded), StandardCharsets.UTF_8);
            boolean printable = !userId.isBlank() && userId.chars().allMatch(c -> c > 0x20 && c < 0x7f);
            return printable && userId.length() <= MAX_USER_ID_LENGTH ? Optional.of(userId) : Optional.empty();
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }
}
