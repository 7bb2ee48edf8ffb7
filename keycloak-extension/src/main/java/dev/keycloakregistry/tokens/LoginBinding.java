package dev.keycloakregistry.tokens;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Optional;

import dev.keycloakregistry.StoredSecret;
import dev.keycloakregistry.apppasswords.AppPasswords;
import org.keycloak.models.LDAPConstants;
import org.keycloak.models.UserModel;
import org.keycloak.models.credential.PasswordCredentialModel;

/**
 * What a refresh token rests on: a fingerprint of the credential the login proved. A refresh recomputes it, so a
 * changed password (in Keycloak or in the directory) or a revoked or expired app password ends the token at its
 * next use. The docker flow's authenticator names the credential in an auth note ({@link #NOTE}).
 */
public final class LoginBinding {

    /** Auth-session note: which credential the login's password was. */
    public static final String NOTE = "keycloak-registry.login-credential";
    /** The user's own password, kept by Keycloak or checked by the directory. */
    public static final String PASSWORD = "password";
    /** An app password; its credential id follows. */
    public static final String APP_PASSWORD = "app-password:";
    /** A password rotated out, in its overlap: it gets no refresh token (it is on its way out). */
    public static final String PREVIOUS_PASSWORD = "previous-password";

    private static final String LOCAL = "password:";
    private static final String DIRECTORY = "directory:";

    private LoginBinding() {
    }

    /**
     * The fingerprint of the credential a login used ({@code how}: one of this class's names), or empty when a
     * refresh could not re-check it: then the login gets no refresh token.
     */
    public static Optional<String> of(UserModel user, String how, long now) {
        if (PASSWORD.equals(how)) {
            return user.getFederationLink() != null ? directoryEntry(user) : localPassword(user);
        }
        if (how != null && how.startsWith(APP_PASSWORD)
                && AppPasswords.holds(user, how.substring(APP_PASSWORD.length()), now)) {
            return Optional.of(how);
        }
        return Optional.empty();
    }

    /** Whether the credential behind a stored fingerprint is still the one the login proved. */
    public static boolean stillHolds(UserModel user, String stored, long now) {
        if (stored == null) {
            return false;
        }
        String how = stored.startsWith(LOCAL) || stored.startsWith(DIRECTORY) ? PASSWORD : stored;
        return of(user, how, now).map(current -> MessageDigest.isEqual(current.getBytes(StandardCharsets.UTF_8),
                stored.getBytes(StandardCharsets.UTF_8))).orElse(false);
    }

    /** The stored password: any change (a reset, a rotation, an admin's new password) changes its id, date or hash. */
    private static Optional<String> localPassword(UserModel user) {
        return user.credentialManager().getStoredCredentialsByTypeStream(PasswordCredentialModel.TYPE).findFirst()
                .map(password -> LOCAL + StoredSecret.hash(String.join("\n", password.getId(),
                        String.valueOf(password.getCreatedDate()), password.getSecretData())));
    }

    /**
     * The directory entry's last modification (Keycloak's "modify date" mapper, read live from the directory): a
     * password change or a lock there changes it. Without the mapper there is nothing to bind to.
     */
    private static Optional<String> directoryEntry(UserModel user) {
        return Optional.ofNullable(user.getFirstAttribute(LDAPConstants.MODIFY_TIMESTAMP))
                .map(modified -> DIRECTORY + StoredSecret.hash(user.getFederationLink() + "\n" + modified));
    }
}
