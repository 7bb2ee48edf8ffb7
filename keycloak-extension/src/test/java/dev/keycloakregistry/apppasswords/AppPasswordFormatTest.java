package dev.keycloakregistry.apppasswords;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Optional;

import dev.keycloakregistry.StoredSecret;
import dev.keycloakregistry.apppasswords.AppPasswordFormat.Parsed;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.NullSource;
import org.junit.jupiter.params.provider.ValueSource;

class AppPasswordFormatTest {

    private static final String ID = "0f8fad5b-d9cb-469f-a165-70867728950e";
    private static final String SECRET = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde";
    private static final String PASSWORD = "kcrp_" + ID + "_" + SECRET;

    @Test
    void aPasswordParsesBackIntoItsCredentialIdAndSecret() {
        assertEquals(PASSWORD, AppPasswordFormat.format(ID, SECRET));
        assertEquals(Optional.of(new Parsed(ID, SECRET)), AppPasswordFormat.parse(PASSWORD));
    }

    /** A secret may contain '_' and '-' (base64url): the fixed lengths, not the separators, split the parts. */
    @Test
    void underscoresInTheSecretDoNotConfuseTheParser() {
        String secret = "___________________________________________";
        assertEquals(Optional.of(new Parsed(ID, secret)), AppPasswordFormat.parse(AppPasswordFormat.format(ID, secret)));
    }

    @Test
    void everyNewSecretMakesAPasswordThatParsesBack() {
        String secret = StoredSecret.newSecret();
        assertEquals(43, secret.length());
        assertEquals(Optional.of(new Parsed(ID, secret)), AppPasswordFormat.parse(AppPasswordFormat.format(ID, secret)));
    }

    @Test
    void twoMintsNeverShareASecret() {
        assertNotEquals(StoredSecret.newSecret(), StoredSecret.newSecret());
    }

    /** Anything but an app password (a user's own password, say) parses to nothing. */
    @ParameterizedTest
    @NullSource
    @ValueSource(strings = {
        "",
        "hunter2",
        "kcrp_",
        "KCRP_0f8fad5b-d9cb-469f-a165-70867728950e_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde",
        "kcrq_0f8fad5b-d9cb-469f-a165-70867728950e_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde",
        "0f8fad5b-d9cb-469f-a165-70867728950e_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde",
        "kcrp_0f8fad5b-d9cb-469f-a165-70867728950e_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcd",
        "kcrp_0f8fad5b-d9cb-469f-a165-70867728950e_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcdef",
        "kcrp_0f8fad5b-d9cb-469f-a165-70867728950_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde",
        "kcrp_0F8FAD5B-D9CB-469F-A165-70867728950E_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde",
        "kcrp_0f8fad5b-d9cb-469f-a165-70867728950g_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde",
        "kcrp_0f8fad5bd9cb-469f-a165-70867728950e0_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde",
        "kcrp_0f8fad5b-d9cb-469f-a165-70867728950e-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde",
        "kcrp_0f8fad5b-d9cb-469f-a165-70867728950e_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789+/abcde",
        "kcrp_0f8fad5b-d9cb-469f-a165-70867728950e_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcd=",
        " kcrp_0f8fad5b-d9cb-469f-a165-70867728950e_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde",
        "kcrp_0f8fad5b-d9cb-469f-a165-70867728950e_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde\n",
    })
    void anythingElseIsNotAnAppPassword(String password) {
        assertEquals(Optional.empty(), AppPasswordFormat.parse(password));
    }

    @Test
    void aPasswordIsOnlyMadeOfPartsThatParseBack() {
        assertThrows(IllegalArgumentException.class, () -> AppPasswordFormat.format("42", SECRET));
        assertThrows(IllegalArgumentException.class, () -> AppPasswordFormat.format(ID, "short"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"a", "laptop", "CI runner 2", "build.example-org_7", "0123456789012345678901234567890123456789012345678901234567890123"})
    void validNamesAreKeptAsGiven(String name) {
        assertEquals(name, AppPasswordFormat.validName(name));
    }

    @ParameterizedTest
    @NullSource
    @ValueSource(strings = {"", "   ", "laptop/ci", "ordinateur portable é", "tab\there", "line\nbreak", "name:x",
        "01234567890123456789012345678901234567890123456789012345678901234"})
    void invalidNamesAreRefusedNamingTheFieldAndWhatItExpects(String name) {
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                () -> AppPasswordFormat.validName(name));
        assertEquals("name: 1 to 64 characters of letters, digits, space, '.', '_' and '-', not blank",
                refused.getMessage());
    }

    @ParameterizedTest
    @CsvSource(nullValues = "null", value = {"null, 2592000", "60, 60", "3600, 3600", "31536000, 31536000"})
    void lifetimesFromAMinuteToAYearAreAcceptedAndThirtyDaysIsTheDefault(Long asked, long expected) {
        assertEquals(expected, AppPasswordFormat.validLifetime(asked));
    }

    @ParameterizedTest
    @ValueSource(longs = {Long.MIN_VALUE, -1, 0, 59, 31536001, Long.MAX_VALUE})
    void otherLifetimesAreRefusedNamingTheFieldAndWhatItExpects(long asked) {
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                () -> AppPasswordFormat.validLifetime(asked));
        assertEquals("expiresInSeconds: from 60 to 31536000 (365 days), or left out for 2592000 (30 days)",
                refused.getMessage());
    }
}
