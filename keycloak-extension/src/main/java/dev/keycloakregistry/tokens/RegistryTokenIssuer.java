package dev.keycloakregistry.tokens;

import java.security.PublicKey;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.concurrent.atomic.AtomicReference;

import org.keycloak.common.util.SecretGenerator;
import org.keycloak.crypto.Algorithm;
import org.keycloak.crypto.AsymmetricSignatureSignerContext;
import org.keycloak.crypto.KeyUse;
import org.keycloak.crypto.KeyWrapper;
import org.keycloak.crypto.SignatureSignerContext;
import org.keycloak.jose.jws.JWSBuilder;
import org.keycloak.models.ClientModel;
import org.keycloak.models.ClientSessionContext;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.RealmModel;
import org.keycloak.models.UserSessionModel;
import org.keycloak.protocol.ProtocolMapperUtils;
import org.keycloak.protocol.docker.DockerKeyIdentifier;
import org.keycloak.protocol.docker.mapper.DockerAuthV2AttributeMapper;
import org.keycloak.representations.docker.DockerResponseToken;
import org.keycloak.util.TokenUtil;

/**
 * The registry token every grant of {@link RegistryTokenResource} returns, built as Keycloak's docker-v2 endpoint
 * builds it (DockerAuthV2Protocol#authenticated in 26.7): the same claims, the client's docker mappers deciding
 * {@code access} (the repository-access mapper: one implementation of the rules), RS256 with the realm's active key
 * and its libtrust key id. Kept here so a refresh needs no authentication session.
 */
public final class RegistryTokenIssuer {

    /** What the spec's token response carries besides a refresh token. */
    public record Issued(String token, int expiresIn, String issuedAt) {
    }

    private static final DateTimeFormatter ISSUED_AT = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss'Z'")
            .withZone(ZoneOffset.UTC);

    private RegistryTokenIssuer() {
    }

    public static Issued issue(KeycloakSession session, RealmModel realm, String issuer, UserSessionModel userSession,
                               ClientSessionContext clientSessionContext) {
        ClientModel client = clientSessionContext.getClientSession().getClient();
        DockerResponseToken token = new DockerResponseToken()
                .id(SecretGenerator.getInstance().generateSecureID())
                .type(TokenUtil.TOKEN_TYPE_BEARER)
                .issuer(issuer)
                .subject(userSession.getUser().getUsername())
                .issuedNow()
                .audience(client.getClientId())
                .issuedFor(client.getClientId());
        int lifespan = realm.getAccessTokenLifespan();
        token.nbf(token.getIat()).exp(token.getIat() + lifespan);

        AtomicReference<DockerResponseToken> mapped = new AtomicReference<>(token);
        ProtocolMapperUtils.getSortedProtocolMappers(session, clientSessionContext, mapper ->
                        mapper.getValue() instanceof DockerAuthV2AttributeMapper docker && docker.appliesTo(mapped.get()))
                .forEach(mapper -> mapped.set(((DockerAuthV2AttributeMapper) mapper.getValue()).transformDockerResponseToken(
                        mapped.get(), mapper.getKey(), session, userSession, clientSessionContext.getClientSession())));

        String encoded = new JWSBuilder().type("JWT").jsonContent(mapped.get())
                .sign(libtrustSigner(session.keys().getActiveKey(realm, KeyUse.SIG, Algorithm.RS256)));
        return new Issued(encoded, lifespan, ISSUED_AT.format(Instant.ofEpochSecond(token.getIat())));
    }

    /** RS256 with the key, its {@code kid} the key's libtrust id: what registries 2.8 match (and 3.x via our JWKS). */
    private static SignatureSignerContext libtrustSigner(KeyWrapper key) {
        String kid;
        try {
            kid = new DockerKeyIdentifier((PublicKey) key.getPublicKey()).toString();
        } catch (InstantiationException e) {
            throw new IllegalStateException("the realm's RS256 key has no libtrust key id: " + e.getMessage(), e);
        }
        return new AsymmetricSignatureSignerContext(key) {
            @Override
            public String getKid() {
                return kid;
            }
        };
    }
}
