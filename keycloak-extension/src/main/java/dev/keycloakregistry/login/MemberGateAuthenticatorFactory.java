package dev.keycloakregistry.login;

import java.util.List;

import dev.keycloakregistry.StatelessProviderFactory;
import org.keycloak.authentication.Authenticator;
import org.keycloak.authentication.AuthenticatorFactory;
import org.keycloak.models.AuthenticationExecutionModel.Requirement;
import org.keycloak.models.KeycloakSession;
import org.keycloak.provider.ProviderConfigProperty;

/** Registers {@link MemberGateAuthenticator}; its one setting names the role members hold. */
public final class MemberGateAuthenticatorFactory implements AuthenticatorFactory,
        StatelessProviderFactory<Authenticator> {

    public static final String PROVIDER_ID = "keycloak-registry-member-gate";
    public static final String ROLE = "role";
    private static final MemberGateAuthenticator SINGLETON = new MemberGateAuthenticator();

    @Override
    public String getId() {
        return PROVIDER_ID;
    }

    @Override
    public String getDisplayType() {
        return "Members only (keycloak-registry)";
    }

    @Override
    public String getReferenceCategory() {
        return "access";
    }

    @Override
    public boolean isConfigurable() {
        return true;
    }

    @Override
    public Requirement[] getRequirementChoices() {
        return new Requirement[] {Requirement.REQUIRED, Requirement.DISABLED};
    }

    @Override
    public boolean isUserSetupAllowed() {
        return false;
    }

    @Override
    public String getHelpText() {
        return "Admits only users holding the role; denies everyone else, and everyone when the role does not exist.";
    }

    @Override
    public List<ProviderConfigProperty> getConfigProperties() {
        return List.of(new ProviderConfigProperty(ROLE, "Role", "The realm role members hold.",
                ProviderConfigProperty.STRING_TYPE, null));
    }

    @Override
    public Authenticator create(KeycloakSession session) {
        return SINGLETON;
    }
}
