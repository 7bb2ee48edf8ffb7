package dev.keycloakregistry.apppasswords;

import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

import dev.keycloakregistry.StoredSecret;
import dev.keycloakregistry.apppasswords.AppPasswordFormat.Parsed;
import org.keycloak.credential.CredentialModel;
import org.keycloak.models.UserModel;
import org.keycloak.util.JsonSerialization;

/**
 * A user's app passwords: registry logins for users who have no password of their own (brokered from an external
 * identity provider), each a credential of the user's under our own type, named, expiring, revocable on its own.
 * Only a SHA-256 of the secret is stored; the password exists once, in what {@link #mint} returns.
 */
public final class AppPasswords {

    /** Credential type of an app password: userLabel its name, secretData its hash, credentialData its times. */
    public static final String TYPE = "keycloak-registry-app-password";
    /** The most app passwords that have not expired one user may hold. */
    public static final int MAX_PER_USER = 20;
    /** The last use is recorded at most this often, so parallel logins with one password do not all write. */
    private static final long LAST_USE_RESOLUTION_SECONDS = 60;

    /** A new app password; the only value that ever holds the password. Times in epoch seconds. */
    public record Minted(String id, String name, long createdAt, long expiresAt, String password) {
    }

    /** What a list shows of an app password: never its secret. Times in epoch seconds, lastUsedAt 0 if never. */
    public record Summary(String id, String name, long createdAt, long expiresAt, long lastUsedAt, boolean expired) {
    }

    /** A mint refused because of what the user already holds: too many app passwords, or one of the same name. */
    public static final class Conflict extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Conflict(String message) {
            super(message);
        }
    }

    /** The credential's credentialData, in epoch seconds. */
    record Times(long expiresAt, long lastUsedAt) {
    }

    /** Stored data that cannot be read: counts as expired, so damage closes the door rather than opening it. */
    private static final Times UNREADABLE = new Times(0, 0);

    private AppPasswords() {
    }

    /**
     * A new app password named {@code name}, valid until {@code expiresAt}; expired ones are dropped first.
     * The credential is created before the password is known: the password carries the id Keycloak gives it.
     *
     * @throws Conflict when the user already holds {@link #MAX_PER_USER} or one named {@code name}
     */
    public static Minted mint(UserModel user, String name, long expiresAt, long now) {
        dropExpired(user, now);
        List<CredentialModel> held = stored(user).toList();
        if (held.stream().anyMatch(credential -> name.equals(credential.getUserLabel()))) {
            throw new Conflict("name: you already have an app password named \"" + name + "\"");
        }
        if (held.size() >= MAX_PER_USER) {
            throw new Conflict("you already have " + MAX_PER_USER
                    + " app passwords, the most allowed: revoke one first");
        }
        String secret = StoredSecret.newSecret();
        CredentialModel credential = new CredentialModel();
        credential.setType(TYPE);
        credential.setUserLabel(name);
        credential.setCreatedDate(now * 1000);
        credential.setSecretData(StoredSecret.secretData(secret));
        credential.setCredentialData(JsonSerialization.valueAsString(new Times(expiresAt, 0)));
        String id = user.credentialManager().createStoredCredential(credential).getId();
        return new Minted(id, name, now, expiresAt, AppPasswordFormat.format(id, secret));
    }

    /** The user's app passwords, oldest first, expired ones included (until the next mint drops them). */
    public static List<Summary> list(UserModel user, long now) {
        return stored(user).map(credential -> {
            Times times = times(credential);
            return new Summary(credential.getId(), credential.getUserLabel(), StoredSecret.createdAt(credential),
                    times.expiresAt(), times.lastUsedAt(), now >= times.expiresAt());
        }).sorted(Comparator.comparingLong(Summary::createdAt)).toList();
    }

    /** Removes the app password if it is one of this user's: an id of another user's credential removes nothing. */
    public static boolean revoke(UserModel user, String id) {
        return stored(user).anyMatch(credential -> credential.getId().equals(id))
                && user.credentialManager().removeStoredCredentialById(id);
    }

    /** Whether the password is one of the user's app passwords, unexpired. Records nothing: see {@link #recordUse}. */
    public static boolean accepts(UserModel user, String password, long now) {
        Optional<Parsed> parsed = AppPasswordFormat.parse(password);
        if (parsed.isEmpty()) {
            return false;
        }
        Optional<CredentialModel> stored = stored(user)
                .filter(credential -> credential.getId().equals(parsed.get().credentialId())).findFirst();
        if (stored.isEmpty()) {
            return false;
        }
        return now < times(stored.get()).expiresAt()
                && StoredSecret.matchesSecretData(parsed.get().secret(), stored.get().getSecretData());
    }

    /**
     * Records a login with the app password {@code id}: only once the login has passed every check (a locked,
     * disabled or expired account's attempt is no use), and at most once per {@value #LAST_USE_RESOLUTION_SECONDS} s.
     */
    public static void recordUse(UserModel user, String id, long now) {
        stored(user).filter(credential -> credential.getId().equals(id)).findFirst().ifPresent(credential -> {
            Times times = times(credential);
            if (now - times.lastUsedAt() > LAST_USE_RESOLUTION_SECONDS) {
                credential.setCredentialData(JsonSerialization.valueAsString(new Times(times.expiresAt(), now)));
                user.credentialManager().updateStoredCredential(credential);
            }
        });
    }

    /** Whether the user still holds this app password, unexpired: what a refresh token it got rests on. */
    public static boolean holds(UserModel user, String id, long now) {
        return stored(user)
                .anyMatch(credential -> credential.getId().equals(id) && now < times(credential).expiresAt());
    }

    private static void dropExpired(UserModel user, long now) {
        stored(user).filter(credential -> now >= times(credential).expiresAt()).toList()
                .forEach(credential -> user.credentialManager().removeStoredCredentialById(credential.getId()));
    }

    private static Stream<CredentialModel> stored(UserModel user) {
        return user.credentialManager().getStoredCredentialsByTypeStream(TYPE);
    }

    private static Times times(CredentialModel credential) {
        return StoredSecret.credentialData(credential, Times.class).orElse(UNREADABLE);
    }
}
