package dev.keycloakregistry.login;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.keycloakregistry.login.MemberGate.Decision;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class MemberGateTest {

    /** Only a member of an existing role passes; a missing role or configuration denies members too. */
    @ParameterizedTest
    @CsvSource(nullValues = "null", value = {
        "registry-users-access, true,  true,  ADMIT",
        "registry-users-access, true,  false, DENY_NOT_A_MEMBER",
        "registry-users-access, false, false, DENY_UNKNOWN_ROLE",
        "registry-users-access, false, true,  DENY_UNKNOWN_ROLE",
        "null,                  false, false, DENY_NOT_CONFIGURED",
        "'  ',                  true,  true,  DENY_NOT_CONFIGURED",
    })
    void decides(String role, boolean exists, boolean holds, Decision expected) {
        assertEquals(expected, MemberGate.decide(role, exists, holds));
    }
}
