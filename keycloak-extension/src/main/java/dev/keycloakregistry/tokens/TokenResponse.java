package dev.keycloakregistry.tokens;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * A token endpoint answer both protocols read: the distribution spec's {@code token} and OAuth2's
 * {@code access_token} (the same JWT), and a {@code refresh_token} only when one was asked for and granted.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record TokenResponse(
        @JsonProperty("token") String token,
        @JsonProperty("access_token") String accessToken,
        @JsonProperty("token_type") String tokenType,
        @JsonProperty("expires_in") int expiresIn,
        @JsonProperty("issued_at") String issuedAt,
        @JsonProperty("refresh_token") String refreshToken) {

    static TokenResponse of(RegistryTokenIssuer.Issued issued, String refreshToken) {
        return new TokenResponse(issued.token(), issued.token(), "Bearer", issued.expiresIn(), issued.issuedAt(),
                refreshToken);
    }
}
