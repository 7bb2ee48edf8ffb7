package dev.keycloakregistry.apppasswords;

import java.util.Map;
import java.util.function.Function;

import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.DELETE;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.NotAuthorizedException;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import org.keycloak.common.util.Time;
import org.keycloak.events.Details;
import org.keycloak.events.EventBuilder;
import org.keycloak.events.EventType;
import org.keycloak.models.KeycloakSession;
import org.keycloak.services.managers.AppAuthManager;
import org.keycloak.services.managers.AuthenticationManager.AuthResult;
import org.keycloak.services.resource.RealmResourceProvider;
import org.keycloak.util.JsonSerialization;

/**
 * Self-service REST, under {@code /realms/{realm}/registry-app-passwords}: a user lists, mints and revokes their own
 * app passwords ({@link AppPasswords}), authenticated by their own access token. Only tokens issued to the client
 * {@value #SELF_SERVICE_CLIENT_ID} count: a token some other application of the realm holds for the user must not
 * be enough to mint registry credentials in the user's name. Failures answer {@code {"error": "<why>"}}. A mint and
 * a revocation are user events ({@code UPDATE_CREDENTIAL}, {@code REMOVE_CREDENTIAL}) for the audit log and metrics.
 */
public final class AppPasswordsResource implements RealmResourceProvider {

    /** The client whose access tokens may manage app passwords (the program creates it under this id). */
    public static final String SELF_SERVICE_CLIENT_ID = "registry-app-passwords";

    /** The body of a mint; expiresInSeconds may be left out. */
    public static final class NewAppPassword {
        public String name;
        public Long expiresInSeconds;
    }

    private final KeycloakSession session;

    public AppPasswordsResource(KeycloakSession session) {
        this.session = session;
    }

    @GET
    @Produces(MediaType.APPLICATION_JSON)
    public Response list() {
        return asCaller(auth -> Response.ok(AppPasswords.list(auth.user(), Time.currentTimeSeconds())).build());
    }

    /** 201 with the new password, shown this once and never stored by anyone on the way (no-store). */
    @POST
    @Consumes(MediaType.APPLICATION_JSON)
    @Produces(MediaType.APPLICATION_JSON)
    public Response mint(String body) {
        return asCaller(auth -> mint(auth, body));
    }

    @DELETE
    @Path("{id}")
    @Produces(MediaType.APPLICATION_JSON)
    public Response revoke(@PathParam("id") String id) {
        return asCaller(auth -> {
            if (!AppPasswords.revoke(auth.user(), id)) {
                return error(Response.Status.NOT_FOUND, "you have no app password with this id").build();
            }
            event(auth, EventType.REMOVE_CREDENTIAL).detail(Details.CREDENTIAL_ID, id).success();
            return Response.noContent().build();
        });
    }

    @Override
    public Object getResource() {
        return this;
    }

    @Override
    public void close() {
    }

    private Response mint(AuthResult auth, String body) {
        String name;
        long lifetime;
        try {
            NewAppPassword request = request(body);
            name = AppPasswordFormat.validName(request.name);
            lifetime = AppPasswordFormat.validLifetime(request.expiresInSeconds);
        } catch (IllegalArgumentException invalid) {
            return error(Response.Status.BAD_REQUEST, invalid.getMessage()).build();
        }
        long now = Time.currentTimeSeconds();
        try {
            AppPasswords.Minted minted = AppPasswords.mint(auth.user(), name, now + lifetime, now);
            event(auth, EventType.UPDATE_CREDENTIAL).detail(Details.CREDENTIAL_ID, minted.id())
                    .detail(Details.CREDENTIAL_USER_LABEL, name).success();
            return Response.status(Response.Status.CREATED).header(HttpHeaders.CACHE_CONTROL, "no-store")
                    .entity(minted).build();
        } catch (AppPasswords.Conflict conflict) {
            return error(Response.Status.CONFLICT, conflict.getMessage()).build();
        }
    }

    private static NewAppPassword request(String body) {
        NewAppPassword request;
        try {
            request = JsonSerialization.valueFromString(body, NewAppPassword.class);
        } catch (IllegalArgumentException e) {
            request = null;
        }
        if (request == null) {
            throw new IllegalArgumentException(
                    "body: a JSON object {\"name\": \"...\", \"expiresInSeconds\": <optional, seconds>}");
        }
        return request;
    }

    /** The action's answer for the caller: 401 without a valid access token, 403 for another client's. */
    private Response asCaller(Function<AuthResult, Response> action) {
        AuthResult auth;
        try {
            auth = new AppAuthManager.BearerTokenAuthenticator(session).authenticate();
        } catch (NotAuthorizedException notBearer) {
            auth = null;
        }
        if (auth == null) {
            return error(Response.Status.UNAUTHORIZED, "a valid bearer access token is required")
                    .header(HttpHeaders.WWW_AUTHENTICATE, "Bearer").build();
        }
        if (!SELF_SERVICE_CLIENT_ID.equals(auth.token().getIssuedFor())) {
            return error(Response.Status.FORBIDDEN, "only access tokens issued to the client "
                    + SELF_SERVICE_CLIENT_ID + " may manage app passwords").build();
        }
        return action.apply(auth);
    }

    /** A user event of the caller's, at the self-service client, about one of their app passwords. */
    private EventBuilder event(AuthResult auth, EventType type) {
        return new EventBuilder(session.getContext().getRealm(), session, session.getContext().getConnection())
                .event(type).client(auth.client()).user(auth.user()).session(auth.session())
                .detail(Details.CREDENTIAL_TYPE, AppPasswords.TYPE);
    }

    private static Response.ResponseBuilder error(Response.Status status, String message) {
        return Response.status(status).type(MediaType.APPLICATION_JSON_TYPE).entity(Map.of("error", message));
    }
}
