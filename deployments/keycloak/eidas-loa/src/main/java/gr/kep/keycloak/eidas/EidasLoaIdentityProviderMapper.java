package gr.kep.keycloak.eidas;

import java.util.List;
import java.util.Optional;
import java.util.logging.Logger;

import org.keycloak.broker.provider.AbstractIdentityProviderMapper;
import org.keycloak.broker.provider.BrokeredIdentityContext;
import org.keycloak.broker.saml.SAMLEndpoint;
import org.keycloak.broker.saml.SAMLIdentityProviderFactory;
import org.keycloak.dom.saml.v2.assertion.AssertionType;
import org.keycloak.models.IdentityProviderMapperModel;
import org.keycloak.models.IdentityProviderSyncMode;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.RealmModel;
import org.keycloak.models.UserModel;
import org.keycloak.provider.ProviderConfigProperty;
import org.keycloak.provider.ProviderConfigurationBuilder;

/**
 * Broker side: the eIDAS level of assurance of a SAML sign-in, read from the AuthnContextClassRef of the (signed,
 * already checked) assertion the SAML broker received, into a user attribute, at the first sign-in and at every
 * later one. An assertion with no class ref, or one that is no eIDAS level, leaves the user with no level at all
 * (an earlier one is removed): nothing downstream may take them for any level.
 */
public class EidasLoaIdentityProviderMapper extends AbstractIdentityProviderMapper {

    public static final String PROVIDER_ID = "eidas-loa-idp-mapper";
    public static final String USER_ATTRIBUTE = "user.attribute";
    public static final String DEFAULT_USER_ATTRIBUTE = "eidas_loa";

    private static final Logger LOG = Logger.getLogger(EidasLoaIdentityProviderMapper.class.getName());
    private static final String[] COMPATIBLE_PROVIDERS = {SAMLIdentityProviderFactory.PROVIDER_ID};
    private static final List<ProviderConfigProperty> CONFIG = ProviderConfigurationBuilder.create()
            .property()
            .name(USER_ATTRIBUTE)
            .label("User attribute")
            .helpText("The user attribute that gets the level (" + DEFAULT_USER_ATTRIBUTE + " if empty)")
            .type(ProviderConfigProperty.STRING_TYPE)
            .defaultValue(DEFAULT_USER_ATTRIBUTE)
            .add()
            .build();

    @Override
    public String getId() {
        return PROVIDER_ID;
    }

    @Override
    public String[] getCompatibleProviders() {
        return COMPATIBLE_PROVIDERS;
    }

    @Override
    public String getDisplayCategory() {
        return "Attribute Importer";
    }

    @Override
    public String getDisplayType() {
        return "eIDAS level of assurance from AuthnContextClassRef";
    }

    @Override
    public String getHelpText() {
        return "The eIDAS level of assurance (http://eidas.europa.eu/LoA/low|substantial|high) that the assertion's "
                + "AuthnContextClassRef states, into a user attribute; any other class ref, or none, leaves no level.";
    }

    @Override
    public List<ProviderConfigProperty> getConfigProperties() {
        return CONFIG;
    }

    @Override
    public boolean supportsSyncMode(IdentityProviderSyncMode syncMode) {
        return true;
    }

    static String userAttribute(IdentityProviderMapperModel model) {
        String name = model.getConfig() == null ? null : model.getConfig().get(USER_ATTRIBUTE);
        return name == null || name.isBlank() ? DEFAULT_USER_ATTRIBUTE : name.trim();
    }

    static Optional<String> level(BrokeredIdentityContext context) {
        Object assertion = context.getContextData().get(SAMLEndpoint.SAML_ASSERTION);
        if (!(assertion instanceof AssertionType)) {
            return Optional.empty();
        }
        Optional<String> level = EidasLoa.levelOf((AssertionType) assertion);
        if (level.isEmpty()) {
            LOG.warning(String.format(
                    "eIDAS sign-in of %s: the assertion states no known level of assurance (AuthnContextClassRef %s)",
                    context.getId(), EidasLoa.classRef((AssertionType) assertion).orElse("absent")));
        }
        return level;
    }

    /** A new user: the level goes with the other brokered attributes into the account that is made. */
    @Override
    public void preprocessFederatedIdentity(KeycloakSession session, RealmModel realm,
            IdentityProviderMapperModel mapperModel, BrokeredIdentityContext context) {
        level(context).ifPresent(value -> context.setUserAttribute(userAttribute(mapperModel), value));
    }

    /** Every later sign-in (sync mode FORCE): this sign-in's level, or none. */
    @Override
    public void updateBrokeredUser(KeycloakSession session, RealmModel realm, UserModel user,
            IdentityProviderMapperModel mapperModel, BrokeredIdentityContext context) {
        String attribute = userAttribute(mapperModel);
        Optional<String> value = level(context);
        if (value.isPresent()) {
            if (!value.get().equals(user.getFirstAttribute(attribute))) {
                user.setSingleAttribute(attribute, value.get());
            }
        } else if (user.getFirstAttribute(attribute) != null) {
            user.removeAttribute(attribute);
        }
    }
}
