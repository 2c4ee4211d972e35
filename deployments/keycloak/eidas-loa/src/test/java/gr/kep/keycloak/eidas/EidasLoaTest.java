package gr.kep.keycloak.eidas;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.net.URI;
import java.util.Optional;

import javax.xml.datatype.DatatypeFactory;
import javax.xml.datatype.XMLGregorianCalendar;

import org.junit.jupiter.api.Test;
import org.keycloak.dom.saml.v2.assertion.AssertionType;
import org.keycloak.dom.saml.v2.assertion.AuthnContextClassRefType;
import org.keycloak.dom.saml.v2.assertion.AuthnContextType;
import org.keycloak.dom.saml.v2.assertion.AuthnStatementType;
import org.keycloak.dom.saml.v2.protocol.ResponseType;

/** The mappers' logic on Keycloak's own SAML object model (the round trip through Keycloak is tests/kepctl). */
class EidasLoaTest {

    private static final String UNSPECIFIED = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified";

    private static XMLGregorianCalendar now() throws Exception {
        return DatatypeFactory.newInstance().newXMLGregorianCalendar("2026-12-06T12:00:00Z");
    }

    private static AuthnStatementType authn(String classRef) throws Exception {
        AuthnStatementType statement = new AuthnStatementType(now());
        if (classRef != null) {
            AuthnContextType.AuthnContextTypeSequence sequence = new AuthnContextType.AuthnContextTypeSequence();
            sequence.setClassRef(new AuthnContextClassRefType(URI.create(classRef)));
            AuthnContextType context = new AuthnContextType();
            context.setSequence(sequence);
            statement.setAuthnContext(context);
        }
        return statement;
    }

    private static AssertionType assertion(String... classRefs) throws Exception {
        AssertionType assertion = new AssertionType("ID_a", now());
        for (String ref : classRefs) {
            assertion.addStatement(authn(ref));
        }
        return assertion;
    }

    @Test
    void theThreeEidasLevelsAreRead() throws Exception {
        for (String level : new String[] {"low", "substantial", "high"}) {
            String uri = "http://eidas.europa.eu/LoA/" + level;
            assertEquals(Optional.of(uri), EidasLoa.levelOf(assertion(uri)));
        }
    }

    @Test
    void anythingElseIsNoLevel() throws Exception {
        for (String ref : new String[] {
            UNSPECIFIED,
            "http://eidas.europa.eu/LoA/medium",
            "http://eidas.europa.eu/LoA/High",
            "https://eidas.europa.eu/LoA/high",
            "http://eidas.europa.eu/LoA/",
            "http://eidas.europa.eu/LoA/NotNotified/high",  // a non-notified scheme's level is not an eIDAS level
        }) {
            assertEquals(Optional.empty(), EidasLoa.levelOf(assertion(ref)), ref);
        }
    }

    @Test
    void noAuthnStatementOrNoClassRefIsNoLevel() throws Exception {
        assertEquals(Optional.empty(), EidasLoa.levelOf(assertion()));
        assertEquals(Optional.empty(), EidasLoa.levelOf(assertion((String) null)));
        assertEquals(Optional.empty(), EidasLoa.levelOf(null));
        assertEquals(Optional.empty(), EidasLoa.level(null));
    }

    @Test
    void twoStatementsThatDisagreeAreNoLevel() throws Exception {
        String low = "http://eidas.europa.eu/LoA/low";
        String high = "http://eidas.europa.eu/LoA/high";
        assertEquals(Optional.empty(), EidasLoa.levelOf(assertion(low, high)));
        assertEquals(Optional.of(high), EidasLoa.levelOf(assertion(high, high)));
    }

    @Test
    void theNodeDoubleWritesTheClassRefOverKeycloaksUnspecified() throws Exception {
        AssertionType assertion = assertion(UNSPECIFIED);
        ResponseType response = new ResponseType("ID_r", now());
        response.addAssertion(new ResponseType.RTChoiceType(assertion));
        String substantial = "http://eidas.europa.eu/LoA/substantial";
        assertEquals(1, EidasLoa.setClassRef(response, URI.create(substantial)));
        assertEquals(Optional.of(substantial), EidasLoa.classRef(assertion));
        assertEquals(Optional.of(substantial), EidasLoa.levelOf(assertion));
    }
}
