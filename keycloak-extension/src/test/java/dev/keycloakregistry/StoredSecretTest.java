package dev.keycloakregistry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class StoredSecretTest {

    private static final String SECRET = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde";

    @Test
    void aNewSecretIsUnpaddedBase64urlOf32Bytes() {
        String secret = StoredSecret.newSecret();
        assertTrue(secret.matches(StoredSecret.PATTERN), secret);
    }

    /** Base64 of SHA-256, the value any other SHA-256 tool gives (here for "abc", from FIPS 180-2). */
    @Test
    void theStoredHashIsBase64OfSha256() {
        assertEquals("ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=", StoredSecret.hash("abc"));
    }

    @Test
    void onlyTheSecretItselfMatchesItsHash() {
        String stored = StoredSecret.hash(SECRET);
        assertTrue(StoredSecret.matches(SECRET, stored));
        assertFalse(StoredSecret.matches(SECRET.substring(1) + "A", stored));
        assertFalse(StoredSecret.matches(SECRET, StoredSecret.hash(SECRET + "x")));
        assertFalse(StoredSecret.matches(SECRET, null));
        assertFalse(StoredSecret.matches(SECRET, ""));
    }

    @Test
    void secretDataHoldsTheHashAndOnlyTheSecretMatchesIt() {
        String data = StoredSecret.secretData(SECRET);
        assertEquals("{\"sha256\":\"" + StoredSecret.hash(SECRET) + "\"}", data);
        assertTrue(StoredSecret.matchesSecretData(SECRET, data));
        assertFalse(StoredSecret.matchesSecretData(SECRET + "x", data));
        assertFalse(StoredSecret.matchesSecretData(SECRET, "{not json"));
        assertFalse(StoredSecret.matchesSecretData(SECRET, "{}"));
        assertFalse(StoredSecret.matchesSecretData(SECRET, null));
    }

    @Test
    void noSecretMatchesNothing() {
        assertFalse(StoredSecret.matches(null, StoredSecret.hash("")));
    }
}
