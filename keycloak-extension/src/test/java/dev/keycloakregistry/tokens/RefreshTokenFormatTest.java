package dev.keycloakregistry.tokens;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Optional;

import dev.keycloakregistry.StoredSecret;
import dev.keycloakregistry.tokens.RefreshTokenFormat.Parsed;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.NullSource;
import org.junit.jupiter.params.provider.ValueSource;

class RefreshTokenFormatTest {

    private static final String USER = "6f1c2b1e-9d43-4b8e-8a55-0c7e5d1f2a3b";
    private static final String ID = "0f8fad5b-d9cb-469f-a165-70867728950e";
    private static final String SECRET = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde";
    private static final String TOKEN = RefreshTokenFormat.format(USER, ID, SECRET);

    @Test
    void aTokenParsesBackIntoItsUserCredentialAndSecret() {
        assertEquals(Optional.of(new Parsed(USER, ID, SECRET)), RefreshTokenFormat.parse(TOKEN));
        assertEquals("kcrt.", TOKEN.substring(0, 5));
    }

    /** Federated user ids are not UUIDs ("f:<component>:<id>"): any printable id goes, base64url-encoded. */
    @Test
    void anyPrintableUserIdRoundTrips() {
        String federated = "f:4c1a3b2e-1111-2222-3333-444455556666:uid=erin,ou=people";
        String secret = StoredSecret.newSecret();
        assertEquals(Optional.of(new Parsed(federated, ID, secret)),
                RefreshTokenFormat.parse(RefreshTokenFormat.format(federated, ID, secret)));
    }

    /** Forged, truncated, padded or otherwise altered tokens parse to nothing, so they never reach a lookup. */
    @ParameterizedTest
    @NullSource
    @ValueSource(strings = {"", "kcrt.", "kcrt...", "hunter2", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
        "kcrp_0f8fad5b-d9cb-469f-a165-70867728950e_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde"})
    void anythingElseIsNotARefreshToken(String token) {
        assertEquals(Optional.empty(), RefreshTokenFormat.parse(token));
    }

    @Test
    void truncatedPaddedOrReshapedTokensAreRefused() {
        assertEquals(Optional.empty(), RefreshTokenFormat.parse(TOKEN.substring(0, TOKEN.length() - 1)));
        assertEquals(Optional.empty(), RefreshTokenFormat.parse(TOKEN + "A"));
        assertEquals(Optional.empty(), RefreshTokenFormat.parse(" " + TOKEN));
        assertEquals(Optional.empty(), RefreshTokenFormat.parse(TOKEN + "\n"));
        assertEquals(Optional.empty(), RefreshTokenFormat.parse(TOKEN.toUpperCase()));
        assertEquals(Optional.empty(), RefreshTokenFormat.parse(TOKEN.replace(ID, ID.substring(1))));
        assertEquals(Optional.empty(), RefreshTokenFormat.parse("kcrt.." + ID + "." + SECRET));
        assertEquals(Optional.empty(), RefreshTokenFormat.parse("kcrt.IA." + ID + "." + SECRET)); // a blank user id
    }

    @Test
    void aTokenIsOnlyMadeOfPartsThatParseBack() {
        assertThrows(IllegalArgumentException.class, () -> RefreshTokenFormat.format(USER, "42", SECRET));
        assertThrows(IllegalArgumentException.class, () -> RefreshTokenFormat.format(USER, ID, "short"));
        assertThrows(IllegalArgumentException.class, () -> RefreshTokenFormat.format(" ", ID, SECRET));
    }
}
