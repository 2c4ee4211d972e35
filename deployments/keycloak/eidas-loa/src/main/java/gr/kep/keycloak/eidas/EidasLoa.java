package gr.kep.keycloak.eidas;

import java.net.URI;
import java.util.List;
import java.util.Optional;

import org.keycloak.dom.saml.v2.assertion.AssertionType;
import org.keycloak.dom.saml.v2.assertion.AuthnContextClassRefType;
import org.keycloak.dom.saml.v2.assertion.AuthnContextType;
import org.keycloak.dom.saml.v2.assertion.AuthnStatementType;
import org.keycloak.dom.saml.v2.assertion.StatementAbstractType;
import org.keycloak.dom.saml.v2.protocol.ResponseType;

/**
 * The eIDAS levels of assurance, and where a SAML assertion states one: the AuthnContextClassRef of its
 * AuthnStatement (eIDAS SAML Message Format: {@code http://eidas.europa.eu/LoA/low|substantial|high}).
 *
 * <p>Pure functions of Keycloak's SAML object model, so that they are tested without a server.
 */
public final class EidasLoa {

    public static final String PREFIX = "http://eidas.europa.eu/LoA/";
    public static final List<String> LEVELS = List.of(PREFIX + "low", PREFIX + "substantial", PREFIX + "high");

    private EidasLoa() {
    }

    /** The level a class ref names, exactly as eIDAS writes it; anything else is no level. */
    public static Optional<String> level(String classRef) {
        if (classRef == null) {
            return Optional.empty();
        }
        String trimmed = classRef.trim();
        return LEVELS.contains(trimmed) ? Optional.of(trimmed) : Optional.empty();
    }

    /** The AuthnContextClassRef of the assertion's AuthnStatements: present only if there is exactly one. */
    public static Optional<String> classRef(AssertionType assertion) {
        if (assertion == null || assertion.getStatements() == null) {
            return Optional.empty();
        }
        List<String> found = assertion.getStatements().stream()
                .filter(AuthnStatementType.class::isInstance)
                .map(AuthnStatementType.class::cast)
                .map(EidasLoa::classRef)
                .flatMap(Optional::stream)
                .distinct()
                .toList();
        // two AuthnStatements that disagree say no one level
        return found.size() == 1 ? Optional.of(found.get(0)) : Optional.empty();
    }

    private static Optional<String> classRef(AuthnStatementType statement) {
        AuthnContextType context = statement.getAuthnContext();
        if (context == null || context.getSequence() == null || context.getSequence().getClassRef() == null) {
            return Optional.empty();
        }
        URI value = context.getSequence().getClassRef().getValue();
        return value == null ? Optional.empty() : Optional.of(value.toString());
    }

    /** The eIDAS level the assertion states, if it states one it knows. */
    public static Optional<String> levelOf(AssertionType assertion) {
        return classRef(assertion).flatMap(EidasLoa::level);
    }

    /** Every AuthnStatement of the response's assertions states {@code classRef}; returns how many it changed. */
    public static int setClassRef(ResponseType response, URI classRef) {
        int changed = 0;
        for (ResponseType.RTChoiceType choice : response.getAssertions()) {
            AssertionType assertion = choice.getAssertion();
            if (assertion == null) {
                continue; // an encrypted assertion is made after the mappers
            }
            for (StatementAbstractType statement : assertion.getStatements()) {
                if (statement instanceof AuthnStatementType authn) {
                    AuthnContextType.AuthnContextTypeSequence sequence = new AuthnContextType.AuthnContextTypeSequence();
                    sequence.setClassRef(new AuthnContextClassRefType(classRef));
                    AuthnContextType context = new AuthnContextType();
                    context.setSequence(sequence);
                    authn.setAuthnContext(context);
                    changed++;
                }
            }
        }
        return changed;
    }
}
