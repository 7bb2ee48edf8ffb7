package dev.keycloakregistry.tokens;

import java.util.Map;
import java.util.Optional;

import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.MultivaluedMap;
import jakarta.ws.rs.core.Response;
import org.jboss.logging.Logger;
import org.keycloak.common.ClientConnection;
import org.keycloak.common.Profile;
import org.keycloak.common.util.Time;
import org.keycloak.events.Details;
import org.keycloak.events.Errors;
import org.keycloak.events.EventBuilder;
import org.keycloak.events.EventType;
import org.keycloak.http.HttpRequest;
import org.keycloak.models.AuthenticatedClientSessionModel;
import org.keycloak.models.ClientModel;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.ModelException;
import org.keycloak.models.RealmModel;
import org.keycloak.models.UserModel;
import org.keycloak.models.UserSessionModel;
import org.keycloak.models.utils.KeycloakModelUtils;
import org.keycloak.protocol.docker.DockerAuthV2Protocol;
import org.keycloak.services.ErrorResponseException;
import org.keycloak.services.Urls;
import org.keycloak.services.managers.UserSessionManager;
import org.keycloak.services.resource.RealmResourceProvider;
import org.keycloak.services.util.DefaultClientSessionContext;
import org.keycloak.storage.StorageUnavailableException;
import org.keycloak.utils.ProfileHelper;

/**
 * The registry's token endpoint, {@code /realms/{realm}/registry-token}: the distribution token spec's GET with HTTP
 * Basic (as Keycloak's docker-v2 endpoint answers it, plus a refresh token for {@code offline_token=true}) and its
 * OAuth2 POST ({@code grant_type=password}, {@code grant_type=refresh_token}). A refresh costs a lookup and a
 * signature instead of a password hash. {@code /revoke} ends refresh tokens (RFC 7009, or all of a user's with
 * Basic credentials).
 */
public final class RegistryTokenResource implements RealmResourceProvider {

    private static final Logger LOG = Logger.getLogger(RegistryTokenResource.class);
    /** The refresh grant's authentication method on its transient user session, as events and logs show it. */
    private static final String REFRESH_AUTH_METHOD = "registry-refresh-token";

    private final KeycloakSession session;

    public RegistryTokenResource(KeycloakSession session) {
        this.session = session;
    }

    @GET
    @Produces(MediaType.APPLICATION_JSON)
    public Response token() {
        MultivaluedMap<String, String> query = session.getContext().getUri().getQueryParameters();
        return new RegistryLogin(session, query, request()).run("true".equals(query.getFirst("offline_token"))
                ? RegistryLogin.Purpose.TOKEN_AND_REFRESH_TOKEN : RegistryLogin.Purpose.TOKEN);
    }

    @POST
    @Consumes(MediaType.APPLICATION_FORM_URLENCODED)
    @Produces(MediaType.APPLICATION_JSON)
    public Response grant() {
        MultivaluedMap<String, String> form = request().getDecodedFormParameters();
        String grantType = form.getFirst("grant_type");
        if ("password".equals(grantType)) {
            String username = form.getFirst("username");
            String password = form.getFirst("password");
            if (username == null || password == null) {
                return oauthError(Response.Status.BAD_REQUEST, "invalid_request", "username and password are required");
            }
            return new RegistryLogin(session, form, new FormCredentialsRequest(request(), username, password))
                    .run("offline".equals(form.getFirst("access_type"))
                            ? RegistryLogin.Purpose.TOKEN_AND_REFRESH_TOKEN : RegistryLogin.Purpose.TOKEN);
        }
        if ("refresh_token".equals(grantType)) {
            return refresh(form);
        }
        return oauthError(Response.Status.BAD_REQUEST, "unsupported_grant_type",
                "grant_type must be password or refresh_token");
    }

    /**
     * RFC 7009: {@code token=<refresh token>} ends that token (200 whether or not it was one, as the RFC asks);
     * without a token, HTTP Basic credentials that pass the docker flow end every refresh token of that user.
     */
    @POST
    @Path("revoke")
    @Consumes(MediaType.APPLICATION_FORM_URLENCODED)
    @Produces(MediaType.APPLICATION_JSON)
    public Response revoke() {
        MultivaluedMap<String, String> form = request().getDecodedFormParameters();
        String token = form.getFirst("token");
        if (token == null) {
            return new RegistryLogin(session, form, request()).run(RegistryLogin.Purpose.REVOKE_REFRESH_TOKENS);
        }
        RealmModel realm = session.getContext().getRealm();
        try {
            RefreshTokenFormat.parse(token).ifPresent(parsed -> {
                UserModel user = session.users().getUserById(realm, parsed.userId());
                if (user != null && RefreshTokens.revoke(user, parsed)) {
                    new EventBuilder(realm, session, session.getContext().getConnection()).event(EventType.REVOKE_GRANT)
                            .user(user).detail(Details.TOKEN_ID, parsed.credentialId()).success();
                }
            });
        } catch (ModelException | StorageUnavailableException failure) {
            // RFC 7009 2.2.1: on 503 the client assumes the token still exists and tries again later
            LOG.warnf("revocation not done: a user store failed (%s)", failure.getMessage());
            return oauthError(Response.Status.SERVICE_UNAVAILABLE, "temporarily_unavailable",
                    "the user store cannot answer; the token still stands: try again");
        }
        return noStore(Response.ok(Map.of()));
    }

