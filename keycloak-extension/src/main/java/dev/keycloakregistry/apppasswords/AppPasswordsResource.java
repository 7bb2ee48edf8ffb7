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
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.UserModel;
import org.keycloak.services.managers.AppAuthManager;
import org.keycloak.services.managers.AuthenticationManager.AuthResult;
import org.keycloak.services.resource.RealmResourceProvider;
import org.keycloak.util.JsonSerialization;

/**
 * Self-service REST, under {@code /realms/{realm}/registry-app-passwords}: a user lists, mints and revokes their own
 * app passwords ({@link AppPasswords}), authenticated by their own access token. Only tokens issued to the client
 * {@value #SELF_SERVICE_CLIENT_ID} count: a token some other application of the realm holds for the user must not
 * be enough to mint registry credentials in the user's name. Failures answer {@code {"error": "<why>"}}.
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
        return asCaller(user -> Response.ok(AppPasswords.list(user, Time.currentTimeSeconds())).build());
    }

    /** 201 with the new password, shown this once and never stored by anyone on the way (no-store). */
    @POST
    @Consumes(MediaType.APPLICATION_JSON)
    @Produces(MediaType.APPLICATION_JSON)
    public Response mint(String body) {
        return asCaller(user -> mint(user, body));
    }

    @DELETE
    @Path("{id}")
    @Produces(MediaType.APPLICATION_JSON)
    public Response revoke(@PathParam("id") String id) {
        return asCaller(user -> AppPasswords.revoke(user, id) ? Response.noContent().build()
                : error(Response.Status.NOT_FOUND, "you have no app password with this id").build());
    }

    @Override
    public Object getResource() {
        return this;
    }

    @Override
    public void close() {
    }

    private Response mint(UserModel user, String body) {
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
            return Response.status(Response.Status.CREATED).header(HttpHeaders.CACHE_CONTROL, "no-store")
                    .entity(AppPasswords.mint(user, name, now + lifetime, now)).build();
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

    /** The action's answer for the caller's user: 401 without a valid access token, 403 for another client's. */
    private Response asCaller(Function<UserModel, Response> action) {
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
        return action.apply(auth.user());
    }

    private static Response.ResponseBuilder error(Response.Status status, String message) {
        return Response.status(status).type(MediaType.APPLICATION_JSON_TYPE).entity(Map.of("error", message));
    }
}
