package dev.keycloakregistry.tokens;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;

import dev.keycloakregistry.tokens.RefreshTokenPolicy.Lifetimes;
import dev.keycloakregistry.tokens.RefreshTokenPolicy.Verdict;
import org.junit.jupiter.api.Test;

class RefreshTokenPolicyTest {

    private static final Lifetimes DAY_IDLE_WEEK_MAX = new Lifetimes(86_400, 604_800);
    private static final long ISSUED = 1_000_000;

    @Test
    void lifetimesComeFromTheClientsAttributes() {
        assertEquals(DAY_IDLE_WEEK_MAX, Lifetimes.of(Map.of(RefreshTokenPolicy.IDLE_ATTRIBUTE, "86400",
                RefreshTokenPolicy.MAX_AGE_ATTRIBUTE, "604800")));
    }

    /** No attributes (a client the program did not make) or damaged ones: no refresh tokens at all. */
    @Test
    void missingOrUnreadableAttributesTurnRefreshTokensOff() {
        assertFalse(Lifetimes.of(Map.of()).enabled());
        assertFalse(Lifetimes.of(Map.of(RefreshTokenPolicy.IDLE_ATTRIBUTE, "86400")).enabled());
        assertFalse(Lifetimes.of(Map.of(RefreshTokenPolicy.IDLE_ATTRIBUTE, "a day",
                RefreshTokenPolicy.MAX_AGE_ATTRIBUTE, "604800")).enabled());
        assertEquals(Verdict.DISABLED, RefreshTokenPolicy.judge(ISSUED, 0, 0, Lifetimes.OFF, ISSUED + 1));
    }

    @Test
    void aTokenInUseWorksUntilItsMaximumAge() {
        long lastUse = ISSUED + 604_000;
        assertEquals(Verdict.VALID, RefreshTokenPolicy.judge(ISSUED, lastUse, 0, DAY_IDLE_WEEK_MAX, ISSUED + 604_799));
        assertEquals(Verdict.EXPIRED, RefreshTokenPolicy.judge(ISSUED, lastUse, 0, DAY_IDLE_WEEK_MAX, ISSUED + 604_800));
    }

    @Test
    void anUnusedTokenEndsAfterTheIdleTimeoutCountedFromItsLastUse() {
        assertEquals(Verdict.VALID, RefreshTokenPolicy.judge(ISSUED, 0, 0, DAY_IDLE_WEEK_MAX, ISSUED + 86_399));
        assertEquals(Verdict.IDLE, RefreshTokenPolicy.judge(ISSUED, 0, 0, DAY_IDLE_WEEK_MAX, ISSUED + 86_400));
        long used = ISSUED + 50_000;
        assertEquals(Verdict.VALID, RefreshTokenPolicy.judge(ISSUED, used, 0, DAY_IDLE_WEEK_MAX, used + 86_399));
        assertEquals(Verdict.IDLE, RefreshTokenPolicy.judge(ISSUED, used, 0, DAY_IDLE_WEEK_MAX, used + 86_400));
    }

    /** Keycloak's not-before (admin "revoke", a user's sign-out): tokens issued up to that second end. */
    @Test
    void aRevocationEndsEveryTokenIssuedUpToItsSecond() {
        assertEquals(Verdict.REVOKED, RefreshTokenPolicy.judge(ISSUED, 0, ISSUED + 10, DAY_IDLE_WEEK_MAX, ISSUED + 20));
        assertEquals(Verdict.REVOKED, RefreshTokenPolicy.judge(ISSUED, 0, ISSUED, DAY_IDLE_WEEK_MAX, ISSUED + 1));
        assertEquals(Verdict.VALID, RefreshTokenPolicy.judge(ISSUED, 0, ISSUED - 1, DAY_IDLE_WEEK_MAX, ISSUED + 1));
    }

    @Test
    void useIsWrittenDownAtMostOncePerResolution() {
        assertFalse(RefreshTokenPolicy.recordsUse(ISSUED, 0, ISSUED + 59));
        assertTrue(RefreshTokenPolicy.recordsUse(ISSUED, 0, ISSUED + 60));
        assertFalse(RefreshTokenPolicy.recordsUse(ISSUED, ISSUED + 100, ISSUED + 159));
        assertTrue(RefreshTokenPolicy.recordsUse(ISSUED, ISSUED + 100, ISSUED + 160));
    }
}