    @Override
    public Object getResource() {
        return this;
    }

    @Override
    public void close() {
    }

    /** The docker-v2 client a request names as its service, refused as Keycloak's docker-v2 endpoint refuses it. */
    static ClientModel service(KeycloakSession session, RealmModel realm, String service, EventBuilder event) {
        if (service == null) {
            event.detail(Details.REASON, "Missing parameter: " + DockerAuthV2Protocol.SERVICE_PARAM);
            event.error(Errors.INVALID_REQUEST);
            throw new ErrorResponseException("invalid_request", "service parameter must be provided",
                    Response.Status.BAD_REQUEST);
        }
        event.client(service);
        ClientModel client = realm.getClientByClientId(service);
        if (client == null || !DockerAuthV2Protocol.LOGIN_PROTOCOL.equals(client.getProtocol())) {
            event.error(Errors.CLIENT_NOT_FOUND);
            throw new ErrorResponseException("invalid_client", "Client specified by 'service' parameter does not exist",
                    Response.Status.BAD_REQUEST);
        }
        if (!client.isEnabled()) {
            event.error(Errors.CLIENT_DISABLED);
            throw new ErrorResponseException("invalid_client", "Client specified by 'service' is disabled",
                    Response.Status.BAD_REQUEST);
        }
        session.getContext().setClient(client);
        return client;
    }

    static Response noStore(Response.ResponseBuilder response) {
        return response.type(MediaType.APPLICATION_JSON_TYPE).header(HttpHeaders.CACHE_CONTROL, "no-store")
                .header("Pragma", "no-cache").build();
    }

    /** The refresh grant: the stored token's checks, then a registry token on a transient session; no password. */
    private Response refresh(MultivaluedMap<String, String> form) {
        ProfileHelper.requireFeature(Profile.Feature.DOCKER);
        RealmModel realm = session.getContext().getRealm();
        ClientConnection connection = session.getContext().getConnection();
        EventBuilder event = new EventBuilder(realm, session, connection).event(EventType.REFRESH_TOKEN)
                .detail(Details.GRANT_TYPE, "refresh_token");
        if (!"https".equals(session.getContext().getUri().getBaseUri().getScheme())
                && realm.getSslRequired().isRequired(connection)) {
            event.error(Errors.SSL_REQUIRED);
            return oauthError(Response.Status.BAD_REQUEST, "invalid_request", "HTTPS required");
        }
        ClientModel client = service(session, realm, form.getFirst(DockerAuthV2Protocol.SERVICE_PARAM), event);
        Optional<RefreshTokenFormat.Parsed> parsed = RefreshTokenFormat.parse(form.getFirst("refresh_token"));
        try {
            UserModel user = parsed.map(token -> session.users().getUserById(realm, token.userId())).orElse(null);
            Optional<String> refusal = user == null ? Optional.of("malformed token or no such user")
                    : RefreshTokens.refusal(session, realm, client, user, parsed.get(), Time.currentTimeSeconds());
            if (refusal.isPresent()) {
                if (user != null) {
                    event.user(user);
                }
                event.detail(Details.REASON, refusal.get()).error(Errors.INVALID_TOKEN);
                return oauthError(Response.Status.BAD_REQUEST, "invalid_grant",
                        "the refresh token is not valid: log in again");
            }
            event.user(user).detail(Details.USERNAME, user.getUsername())
                    .detail(Details.TOKEN_ID, parsed.get().credentialId());
            UserSessionModel userSession = new UserSessionManager(session).createUserSession(
                    KeycloakModelUtils.generateId(), realm, user, user.getUsername(), connection.getRemoteHost(),
                    REFRESH_AUTH_METHOD, false, null, null, UserSessionModel.SessionPersistenceState.TRANSIENT);
            AuthenticatedClientSessionModel clientSession = session.sessions().createClientSession(realm, client, userSession);
            clientSession.setProtocol(DockerAuthV2Protocol.LOGIN_PROTOCOL);
            clientSession.setNote(DockerAuthV2Protocol.SERVICE_PARAM, client.getClientId());
            String scope = form.getFirst(DockerAuthV2Protocol.SCOPE_PARAM);
            if (scope != null) {
                clientSession.setNote(DockerAuthV2Protocol.SCOPE_PARAM, scope);
            }
            RegistryTokenIssuer.Issued issued = RegistryTokenIssuer.issue(session, realm,
                    Urls.realmIssuer(session.getContext().getUri().getBaseUri(), realm.getName()), userSession,
                    DefaultClientSessionContext.fromClientSessionScopeParameter(clientSession, session));
            event.session(userSession).success();
            return noStore(Response.ok(TokenResponse.of(issued, null)));
        } catch (ModelException | StorageUnavailableException failure) {
            LOG.warnf("refresh grant refused: a user store failed (%s)", failure.getMessage());
            event.error("user_store_failed");
            return oauthError(Response.Status.SERVICE_UNAVAILABLE, "temporarily_unavailable",
                    "the user store cannot answer; try again");
        }
    }

    private HttpRequest request() {
        return session.getContext().getHttpRequest();
    }

    private static Response oauthError(Response.Status status, String error, String description) {
        return noStore(Response.status(status).entity(Map.of("error", error, "error_description", description)));
    }
}
