package dev.keycloakregistry.tokens;

import java.util.Map;
import java.util.Optional;

import jakarta.ws.rs.core.MultivaluedMap;
import jakarta.ws.rs.core.Response;
import dev.keycloakregistry.DockerErrors;
import org.keycloak.authentication.AuthenticationProcessor;
import org.keycloak.common.Profile;
import org.keycloak.common.util.Time;
import org.keycloak.events.Details;
import org.keycloak.events.Errors;
import org.keycloak.events.EventBuilder;
import org.keycloak.events.EventType;
import org.keycloak.http.HttpRequest;
import org.keycloak.models.ClientModel;
import org.keycloak.models.ClientSessionContext;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.UserModel;
import org.keycloak.models.UserSessionModel;
import org.keycloak.protocol.AuthorizationEndpointBase;
import org.keycloak.protocol.docker.DockerAuthV2Protocol;
import org.keycloak.services.Urls;
import org.keycloak.services.managers.AuthenticationManager;
import org.keycloak.services.resources.LoginActionsService;
import org.keycloak.services.util.CacheControlUtil;
import org.keycloak.sessions.AuthenticationSessionModel;
import org.keycloak.sessions.CommonClientSessionModel;
import org.keycloak.utils.ProfileHelper;

/**
 * A password login on the registry's token endpoint: the realm's docker authentication flow run exactly as
 * Keycloak's docker-v2 endpoint runs it (DockerEndpoint in 26.7), on the request's HTTP Basic credentials, or on a
 * password grant's form credentials. A failed login gets the flow's own answer (401 as docker-v2 gives it); what
 * a successful one gets depends on {@link Purpose}.
 */
final class RegistryLogin extends AuthorizationEndpointBase {

    /** What a successful login is for. */
    enum Purpose {
        /** A registry token. */
        TOKEN,
        /** A registry token and a refresh token (docker's offline_token=true, OAuth2's access_type=offline). */
        TOKEN_AND_REFRESH_TOKEN,
        /** Revoking every refresh token the user holds at the service. */
        REVOKE_REFRESH_TOKENS
    }

    private final MultivaluedMap<String, String> params;
    private final HttpRequest request;

    RegistryLogin(KeycloakSession session, MultivaluedMap<String, String> params, HttpRequest request) {
        super(session, new EventBuilder(session.getContext().getRealm(), session, session.getContext().getConnection())
                .event(EventType.LOGIN));
        this.params = params;
        this.request = request;
    }

    Response run(Purpose purpose) {
        ProfileHelper.requireFeature(Profile.Feature.DOCKER);
        checkSsl();
        checkRealm();
        ClientModel client = RegistryTokenResource.service(session, realm, params.getFirst(DockerAuthV2Protocol.SERVICE_PARAM), event);
        AuthenticationSessionModel authSession = createAuthenticationSession(client, null);
        authSession.setProtocol(DockerAuthV2Protocol.LOGIN_PROTOCOL);
        authSession.setAction(CommonClientSessionModel.Action.AUTHENTICATE.name());
        authSession.setClientNote(AuthenticationManager.USER_SESSION_PERSISTENT_STATE,
                UserSessionModel.SessionPersistenceState.TRANSIENT.toString());
        authSession.setClientNote(DockerAuthV2Protocol.ACCOUNT_PARAM, params.getFirst(DockerAuthV2Protocol.ACCOUNT_PARAM));
        authSession.setClientNote(DockerAuthV2Protocol.SERVICE_PARAM, client.getClientId());
        authSession.setClientNote(DockerAuthV2Protocol.SCOPE_PARAM, params.getFirst(DockerAuthV2Protocol.SCOPE_PARAM));
        authSession.setClientNote(DockerAuthV2Protocol.ISSUER,
                Urls.realmIssuer(session.getContext().getUri().getBaseUri(), realm.getName()));
        CacheControlUtil.noBackButtonCacheControlHeader(session);
        AuthenticationProcessor processor = createProcessor(authSession, realm.getDockerAuthenticationFlow().getId(),
                LoginActionsService.AUTHENTICATE_PATH);
        event.detail(Details.CODE_ID, authSession.getParentSession().getId());
        try {
            Response challenge = processor.authenticateOnly();
            if (challenge != null) {
                return challenge;
            }
            AuthenticationManager.setClientScopesInSession(session, authSession);
            if (processor.nextRequiredAction() != null) {
                event.error(Errors.RESOLVE_REQUIRED_ACTIONS);
                return DockerErrors.unauthorized("the account has required actions: complete them in the account console",
                        authSession.getClientNote(DockerAuthV2Protocol.SCOPE_PARAM));
            }
            // Keycloak's own path (processor.authenticate()) would answer through the registered docker-v2 protocol;
            // finishing here hands the answer to ours, as Keycloak's passive logins do.
            return processor.finishAuthentication(new Protocol(session, event, purpose,
                    authSession.getAuthNote(LoginBinding.NOTE)));
        } catch (Exception e) {
            return processor.handleBrowserException(e);
        }
    }

    @Override
    protected AuthenticationProcessor createProcessor(AuthenticationSessionModel authSession, String flowId, String flowPath) {
        return super.createProcessor(authSession, flowId, flowPath).setRequest(request);
    }

    /** The docker protocol with the answer of {@link RegistryTokenIssuer}, and a refresh token when asked for. */
    private static final class Protocol extends DockerAuthV2Protocol {

        private final KeycloakSession session;
        private final Purpose purpose;
        private final String loginCredential;

        Protocol(KeycloakSession session, EventBuilder event, Purpose purpose, String loginCredential) {
            super(session, session.getContext().getRealm(), session.getContext().getUri(),
                    session.getContext().getHttpRequest().getHttpHeaders(), event);
            this.session = session;
            this.purpose = purpose;
            this.loginCredential = loginCredential;
        }

        @Override
        public Response authenticated(AuthenticationSessionModel authSession, UserSessionModel userSession,
                                      ClientSessionContext clientSessionContext) {
            UserModel user = userSession.getUser();
            ClientModel client = clientSessionContext.getClientSession().getClient();
            if (purpose == Purpose.REVOKE_REFRESH_TOKENS) {
                return RegistryTokenResource.noStore(Response.ok(Map.of("revoked", RefreshTokens.revokeAll(user, client))));
            }
            RegistryTokenIssuer.Issued issued = RegistryTokenIssuer.issue(session, session.getContext().getRealm(),
                    authSession.getClientNote(DockerAuthV2Protocol.ISSUER), userSession, clientSessionContext);
            String refreshToken = null;
            if (purpose == Purpose.TOKEN_AND_REFRESH_TOKEN) {
                long now = Time.currentTimeSeconds();
                RefreshTokenPolicy.Lifetimes lifetimes = RefreshTokenPolicy.Lifetimes.of(client.getAttributes());
                Optional<String> binding = LoginBinding.of(user, loginCredential, now);
                if (lifetimes.enabled() && binding.isPresent()) {
                    refreshToken = RefreshTokens.mint(user, client, binding.get(), lifetimes, now);
                }
            }
            return RegistryTokenResource.noStore(Response.ok(TokenResponse.of(issued, refreshToken)));
        }
    }
}
