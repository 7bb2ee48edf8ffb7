package dev.keycloakregistry.robots;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.OptionalLong;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class RobotLifecycleTest {

    private static final long NOW = 1_800_000_000L;

    /** Expired at or after the instant; no expiry never expires; an unreadable one counts as expired. */
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "''                        | false",
        "1800000001                | false",
        "1800000000                | true",
        "1799999999                | true",
        "1800000001,1799999999     | true",
        "not-a-time                | true",
        "' 1800000001 '            | false",
    })
    void expires(String attributes, boolean expected) {
        List<String> values = attributes.isEmpty() ? List.of() : Arrays.asList(attributes.split(","));
        assertEquals(expected, RobotLifecycle.expired(values, NOW));
    }

    @Test
    void aRotatedOutPasswordWorksUntilTheEndOfItsOverlap() {
        String label = RobotLifecycle.previousPasswordLabel(NOW + 60);
        assertEquals("valid until 2027-01-15T08:01:00Z", label);
        assertEquals(OptionalLong.of(NOW + 60), RobotLifecycle.validUntil(label));
        assertTrue(RobotLifecycle.stillValid(label, NOW + 59));
        assertFalse(RobotLifecycle.stillValid(label, NOW + 60));
    }

    /** A label that is not ours, or damaged, never lets an old password in. */
    @ParameterizedTest
    @CsvSource(nullValues = "null", value = {"null", "''", "my laptop", "valid until tomorrow", "valid until 1800000060"})
    void anUnreadableLabelNeverAdmits(String label) {
        assertFalse(RobotLifecycle.stillValid(label, NOW));
    }
}
