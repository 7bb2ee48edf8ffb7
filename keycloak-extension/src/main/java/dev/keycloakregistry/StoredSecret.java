package dev.keycloakregistry;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.Optional;

import org.keycloak.credential.CredentialModel;
import org.keycloak.util.JsonSerialization;

/**
 * The random secret of an app password or a refresh token, and what is stored of it: a SHA-256, never the secret.
 * The secret has 256 bits of entropy, so a fast hash is as strong as a slow one (GitHub stores its tokens the same
 * way), and a login checks it in microseconds instead of the tens of milliseconds of a password hash.
 */
public final class StoredSecret {

    /** Length of a secret: 32 bytes as unpadded base64url. */
    public static final int LENGTH = 43;
    /** A secret's characters (base64url), for the patterns that parse one out of a credential. */
    public static final String PATTERN = "[A-Za-z0-9_-]{" + LENGTH + "}";

    /** A credential's secretData: {@code {"sha256": "<base64>"}}. */
    record Stored(String sha256) {
    }

    private static final int BYTES = 32;
    private static final SecureRandom RANDOM = new SecureRandom();

    private StoredSecret() {
    }

    /** A new secret: 32 bytes of SecureRandom, unpadded base64url. */
    public static String newSecret() {
        byte[] secret = new byte[BYTES];
        RANDOM.nextBytes(secret);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(secret);
    }

    /** What is stored of a secret: base64 of its SHA-256. */
    public static String hash(String secret) {
        try {
            return Base64.getEncoder().encodeToString(
                    MessageDigest.getInstance("SHA-256").digest(secret.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }

    /** A credential's secretData holding what is stored of a secret. */
    public static String secretData(String secret) {
        return JsonSerialization.valueAsString(new Stored(hash(secret)));
    }

    /** Whether the secret is the one a credential's secretData holds; unreadable data matches nothing. */
    public static boolean matchesSecretData(String secret, String secretData) {
        if (secretData == null) {
            return false;
        }
        try {
            Stored stored = JsonSerialization.valueFromString(secretData, Stored.class);
            return stored != null && matches(secret, stored.sha256());
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    /** When a credential holding a stored secret was made, in epoch seconds (0 if it does not say). */
    public static long createdAt(CredentialModel credential) {
        return credential.getCreatedDate() == null ? 0 : credential.getCreatedDate() / 1000;
    }

    /** The credential's credentialData read as {@code type}; empty when missing or unreadable. */
    public static <T> Optional<T> credentialData(CredentialModel credential, Class<T> type) {
        try {
            return Optional.ofNullable(JsonSerialization.valueFromString(credential.getCredentialData(), type));
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    /** Whether the secret is the one stored, compared in constant time so timing tells nothing of the hash. */
    public static boolean matches(String secret, String storedHash) {
        return secret != null && storedHash != null && MessageDigest.isEqual(
                hash(secret).getBytes(StandardCharsets.UTF_8), storedHash.getBytes(StandardCharsets.UTF_8));
    }
}
