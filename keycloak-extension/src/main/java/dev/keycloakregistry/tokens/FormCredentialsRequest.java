package dev.keycloakregistry.tokens;

import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import jakarta.ws.rs.core.Cookie;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.MultivaluedHashMap;
import jakarta.ws.rs.core.MultivaluedMap;
import jakarta.ws.rs.core.UriInfo;
import org.keycloak.http.FormPartValue;
import org.keycloak.http.HttpRequest;

/**
 * The request as the docker flow sees it for an OAuth2 password grant: the form's username and password as HTTP
 * Basic credentials, in place of any Authorization header. So the grant runs the docker flow unchanged (its
 * authenticator reads Basic credentials), with every check a {@code docker login} gets.
 */
final class FormCredentialsRequest implements HttpRequest {

    private final HttpRequest request;
    private final HttpHeaders headers;

    FormCredentialsRequest(HttpRequest request, String username, String password) {
        this.request = request;
        this.headers = new BasicHeaders(request.getHttpHeaders(), "Basic " + Base64.getEncoder().encodeToString(
                (username + ":" + password).getBytes(StandardCharsets.UTF_8)));
    }

    @Override
    public String getHttpMethod() {
        return request.getHttpMethod();
    }

    @Override
    public MultivaluedMap<String, String> getDecodedFormParameters() {
        return request.getDecodedFormParameters();
    }

    @Override
    public MultivaluedMap<String, FormPartValue> getMultiPartFormParameters() {
        return request.getMultiPartFormParameters();
    }

    @Override
    public HttpHeaders getHttpHeaders() {
        return headers;
    }

    @Override
    public X509Certificate[] getClientCertificateChain() {
        return request.getClientCertificateChain();
    }

    @Override
    public UriInfo getUri() {
        return request.getUri();
    }

    @Override
    public boolean isProxyTrusted() {
        return request.isProxyTrusted();
    }

    /** The request's headers with Authorization replaced. */
    private record BasicHeaders(HttpHeaders headers, String authorization) implements HttpHeaders {

        @Override
        public List<String> getRequestHeader(String name) {
            return AUTHORIZATION.equalsIgnoreCase(name) ? List.of(authorization) : headers.getRequestHeader(name);
        }

        @Override
        public String getHeaderString(String name) {
            return AUTHORIZATION.equalsIgnoreCase(name) ? authorization : headers.getHeaderString(name);
        }

        @Override
        public MultivaluedMap<String, String> getRequestHeaders() {
            MultivaluedMap<String, String> all = new MultivaluedHashMap<>();
            headers.getRequestHeaders().forEach((name, values) -> {
                if (!AUTHORIZATION.equalsIgnoreCase(name)) {
                    all.put(name, values);
                }
            });
            all.putSingle(AUTHORIZATION, authorization);
            return all;
        }

        @Override
        public List<MediaType> getAcceptableMediaTypes() {
            return headers.getAcceptableMediaTypes();
        }

        @Override
        public List<Locale> getAcceptableLanguages() {
            return headers.getAcceptableLanguages();
        }

        @Override
        public MediaType getMediaType() {
            return headers.getMediaType();
        }

        @Override
        public Locale getLanguage() {
            return headers.getLanguage();
        }

        @Override
        public Map<String, Cookie> getCookies() {
            return headers.getCookies();
        }

        @Override
        public Date getDate() {
            return headers.getDate();
        }

        @Override
        public int getLength() {
            return headers.getLength();
        }
    }
}
