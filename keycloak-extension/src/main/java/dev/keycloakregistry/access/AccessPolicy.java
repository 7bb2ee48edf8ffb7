package dev.keycloakregistry.access;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * Decides which of the scopes a registry client asked for go into its token. Pure (no Keycloak types), so
 * the rules are tested on their own; {@link RepositoryAccessMapper} feeds it the request and the user's roles.
 */
public final class AccessPolicy {

    public static final String REPOSITORY = "repository";
    public static final String REGISTRY = "registry";
    public static final String CATALOG = "catalog";
    public static final String ANY_ACTION = "*";
    /** The rule every grant of {@link #allowAll()} names, like the mapper's mode. */
    public static final String ALLOW_ALL_RULE = "allow-all";

    /**
     * One rule: these actions on repositories matching any of these globs; {@code catalog} adds registry:catalog:*.
     * The name (the role it comes from) is what the decision log cites.
     */
    public record Grant(List<String> repositories, Set<String> actions, boolean catalog, String name) {

        public static final String REPOSITORIES_ATTRIBUTE = "repositories";
        public static final String ACTIONS_ATTRIBUTE = "actions";
        public static final String CATALOG_ATTRIBUTE = "catalog";

        /** A rule not yet named after a role: named after what it allows, so a log line still tells it apart. */
        public Grant(List<String> repositories, Set<String> actions, boolean catalog) {
            this(repositories, actions, catalog, REPOSITORIES_ATTRIBUTE + "=" + String.join(",", repositories) + ";"
                    + ACTIONS_ATTRIBUTE + "=" + String.join(",", new TreeSet<>(actions)) + (catalog ? ";catalog" : ""));
        }

        /** This rule under the name of the role it comes from. */
        public Grant named(String role) {
            return new Grant(repositories, actions, catalog, role);
        }

        /** A grant from a role's attributes: repositories and actions comma-separated, catalog "true". */
        public static Grant fromAttributes(Map<String, List<String>> attributes) {
            List<String> repositories = listed(attributes.get(REPOSITORIES_ATTRIBUTE));
            List<String> actions = listed(attributes.get(ACTIONS_ATTRIBUTE));
            boolean catalog = listed(attributes.get(CATALOG_ATTRIBUTE)).contains("true");
            return new Grant(repositories, Set.copyOf(actions), catalog);
        }

        /** Every comma-separated item of every value (values in any order: Keycloak keeps no order). */
        private static List<String> listed(List<String> values) {
            if (values == null) {
                return List.of();
            }
            return values.stream().flatMap(value -> Arrays.stream(value.split(","))).map(String::trim)
                    .filter(item -> !item.isEmpty()).toList();
        }

        boolean covers(String repository) {
            return repositories.stream().anyMatch(pattern -> globMatches(pattern, repository));
        }
    }

    /** One {@code type:name:actions} item, as requested or as granted (the token's "access" entries). */
    public record Scope(String type, String name, List<String> actions) {

        /** The item as a registry client writes it. */
        @Override
        public String toString() {
            return type + ":" + name + ":" + String.join(",", actions);
        }
    }

    /**
     * What became of one requested scope: the actions granted and the rules that granted them, the actions refused
     * and why ({@code refusal}, empty when nothing was refused). A value, so the decision log is tested on its own.
     */
    public record Decision(Scope requested, List<String> granted, List<String> rules, List<String> refused,
                           String refusal) {

        /** The token's entry for this scope; none when every action was refused. */
        public Optional<Scope> grantedScope() {
            return granted.isEmpty() ? Optional.empty()
                    : Optional.of(new Scope(requested.type(), requested.name(), granted));
        }

        /**
         * The decision log's line: the user, the scope as requested, what was granted by which rules, why the rest
         * was refused. Names only, never a credential; control characters (the scope is the client's text) are
         * masked so one decision stays one line.
         */
        public String describe(String username) {
            StringBuilder line = new StringBuilder("registry scope ").append(requested)
                    .append(granted.isEmpty() ? " refused" : " granted").append(" to user ").append(username)
                    .append(": ");
            if (!granted.isEmpty()) {
                line.append(String.join(",", granted)).append(rules.size() == 1 ? " by rule " : " by rules ")
                        .append(String.join(", ", rules));
                if (!refused.isEmpty()) {
                    line.append("; ").append(String.join(",", refused)).append(" refused: ");
                }
            }
            return line.append(refusal).toString().replaceAll("[\\p{Cc}\\u2028\\u2029]", "?");
        }
    }

    private final boolean allowAll;
    private final List<Grant> grants;

    private AccessPolicy(boolean allowAll, List<Grant> grants) {
        this.allowAll = allowAll;
        this.grants = List.copyOf(grants);
    }

