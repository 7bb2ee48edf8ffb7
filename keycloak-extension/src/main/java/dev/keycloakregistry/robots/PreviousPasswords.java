package dev.keycloakregistry.robots;

import java.util.List;

import org.keycloak.credential.CredentialModel;
import org.keycloak.credential.hash.PasswordHashProvider;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.UserModel;
import org.keycloak.models.credential.PasswordCredentialModel;

/**
 * Passwords rotated out, kept as Keycloak stored them (the same hash, salt and algorithm under our own credential
 * type), each working until the end of its overlap. Keycloak keeps one password per user; this is the second.
 */
public final class PreviousPasswords {

    private PreviousPasswords() {
    }

    /** The user's current password moves aside, to work until {@code validUntil}; expired ones are dropped. */
    public static void keepCurrent(UserModel user, long now, long validUntil) {
        dropExpired(user, now);
        user.credentialManager().getStoredCredentialsByTypeStream(PasswordCredentialModel.TYPE).findFirst()
                .ifPresent(current -> {
                    CredentialModel previous = new CredentialModel();
                    previous.setType(RobotLifecycle.PREVIOUS_PASSWORD);
                    previous.setSecretData(current.getSecretData());
                    previous.setCredentialData(current.getCredentialData());
                    previous.setCreatedDate(now * 1000);
                    previous.setUserLabel(RobotLifecycle.previousPasswordLabel(validUntil));
                    user.credentialManager().createStoredCredential(previous);
                });
    }

    /** Whether a password rotated out and still inside its overlap matches. */
    public static boolean accepts(KeycloakSession session, UserModel user, String password, long now) {
        return user.credentialManager().getStoredCredentialsByTypeStream(RobotLifecycle.PREVIOUS_PASSWORD)
                .filter(previous -> RobotLifecycle.stillValid(previous.getUserLabel(), now))
                .anyMatch(previous -> matches(session, previous, password));
    }

    /** The rotated-out passwords that still work, oldest first. */
    public static List<CredentialModel> valid(UserModel user, long now) {
        return user.credentialManager().getStoredCredentialsByTypeStream(RobotLifecycle.PREVIOUS_PASSWORD)
                .filter(previous -> RobotLifecycle.stillValid(previous.getUserLabel(), now)).toList();
    }

    public static void dropExpired(UserModel user, long now) {
        user.credentialManager().getStoredCredentialsByTypeStream(RobotLifecycle.PREVIOUS_PASSWORD)
                .filter(previous -> !RobotLifecycle.stillValid(previous.getUserLabel(), now)).toList()
                .forEach(previous -> user.credentialManager().removeStoredCredentialById(previous.getId()));
    }

    private static boolean matches(KeycloakSession session, CredentialModel stored, String password) {
        PasswordCredentialModel model = PasswordCredentialModel.createFromCredentialModel(stored);
        PasswordHashProvider hash = session.getProvider(PasswordHashProvider.class,
                model.getPasswordCredentialData().getAlgorithm());
        return hash != null && hash.verify(password, model);
    }
}
