package dev.keycloakregistry.tokens;

import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

import dev.keycloakregistry.StoredSecret;
import dev.keycloakregistry.login.AccountChecks;
import dev.keycloakregistry.tokens.RefreshTokenPolicy.Lifetimes;
import dev.keycloakregistry.tokens.RefreshTokenPolicy.Verdict;
import org.keycloak.credential.CredentialModel;
import org.keycloak.models.ClientModel;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.RealmModel;
import org.keycloak.models.UserModel;
import org.keycloak.models.utils.KeycloakModelUtils;
import org.keycloak.util.JsonSerialization;

/**
 * A user's refresh tokens for the registry: each a credential of the user's under our own type, bound to one
 * docker-v2 client (the registry's service) and to the credential its login proved ({@link LoginBinding}). Only a
 * SHA-256 of the secret is stored; the token exists once, in what {@link #mint} returns.
 */
public final class RefreshTokens {

    /** Credential type: userLabel the service and login time, secretData the hash, credentialData {@link Data}. */
    public static final String TYPE = "keycloak-registry-refresh-token";
    /** The most refresh tokens one user holds per service; a new login drops the oldest beyond it. */
    public static final int MAX_PER_SERVICE = 50;

    /** The credential's credentialData: the client's internal id, the login's fingerprint, the last use. */
    record Data(String client, String binding, long lastUsedAt) {
    }

    /** Stored data that cannot be read: bound to nothing, so it matches no client and no credential. */
    private static final Data UNREADABLE = new Data("", null, 0);

    private RefreshTokens() {
    }

    /** A stored token with its parsed data. */
    private record Held(CredentialModel credential, Data data) {
    }

    /** A new refresh token for the user at this client, resting on {@code binding}; drops ended and surplus ones. */
    public static String mint(UserModel user, ClientModel client, String binding, Lifetimes lifetimes, long now) {
        List<Held> held = heldAt(user, client)
                .sorted(Comparator.comparingLong(token -> StoredSecret.createdAt(token.credential()))).toList();
        int surplus = held.size() - MAX_PER_SERVICE + 1;
        for (Held token : held) {
            long createdAt = StoredSecret.createdAt(token.credential());
            if (surplus-- > 0
                    || RefreshTokenPolicy.judge(createdAt, token.data().lastUsedAt(), 0, lifetimes, now)
                    != Verdict.VALID) {
                user.credentialManager().removeStoredCredentialById(token.credential().getId());
            }
        }
        String secret = StoredSecret.newSecret();
        CredentialModel credential = new CredentialModel();
        credential.setType(TYPE);
        // unique among the user's tokens, as Keycloak wants a credential label; readable in the admin console
        credential.setUserLabel(client.getClientId() + " login " + Instant.ofEpochSecond(now) + " "
                + KeycloakModelUtils.generateId().substring(0, 8));
        credential.setCreatedDate(now * 1000);
        credential.setSecretData(StoredSecret.secretData(secret));
        credential.setCredentialData(JsonSerialization.valueAsString(new Data(client.getId(), binding, 0)));
        String id = user.credentialManager().createStoredCredential(credential).getId();
        return RefreshTokenFormat.format(user.getId(), id, secret);
    }

    /**
     * Whether the stored refresh token {@code parsed} names still stands for {@code user} at {@code client}: the same
     * checks as a password login (enabled, no required action, the docker flow's member gate, the account's expiry),
     * plus its own lifetimes, Keycloak's revocations (not-before of realm, client and user) and the credential it
     * rests on. Records its use on success. Empty if it stands, else why not (for the event log, never the caller).
     */
    public static Optional<String> refusal(KeycloakSession session, RealmModel realm, ClientModel client,
                                           UserModel user, RefreshTokenFormat.Parsed parsed, long now) {
        Optional<CredentialModel> found = stored(user)
                .filter(credential -> credential.getId().equals(parsed.credentialId())).findFirst();
        if (found.isEmpty() || !StoredSecret.matchesSecretData(parsed.secret(), found.get().getSecretData())) {
            return Optional.of("unknown or revoked refresh token");
        }
        CredentialModel credential = found.get();
        Data data = data(credential);
        if (!data.client().equals(client.getId())) {
            return Optional.of("refresh token of another service");
        }
        long notBefore = Math.max(Math.max(realm.getNotBefore(), client.getNotBefore()),
                session.users().getNotBeforeOfUser(realm, user));
        Verdict verdict = RefreshTokenPolicy.judge(StoredSecret.createdAt(credential), data.lastUsedAt(), notBefore,
                Lifetimes.of(client.getAttributes()), now);
        if (verdict != Verdict.VALID) {
            return Optional.of("refresh token " + verdict.name().toLowerCase());
        }
        if (!realm.isEnabled() || !user.isEnabled()) {
            return Optional.of("realm or user disabled");
        }
        if (user.getRequiredActionsStream().findAny().isPresent()) {
            return Optional.of("the user has required actions (a password login is refused too)");
        }
        if (AccountChecks.expired(user, client, now)) {
            return Optional.of("account expired");
        }
        if (!AccountChecks.dockerFlowAdmits(realm, user)) {
            return Optional.of("not admitted by the docker flow (not a member)");
        }
        if (!LoginBinding.stillHolds(user, data.binding(), now)) {
            return Optional.of("the credential of its login changed");
        }
        if (RefreshTokenPolicy.recordsUse(StoredSecret.createdAt(credential), data.lastUsedAt(), now)) {
            credential.setCredentialData(JsonSerialization.valueAsString(new Data(data.client(), data.binding(), now)));
            user.credentialManager().updateStoredCredential(credential);
        }
        return Optional.empty();
    }

    /** Removes the refresh token if it is one of this user's and its secret is right; true if it was. */
    public static boolean revoke(UserModel user, RefreshTokenFormat.Parsed token) {
        return stored(user).anyMatch(credential -> credential.getId().equals(token.credentialId())
                && StoredSecret.matchesSecretData(token.secret(), credential.getSecretData()))
                && user.credentialManager().removeStoredCredentialById(token.credentialId());
    }

    /** Removes every refresh token the user holds at this client; how many. */
    public static int revokeAll(UserModel user, ClientModel client) {
        List<Held> held = heldAt(user, client).toList();
        held.forEach(token -> user.credentialManager().removeStoredCredentialById(token.credential().getId()));
        return held.size();
    }

    private static Stream<Held> heldAt(UserModel user, ClientModel client) {
        return stored(user).map(credential -> new Held(credential, data(credential)))
                .filter(token -> token.data().client().equals(client.getId()));
    }

    private static Stream<CredentialModel> stored(UserModel user) {
        return user.credentialManager().getStoredCredentialsByTypeStream(TYPE);
    }

    private static Data data(CredentialModel credential) {
        return StoredSecret.credentialData(credential, Data.class).filter(data -> data.client() != null)
                .orElse(UNREADABLE);
    }
}
