package dev.keycloakregistry;

import java.util.List;

import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import org.keycloak.representations.docker.DockerAccess;
import org.keycloak.representations.docker.DockerError;
import org.keycloak.representations.docker.DockerErrorResponseToken;

/** The 401 a docker client gets for a refused login, in the form Keycloak's Docker Authenticator answers it. */
public final class DockerErrors {

    private DockerErrors() {
    }

    public static Response unauthorized(String message, String scope) {
        DockerError error = new DockerError("UNAUTHORIZED", message, List.of(new DockerAccess(scope)));
        return Response.status(Response.Status.UNAUTHORIZED).type(MediaType.APPLICATION_JSON_TYPE)
                .entity(new DockerErrorResponseToken(List.of(error))).build();
    }
}
