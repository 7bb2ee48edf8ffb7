package dev.keycloakregistry.access;

import java.util.List;

import org.jboss.logging.Logger;
import org.keycloak.models.AuthenticatedClientSessionModel;
import org.keycloak.models.ClientModel;
import org.keycloak.models.KeycloakContext;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.ProtocolMapperModel;
import org.keycloak.models.UserModel;
import org.keycloak.models.UserSessionModel;
import org.keycloak.protocol.docker.DockerAuthV2Protocol;
import org.keycloak.protocol.docker.mapper.DockerAuthV2AttributeMapper;
import org.keycloak.protocol.docker.mapper.DockerAuthV2ProtocolMapper;
import org.keycloak.provider.ProviderConfigProperty;
import org.keycloak.representations.docker.DockerAccess;
import org.keycloak.representations.docker.DockerResponseToken;

/**
 * The docker-v2 client's access mapper: reads every {@code scope} parameter of the token request (Keycloak's
 * own endpoint keeps only the first) and grants, per scope, what {@link AccessPolicy} allows. The rules are
 * data: attributes of the client's roles that the user holds, directly or through a group. Every decision is
 * logged at DEBUG under this class's category: one line per requested scope, naming the user, scope and rule.
 */
public final class RepositoryAccessMapper extends DockerAuthV2ProtocolMapper implements DockerAuthV2AttributeMapper {

    public static final String PROVIDER_ID = "keycloak-registry-repository-access";
    public static final String MODE = "mode";
    /** Grant every requested scope (the program's default when no rules are declared). */
    public static final String MODE_ALLOW_ALL = "allow-all";
    /** Grant what the attributes of the user's roles on this client allow. */
    public static final String MODE_CLIENT_ROLES = "client-roles";

    private static final Logger LOG = Logger.getLogger(RepositoryAccessMapper.class);

    @Override
    public String getId() {
        return PROVIDER_ID;
    }

    @Override
    public String getDisplayType() {
        return "Repository access (keycloak-registry)";
    }

    @Override
    public String getHelpText() {
        return "Grants each requested registry scope on its own: everything (allow-all), or what the attributes "
                + "(repositories, actions, catalog) of the user's roles on this client allow (client-roles).";
    }

    @Override
    public List<ProviderConfigProperty> getConfigProperties() {
        ProviderConfigProperty mode = new ProviderConfigProperty(MODE, "Mode",
                "allow-all: every requested scope; client-roles: only what the user's client roles allow.",
                ProviderConfigProperty.LIST_TYPE, MODE_CLIENT_ROLES);
        mode.setOptions(List.of(MODE_CLIENT_ROLES, MODE_ALLOW_ALL));
        return List.of(mode);
    }

    @Override
    public boolean appliesTo(DockerResponseToken responseToken) {
        return true;
    }

    @Override
    public DockerResponseToken transformDockerResponseToken(DockerResponseToken responseToken, ProtocolMapperModel mappingModel,
                                                            KeycloakSession session, UserSessionModel userSession,
                                                            AuthenticatedClientSessionModel clientSession) {
        UserModel user = userSession.getUser();
        AccessPolicy policy = MODE_ALLOW_ALL.equals(mappingModel.getConfig().get(MODE))
                ? AccessPolicy.allowAll()
                : AccessPolicy.of(grantsOf(user, clientSession.getClient()));
        responseToken.getAccessItems().clear();
        for (AccessPolicy.Decision decision : policy.decide(requestedScopes(session, clientSession))) {
            if (LOG.isDebugEnabled()) {
                LOG.debug(decision.describe(user.getUsername()));
            }
            decision.grantedScope().ifPresent(scope -> responseToken.getAccessItems().add(
                    new DockerAccess().setType(scope.type()).setName(scope.name()).setActions(scope.actions())));
        }
        return responseToken;
    }

    /** The rules of every role of this client the user holds (group membership and composites included), by role. */
    private static List<AccessPolicy.Grant> grantsOf(UserModel user, ClientModel client) {
        return client.getRolesStream().filter(user::hasRole)
                .map(role -> AccessPolicy.Grant.fromAttributes(role.getAttributes()).named(role.getName())).toList();
    }

    /**
     * Every {@code scope} parameter of this request (of its query, or of its form for the OAuth2 POST); outside a
     * request, the single scope Keycloak noted.
     */
    private static List<String> requestedScopes(KeycloakSession session, AuthenticatedClientSessionModel clientSession) {
        KeycloakContext context = session.getContext();
        if (context != null && context.getUri() != null) {
            List<String> all = context.getUri().getQueryParameters().get(DockerAuthV2Protocol.SCOPE_PARAM);
            if ((all == null || all.isEmpty()) && context.getHttpRequest() != null
                    && "POST".equals(context.getHttpRequest().getHttpMethod())) {
                all = context.getHttpRequest().getDecodedFormParameters().get(DockerAuthV2Protocol.SCOPE_PARAM);
            }
            if (all != null && !all.isEmpty()) {
                return all;
            }
        }
        String noted = clientSession.getNote(DockerAuthV2Protocol.SCOPE_PARAM);
        return noted == null ? List.of() : List.of(noted);
    }
}
