package dev.keycloakregistry.robots;

import java.time.Instant;
import java.util.List;
import java.util.Map;

import jakarta.ws.rs.BadRequestException;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.NotFoundException;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import org.keycloak.common.util.Time;
import org.keycloak.events.admin.OperationType;
import org.keycloak.events.admin.ResourceType;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.RealmModel;
import org.keycloak.models.UserCredentialModel;
import org.keycloak.models.UserModel;
import org.keycloak.services.resources.admin.AdminEventBuilder;
import org.keycloak.services.resources.admin.fgap.AdminPermissionEvaluator;

/**
 * Admin REST, under {@code /admin/realms/{realm}/keycloak-registry}: a password rotation that keeps the old password
 * working for an overlap (Keycloak's own reset-password replaces it at once), and the list of those still working.
 * Callers need the same permission as for resetting the user's password.
 */
public final class PasswordRotationResource {

    /** The longest overlap accepted: 30 days, as the program's setting allows. */
    public static final long MAX_OVERLAP_SECONDS = 30L * 24 * 3600;

    /** The body of a rotation. */
    public static final class Rotation {
        public String password;
        public long overlapSeconds;
    }

    private final KeycloakSession session;
    private final RealmModel realm;
    private final AdminPermissionEvaluator auth;
    private final AdminEventBuilder adminEvent;

    public PasswordRotationResource(KeycloakSession session, RealmModel realm, AdminPermissionEvaluator auth,
                                    AdminEventBuilder adminEvent) {
        this.session = session;
        this.realm = realm;
        this.auth = auth;
        this.adminEvent = adminEvent.resource(ResourceType.USER);
    }

    @POST
    @Path("users/{id}/password-rotation")
    @Consumes(MediaType.APPLICATION_JSON)
    public Response rotate(@PathParam("id") String id, Rotation rotation) {
        UserModel user = user(id);
        auth.users().requireResetPassword(user);
        if (rotation == null || rotation.password == null || rotation.password.isEmpty()) {
            throw new BadRequestException("password: the new password, not empty");
        }
        if (rotation.overlapSeconds < 0 || rotation.overlapSeconds > MAX_OVERLAP_SECONDS) {
            throw new BadRequestException("overlapSeconds: from 0 to " + MAX_OVERLAP_SECONDS);
        }
        long now = Time.currentTimeSeconds();
        if (rotation.overlapSeconds > 0) {
            PreviousPasswords.keepCurrent(user, now, now + rotation.overlapSeconds);
        } else {
            PreviousPasswords.dropExpired(user, now);
        }
        user.credentialManager().updateCredential(UserCredentialModel.password(rotation.password, false));
        adminEvent.operation(OperationType.ACTION).resourcePath(session.getContext().getUri()).success();
        return Response.noContent().build();
    }

    @GET
    @Path("users/{id}/previous-passwords")
    @Produces(MediaType.APPLICATION_JSON)
    public List<Map<String, String>> previous(@PathParam("id") String id) {
        UserModel user = user(id);
        auth.users().requireView(user);
        return PreviousPasswords.valid(user, Time.currentTimeSeconds()).stream()
                .map(stored -> Map.of("validUntil", Instant.ofEpochSecond(
                        RobotLifecycle.validUntil(stored.getUserLabel()).orElseThrow()).toString()))
                .toList();
    }

    private UserModel user(String id) {
        UserModel user = session.users().getUserById(realm, id);
        if (user == null) {
            throw new NotFoundException("user not found");
        }
        return user;
    }
}