    /** Grants whatever is requested, like Keycloak's "Allow All" mapper, but for every scope parameter. */
    public static AccessPolicy allowAll() {
        return new AccessPolicy(true, List.of());
    }

    /** Grants only what these rules allow; no rules, no access. */
    public static AccessPolicy of(List<Grant> grants) {
        return new AccessPolicy(false, grants);
    }

    /** The granted scopes for these {@code scope} parameters, each decided on its own; empty grants are left out. */
    public List<Scope> grant(List<String> scopeParameters) {
        return decide(scopeParameters).stream().flatMap(decision -> decision.grantedScope().stream()).toList();
    }

    /** One decision per requested scope, in request order: what {@link #grant} grants, and why. */
    public List<Decision> decide(List<String> scopeParameters) {
        return parse(scopeParameters).stream().map(this::decide).toList();
    }

    /** The decision on one requested scope: each action is granted by every rule that allows it. */
    public Decision decide(Scope requested) {
        if (allowAll) {
            return new Decision(requested, requested.actions(), List.of(ALLOW_ALL_RULE), List.of(), "");
        }
        List<String> granted = new ArrayList<>();
        List<String> refused = new ArrayList<>();
        Set<String> rules = new LinkedHashSet<>();
        for (String action : requested.actions()) {
            List<String> by = grants.stream().filter(grant -> allows(grant, requested, action))
                    .map(Grant::name).toList();
            (by.isEmpty() ? refused : granted).add(action);
            rules.addAll(by);
        }
        return new Decision(requested, List.copyOf(granted), List.copyOf(rules), List.copyOf(refused),
                refused.isEmpty() ? "" : refusal(requested));
    }

    private static boolean allows(Grant grant, Scope requested, String action) {
        if (REPOSITORY.equals(requested.type())) {
            return grant.covers(requested.name())
                    && (grant.actions().contains(ANY_ACTION) || grant.actions().contains(action));
        }
        if (REGISTRY.equals(requested.type()) && CATALOG.equals(requested.name())) {
            return grant.catalog() && ANY_ACTION.equals(action);
        }
        return false;  // unknown resource types grant nothing
    }

    /** Why no rule allowed the refused actions of this scope, naming the rules that came closest. */
    private String refusal(Scope requested) {
        if (REPOSITORY.equals(requested.type())) {
            List<String> covering = grants.stream().filter(grant -> grant.covers(requested.name()))
                    .map(Grant::name).toList();
            return covering.isEmpty() ? "no rule covers the repository"
                    : "the rules covering the repository (" + String.join(", ", covering) + ") do not allow it";
        }
        if (REGISTRY.equals(requested.type()) && CATALOG.equals(requested.name())) {
            return grants.stream().anyMatch(Grant::catalog) ? "the catalog is granted only as registry:catalog:*"
                    : "no rule grants the catalog";
        }
        return "not a repository or the catalog: no rule grants it";
    }

    /**
     * Every requested item: each parameter may hold several space-separated items; a repository named twice
     * is merged. Items that are not {@code type:name:actions} are dropped. The name may itself hold colons.
     */
    public static List<Scope> parse(List<String> scopeParameters) {
        Map<List<String>, Set<String>> merged = new LinkedHashMap<>();
        for (String parameter : scopeParameters) {
            if (parameter == null) {
                continue;
            }
            for (String item : parameter.trim().split("\\s+")) {
                int first = item.indexOf(':');
                int last = item.lastIndexOf(':');
                if (first <= 0 || last <= first + 1) {
                    continue;
                }
                Set<String> actions = merged.computeIfAbsent(
                        List.of(item.substring(0, first), item.substring(first + 1, last)), key -> new LinkedHashSet<>());
                for (String action : item.substring(last + 1).split(",")) {
                    if (!action.isEmpty()) {
                        actions.add(action);
                    }
                }
            }
        }
        List<Scope> scopes = new ArrayList<>();
        merged.forEach((key, actions) -> {
            if (!actions.isEmpty()) {
                scopes.add(new Scope(key.get(0), key.get(1), List.copyOf(actions)));
            }
        });
        return scopes;
    }

    /** Glob match: {@code *} is any run of characters (slashes too), {@code ?} any one character. */
    public static boolean globMatches(String pattern, String name) {
        int p = 0;
        int n = 0;
        int star = -1;
        int resume = 0;
        while (n < name.length()) {
            if (p < pattern.length() && (pattern.charAt(p) == '?' || pattern.charAt(p) == name.charAt(n))) {
                p++;
                n++;
            } else if (p < pattern.length() && pattern.charAt(p) == '*') {
                star = p++;
                resume = n;
            } else if (star >= 0) {
                p = star + 1;
                n = ++resume;
            } else {
                return false;
            }
        }
        while (p < pattern.length() && pattern.charAt(p) == '*') {
            p++;
        }
        return p == pattern.length();
    }
}
