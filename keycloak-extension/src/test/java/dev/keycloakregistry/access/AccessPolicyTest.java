package dev.keycloakregistry.access;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.Set;

import dev.keycloakregistry.access.AccessPolicy.Grant;
import dev.keycloakregistry.access.AccessPolicy.Scope;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class AccessPolicyTest {

    /** The README's example: team-a pushes and pulls its own repositories, platform its own and pulls all. */
    private static final Grant TEAM_A = new Grant(List.of("team-a/*"), Set.of("pull", "push"), false);
    private static final Grant PLATFORM_OWN = new Grant(List.of("platform/*"), Set.of("pull", "push"), false);
    private static final Grant PLATFORM_READ_ALL = new Grant(List.of("*"), Set.of("pull"), false);

    private static List<Scope> grant(AccessPolicy policy, String... scopeParameters) {
        return policy.grant(List.of(scopeParameters));
    }

    private static Scope repository(String name, String... actions) {
        return new Scope("repository", name, List.of(actions));
    }

    @Test
    void teamMemberGetsOnlyTheActionsItsRulesAllow() {
        AccessPolicy teamA = AccessPolicy.of(List.of(TEAM_A));
        assertEquals(List.of(repository("team-a/app", "pull", "push")), grant(teamA, "repository:team-a/app:pull,push"));
        assertEquals(List.of(), grant(teamA, "repository:team-b/app:pull"));
        assertEquals(List.of(), grant(teamA, "repository:team-a/app:delete"));
    }

    @Test
    void rulesOfSeveralRolesAddUp() {
        AccessPolicy platform = AccessPolicy.of(List.of(PLATFORM_OWN, PLATFORM_READ_ALL));
        assertEquals(List.of(repository("team-a/app", "pull")), grant(platform, "repository:team-a/app:pull,push"));
        assertEquals(List.of(repository("platform/base", "pull", "push")), grant(platform, "repository:platform/base:pull,push"));
    }

    @Test
    void everyScopeParameterIsDecidedOnItsOwn() {
        // skopeo's cross-repository mount: push to the target, pull from the source, in two parameters.
        AccessPolicy teamA = AccessPolicy.of(List.of(TEAM_A, new Grant(List.of("platform/*"), Set.of("pull"), false)));
        assertEquals(List.of(repository("team-a/app", "pull", "push"), repository("platform/base", "pull")),
                grant(teamA, "repository:team-a/app:pull,push", "repository:platform/base:pull,push"));
        assertEquals(List.of(repository("team-a/app", "pull", "push")),
                grant(teamA, "repository:team-a/app:pull,push", "repository:team-b/app:pull"));
    }

    @Test
    void spaceSeparatedItemsInOneParameterCountLikeSeveralParameters() {
        AccessPolicy all = AccessPolicy.allowAll();
        assertEquals(List.of(repository("a", "pull"), repository("b", "push")), grant(all, "repository:a:pull repository:b:push"));
    }

    @Test
    void theSameRepositoryRequestedTwiceIsMerged() {
        assertEquals(List.of(repository("a", "pull", "push")),
                grant(AccessPolicy.allowAll(), "repository:a:pull", "repository:a:push,pull"));
    }

    @Test
    void allowAllGrantsEveryWellFormedRequest() {
        assertEquals(List.of(new Scope("registry", "catalog", List.of("*")), repository("x/y", "pull", "push", "delete")),
                grant(AccessPolicy.allowAll(), "registry:catalog:*", "repository:x/y:pull,push,delete"));
    }

    @Test
    void starActionGrantsWhateverIsRequested() {
        AccessPolicy admin = AccessPolicy.of(List.of(new Grant(List.of("*"), Set.of("*"), false)));
        assertEquals(List.of(repository("any/thing", "pull", "push", "delete")), grant(admin, "repository:any/thing:pull,push,delete"));
    }

    @Test
    void catalogOnlyThroughACatalogRule() {
        assertEquals(List.of(), grant(AccessPolicy.of(List.of(new Grant(List.of("*"), Set.of("*"), false))), "registry:catalog:*"));
        AccessPolicy withCatalog = AccessPolicy.of(List.of(new Grant(List.of(), Set.of(), true)));
        assertEquals(List.of(new Scope("registry", "catalog", List.of("*"))), grant(withCatalog, "registry:catalog:*"));
        assertEquals(List.of(), grant(withCatalog, "registry:other:*", "repository:a:pull"));
    }

    @Test
    void noRulesNoAccess() {
        assertEquals(List.of(), grant(AccessPolicy.of(List.of()), "repository:a:pull", "registry:catalog:*"));
    }

    @Test
    void unknownTypesGrantNothingUnderRules() {
        AccessPolicy everything = AccessPolicy.of(List.of(new Grant(List.of("*"), Set.of("*"), true)));
        assertEquals(List.of(), grant(everything, "repository(plugin):a:pull", "other:a:pull"));
    }

    @ParameterizedTest
    @CsvSource(value = {"''", "repository", "repository:a", "repository::pull", "repository:a:", ":a:pull", "repository:a:,,"},
            quoteCharacter = '\'')
    void malformedItemsAreDropped(String item) {
        assertEquals(List.of(), AccessPolicy.parse(List.of(item)));
        assertEquals(List.of(), grant(AccessPolicy.allowAll(), item));
    }

    @Test
    void aNameMayHoldColons() {
        assertEquals(List.of(repository("host:5000/a", "pull")), AccessPolicy.parse(List.of("repository:host:5000/a:pull")));
    }

    @Test
    void nullParametersAreIgnored() {
        assertEquals(List.of(), AccessPolicy.parse(java.util.Arrays.asList((String) null)));
    }

    @ParameterizedTest
    @CsvSource({
            "team-a/*, team-a/app, true",
            "team-a/*, team-a/tools/build, true",
            "team-a/*, team-a, false",
            "team-a/*, team-ab/app, false",
            "*, anything/at/all, true",
            "exact, exact, true",
            "exact, exactly, false",
            "a?c, abc, true",
            "a?c, ac, false",
            "*/app, team-a/app, true",
            "*/app, team-a/app2, false",
            "a*b*c, aXbYbZc, true",
            "a*b*c, aXbYbZ, false",
    })
    void globs(String pattern, String name, boolean matches) {
        assertEquals(matches, AccessPolicy.globMatches(pattern, name));
    }

    @Test
    void grantFromRoleAttributes() {
        Grant grant = Grant.fromAttributes(Map.of("repositories", List.of("team-a/*,shared/*"),
                "actions", List.of("pull,push"), "catalog", List.of("true")));
        assertEquals(List.of("team-a/*", "shared/*"), grant.repositories());
        assertEquals(Set.of("pull", "push"), grant.actions());
        assertTrue(grant.catalog());
        Grant empty = Grant.fromAttributes(Map.of());
        assertEquals(List.of(), empty.repositories());
        assertFalse(empty.catalog());
        Grant multiValued = Grant.fromAttributes(Map.of("repositories", List.of("b/*", "a/*, c/*", ""), "actions", List.of("push", "pull")));
        assertEquals(List.of("b/*", "a/*", "c/*"), multiValued.repositories());
        assertEquals(Set.of("pull", "push"), multiValued.actions());
    }
}
