package dev.keycloakregistry.access;

import static dev.keycloakregistry.access.AccessPolicy.ALLOW_ALL_RULE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import dev.keycloakregistry.access.AccessPolicy.Decision;
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

    /** The README's roles, named as the mapper names them: after the client role they come from. */
    private static final AccessPolicy PLATFORM = AccessPolicy.of(List.of(PLATFORM_OWN.named("platform"),
            PLATFORM_READ_ALL.named("read-all"), new Grant(List.of(), Set.of(), true).named("catalog")));

    private static Decision decide(AccessPolicy policy, String scopeParameter) {
        List<Decision> decisions = policy.decide(List.of(scopeParameter));
        assertEquals(1, decisions.size());
        return decisions.get(0);
    }

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

    @Test
    void aGrantedScopeNamesEveryRuleThatGrantedIt() {
        Decision own = decide(PLATFORM, "repository:platform/base:pull,push");
        assertEquals(List.of("pull", "push"), own.granted());
        assertEquals(List.of("platform", "read-all"), own.rules());
        assertEquals(List.of(), own.refused());
        assertEquals(Optional.of(repository("platform/base", "pull", "push")), own.grantedScope());
        Decision catalog = decide(PLATFORM, "registry:catalog:*");
        assertEquals(List.of("catalog"), catalog.rules());
        assertEquals(List.of(ALLOW_ALL_RULE), decide(AccessPolicy.allowAll(), "repository:x/y:pull,delete").rules());
    }

    @Test
    void aRefusedScopeSaysWhy() {
        Decision partly = decide(PLATFORM, "repository:team-a/app:pull,push");
        assertEquals(List.of("pull"), partly.granted());
        assertEquals(List.of("read-all"), partly.rules());
        assertEquals(List.of("push"), partly.refused());
        assertEquals("the rules covering the repository (read-all) do not allow it", partly.refusal());
        Decision refused = decide(AccessPolicy.of(List.of(TEAM_A.named("team-a"))), "repository:team-b/app:pull");
        assertEquals(List.of(), refused.granted());
        assertEquals(List.of(), refused.rules());
        assertEquals(List.of("pull"), refused.refused());
        assertEquals("no rule covers the repository", refused.refusal());
        assertEquals(Optional.empty(), refused.grantedScope());
        assertEquals("no rule grants the catalog", decide(AccessPolicy.of(List.of()), "registry:catalog:*").refusal());
        assertEquals("the catalog is granted only as registry:catalog:*",
                decide(PLATFORM, "registry:catalog:pull").refusal());
        assertEquals("not a repository or the catalog: no rule grants it", decide(PLATFORM, "other:a:pull").refusal());
    }

    @Test
    void decisionsAreWhatIsGranted() {
        List<String> request = List.of("repository:platform/base:pull,push,delete", "repository:team-a/app:push",
                "registry:catalog:*", "repository:team-a/app:pull", "other:a:pull");
        List<Decision> decisions = PLATFORM.decide(request);
        assertEquals(AccessPolicy.parse(request), decisions.stream().map(Decision::requested).toList());
        assertEquals(PLATFORM.grant(request), decisions.stream().flatMap(d -> d.grantedScope().stream()).toList());
    }

    @Test
    void anUnnamedRuleIsNamedAfterWhatItAllows() {
        assertEquals("repositories=team-a/*;actions=pull,push", TEAM_A.name());
        assertEquals("repositories=;actions=;catalog", new Grant(List.of(), Set.of(), true).name());
        Grant fromRole = Grant.fromAttributes(Map.of("repositories", List.of("team-a/*"), "actions", List.of("pull")));
        assertEquals(new Grant(List.of("team-a/*"), Set.of("pull"), false, "team-a"), fromRole.named("team-a"));
    }

    @Test
    void theLogLineNamesTheUserTheScopeAndTheRuleAndNothingElse() {
        assertEquals("registry scope repository:platform/base:pull,push granted to user alice: pull,push by rules "
                + "platform, read-all", decide(PLATFORM, "repository:platform/base:pull,push").describe("alice"));
        assertEquals("registry scope registry:catalog:* granted to user alice: * by rule catalog",
                decide(PLATFORM, "registry:catalog:*").describe("alice"));
        assertEquals("registry scope repository:team-a/app:pull,push granted to user alice: pull by rule read-all; "
                + "push refused: the rules covering the repository (read-all) do not allow it",
                decide(PLATFORM, "repository:team-a/app:pull,push").describe("alice"));
        assertEquals("registry scope repository:team-b/app:pull refused to user bob: no rule covers the repository",
                decide(AccessPolicy.of(List.of(TEAM_A.named("team-a"))), "repository:team-b/app:pull").describe("bob"));
        assertEquals("registry scope repository:x/y:pull granted to user robot-ci: pull by rule allow-all",
                decide(AccessPolicy.allowAll(), "repository:x/y:pull").describe("robot-ci"));
    }

    @Test
    void oneDecisionStaysOneLogLine() {
        // The scope is the client's text: a C1 "next line" or a Unicode line separator must not forge a second line.
        Decision forged = decide(AccessPolicy.allowAll(), "repository:a\u0085forged\u2028line\u0007:pull");
        assertEquals("registry scope repository:a?forged?line?:pull granted to user alice: pull by rule allow-all",
                forged.describe("alice"));
    }
}
