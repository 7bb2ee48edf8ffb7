package dev.keycloakregistry.login;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.Optional;

import dev.keycloakregistry.DockerErrors;
import dev.keycloakregistry.apppasswords.AppPasswordFormat;
import dev.keycloakregistry.apppasswords.AppPasswords;
import dev.keycloakregistry.robots.PreviousPasswords;
import dev.keycloakregistry.tokens.LoginBinding;
import jakarta.ws.rs.core.HttpHeaders;
import org.jboss.logging.Logger;
import org.keycloak.authentication.AuthenticationFlowContext;
import org.keycloak.authentication.AuthenticationFlowError;
import org.keycloak.common.util.Time;
import org.keycloak.events.Errors;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.ModelException;
import org.keycloak.models.RealmModel;
import org.keycloak.models.UserModel;
import org.keycloak.models.credential.PasswordCredentialModel;
import org.keycloak.protocol.docker.DockerAuthV2Protocol;
import org.keycloak.protocol.docker.DockerAuthenticator;
import org.keycloak.storage.StorageUnavailableException;

/**
 * Keycloak's Docker Authenticator, plus the account lifecycle the registry needs:
 * <ul>
 * <li>success is recorded as a password login, so brute-force detection resets the failure count as the login form
 * does;</li>
 * <li>an account past the expiry on one of its roles of the docker client is refused, as a wrong password is;</li>
 * <li>a password rotated out still works until the end of its overlap ({@link PreviousPasswords});</li>
 * <li>an app password ({@link AppPasswords}) works until it expires or is revoked, for users with no password of
 * their own too (brokered from an external identity provider); a wrong one is a failed login like a wrong
 * password;</li>
 * <li>a user store that cannot answer (a directory that is down) refuses the login with 401, as a wrong password
 * is refused, instead of Keycloak's 500.</li>
 * </ul>
 */
public final class DockerPasswordAuthenticator extends DockerAuthenticator {

    /** The event error of a login refused because the account expired. */
    public static final String ACCOUNT_EXPIRED = "account_expired";
    /** The event error of a login refused because a user store (the directory) failed. */
    public static final String USER_STORE_FAILED = "user_store_failed";

    private static final Logger LOG = Logger.getLogger(DockerPasswordAuthenticator.class);

    @Override
    public void authenticate(AuthenticationFlowContext context) {
        try {
            super.authenticate(context);
        } catch (ModelException | StorageUnavailableException failure) {
            LOG.warnf("docker login refused: a user store failed (%s)", failure.getMessage());
            context.getEvent().error(USER_STORE_FAILED);
            context.failure(AuthenticationFlowError.INVALID_USER, DockerErrors.unauthorized(
                    "Invalid username or password.",
                    context.getAuthenticationSession().getClientNote(DockerAuthV2Protocol.SCOPE_PARAM)));
        }
    }

    @Override
    protected void userSuccessAction(AuthenticationFlowContext context, UserModel user) {
        long now = Time.currentTimeSeconds();
        if (AccountChecks.expired(user, context.getAuthenticationSession().getClient(), now)) {
            userDisabledAction(context, context.getRealm(), user, ACCOUNT_EXPIRED);
            return;
        }
        String credential = context.getAuthenticationSession().getAuthNote(LoginBinding.NOTE);
        if (credential == null) {
            context.getAuthenticationSession().setAuthNote(LoginBinding.NOTE, LoginBinding.PASSWORD);
        } else if (credential.startsWith(LoginBinding.APP_PASSWORD)) {
            AppPasswords.recordUse(user, credential.substring(LoginBinding.APP_PASSWORD.length()), now);
        }
        context.getAuthenticationSession().setAuthenticatedUser(user);
        context.success(PasswordCredentialModel.TYPE);
    }

    @Override
    protected void notValidCredentialsAction(AuthenticationFlowContext context, RealmModel realm, UserModel user) {
        KeycloakSession session = context.getSession();
        long now = Time.currentTimeSeconds();
        Optional<String> acceptedAs = basicPassword(context)
                .flatMap(password -> acceptedAs(session, user, password, now));
        if (acceptedAs.isEmpty()) {
            super.notValidCredentialsAction(context, realm, user);
        } else if (realm.isBruteForceProtected()
                && context.getProtector().isTemporarilyDisabled(session, realm, user)) {
            userDisabledAction(context, realm, user, Errors.USER_TEMPORARILY_DISABLED);
        } else if (!user.isEnabled()) {
            userDisabledAction(context, realm, user, Errors.USER_DISABLED);
        } else {
            context.getAuthenticationSession().setAuthNote(LoginBinding.NOTE, acceptedAs.get());
            userSuccessAction(context, user);
        }
    }

    /** Which of the user's other credentials the password is ({@link LoginBinding}'s names), if any. */
    private static Optional<String> acceptedAs(KeycloakSession session, UserModel user, String password, long now) {
        Optional<AppPasswordFormat.Parsed> appPassword = AppPasswordFormat.parse(password);
        if (appPassword.isPresent()) {
            return AppPasswords.accepts(user, password, now)
                    ? Optional.of(LoginBinding.APP_PASSWORD + appPassword.get().credentialId()) : Optional.empty();
        }
        return PreviousPasswords.accepts(session, user, password, now)
                ? Optional.of(LoginBinding.PREVIOUS_PASSWORD) : Optional.empty();
    }

    /** The password of the request's HTTP Basic credentials (Keycloak's parser is private to its class). */
    private static Optional<String> basicPassword(AuthenticationFlowContext context) {
        List<String> headers = context.getHttpRequest().getHttpHeaders().getRequestHeader(HttpHeaders.AUTHORIZATION);
        return Optional.ofNullable(headers).flatMap(all -> all.stream()
                        .filter(header -> header.startsWith("Basic ")).reduce((first, last) -> last))
                .map(header -> header.substring("Basic ".length()).trim())
                .flatMap(DockerPasswordAuthenticator::decoded)
                .filter(credentials -> credentials.contains(":"))
                .map(credentials -> credentials.substring(credentials.indexOf(':') + 1));
    }

    private static Optional<String> decoded(String base64) {
        try {
            return Optional.of(new String(Base64.getMimeDecoder().decode(base64), StandardCharsets.UTF_8));
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }
}
