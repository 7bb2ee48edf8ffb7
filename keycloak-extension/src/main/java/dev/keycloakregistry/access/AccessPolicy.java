package dev.keycloakregistry.access;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Decides which of the scopes a registry client asked for go into its token. Pure (no Keycloak types), so
 * the rules are tested on their own; {@link RepositoryAccessMapper} feeds it the request and the user's roles.
 */
public final class AccessPolicy {

    public static final String REPOSITORY = "repository";
    public static final String REGISTRY = "registry";
    public static final String CATALOG = "catalog";
    public static final String ANY_ACTION = "*";

    /** One rule: these actions on repositories matching any of these globs; {@code catalog} adds registry:catalog:*. */
    public record Grant(List<String> repositories, Set<String> actions, boolean catalog) {

        public static final String REPOSITORIES_ATTRIBUTE = "repositories";
        public static final String ACTIONS_ATTRIBUTE = "actions";
        public static final String CATALOG_ATTRIBUTE = "catalog";

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
        List<Scope> granted = new ArrayList<>();
        for (Scope requested : parse(scopeParameters)) {
            List<String> actions = requested.actions().stream().filter(action -> allows(requested, action)).toList();
            if (!actions.isEmpty()) {
                granted.add(new Scope(requested.type(), requested.name(), actions));
            }
        }
        return granted;
    }

    private boolean allows(Scope requested, String action) {
        if (allowAll) {
            return true;
        }
        if (REPOSITORY.equals(requested.type())) {
            return grants.stream().filter(grant -> grant.covers(requested.name()))
                    .anyMatch(grant -> grant.actions().contains(ANY_ACTION) || grant.actions().contains(action));
        }
        if (REGISTRY.equals(requested.type()) && CATALOG.equals(requested.name())) {
            return ANY_ACTION.equals(action) && grants.stream().anyMatch(Grant::catalog);
        }
        return false;  // unknown resource types grant nothing
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
