package gr.kep.keycloak.eidas;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.List;
import java.util.logging.Logger;

import org.keycloak.dom.saml.v2.protocol.ResponseType;
import org.keycloak.models.ClientSessionContext;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.ProtocolMapperModel;
import org.keycloak.models.UserModel;
import org.keycloak.models.UserSessionModel;
import org.keycloak.protocol.saml.mappers.AbstractSAMLProtocolMapper;
import org.keycloak.protocol.saml.mappers.SAMLLoginResponseMapper;
import org.keycloak.provider.ProviderConfigProperty;
import org.keycloak.provider.ProviderConfigurationBuilder;

/**
 * Node side (the local double of the eIDAS node only): the AuthnStatement's AuthnContextClassRef from a user
 * attribute, where Keycloak's SAML IdP otherwise writes {@code unspecified}, so that the double states the level of
 * assurance where a real node does. The response is signed after the mappers ran.
 */
public class EidasNodeLoaProtocolMapper extends AbstractSAMLProtocolMapper implements SAMLLoginResponseMapper {

    public static final String PROVIDER_ID = "eidas-node-loa-mapper";
    public static final String USER_ATTRIBUTE = "user.attribute";
    public static final String DEFAULT_USER_ATTRIBUTE = "loa_uri";

    private static final Logger LOG = Logger.getLogger(EidasNodeLoaProtocolMapper.class.getName());
    private static final List<ProviderConfigProperty> CONFIG = ProviderConfigurationBuilder.create()
            .property()
            .name(USER_ATTRIBUTE)
            .label("User attribute")
            .helpText("The user attribute whose value becomes the AuthnContextClassRef (" + DEFAULT_USER_ATTRIBUTE
                    + " if empty); a user without it keeps Keycloak's class ref")
            .type(ProviderConfigProperty.STRING_TYPE)
            .defaultValue(DEFAULT_USER_ATTRIBUTE)
            .add()
            .build();

    @Override
    public String getId() {
        return PROVIDER_ID;
    }

    @Override
    public String getDisplayCategory() {
        return "AuthnContextClassRef mapper";
    }

    @Override
    public String getDisplayType() {
        return "eIDAS node double: AuthnContextClassRef from a user attribute";
    }

    @Override
    public String getHelpText() {
        return "Sets the AuthnStatement's AuthnContextClassRef to the user's attribute (the eIDAS level of "
                + "assurance, e.g. http://eidas.europa.eu/LoA/substantial), as an eIDAS node states it.";
    }

    @Override
    public List<ProviderConfigProperty> getConfigProperties() {
        return CONFIG;
    }

    @Override
    public ResponseType transformLoginResponse(ResponseType response, ProtocolMapperModel mappingModel,
            KeycloakSession session, UserSessionModel userSession, ClientSessionContext clientSessionCtx) {
        String name = mappingModel.getConfig() == null ? null : mappingModel.getConfig().get(USER_ATTRIBUTE);
        String attribute = name == null || name.isBlank() ? DEFAULT_USER_ATTRIBUTE : name.trim();
        UserModel user = userSession.getUser();
        String value = user == null ? null : user.getFirstAttribute(attribute);
        if (value == null || value.isBlank()) {
            return response;
        }
        try {
            EidasLoa.setClassRef(response, new URI(value.trim()));
        } catch (URISyntaxException e) {
            LOG.warning(String.format("user %s: attribute %s is no URI, AuthnContextClassRef left as it was",
                    user.getUsername(), attribute));
        }
        return response;
    }
}
