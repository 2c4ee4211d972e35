"""The citizens' realm (`kep-citizens`: eIDAS sign-in through a brokered SAML identity provider) and the local
stack's double of the eIDAS node (`eidas-node`: a Keycloak realm acting as the SAML IdP, with test citizens).

`python -m kepctl.eidas_realms` writes deployments/keycloak/realm-kep-citizens.json and realm-eidas-node.json, both
committed for review; `--check` fails when a file is not what this module makes. They are not imported by
`--import-realm`: `kep services start` ensures them in the running Keycloak (kepctl/eidas_keycloak.py), which also
exchanges the two realms' signing certificates (made by Keycloak, so not in the files).

Citizens are keyed on the eIDAS PersonIdentifier (`<citizen country>/<SP country>/<id>`), never on a Greek ΑΦΜ: it is
the brokered identity's id and, prefixed by the provider's alias, the Keycloak username.

The level of assurance is where eIDAS states it: the AuthnContextClassRef of the assertion's AuthnStatement
(`http://eidas.europa.eu/LoA/low|substantial|high`). Stock Keycloak's SAML broker does not read it, and its IdP
writes `unspecified` there, so our provider (deployments/keycloak/eidas-loa, put into Keycloak by `./dev install`)
adds two mappers: the broker's LOA_IDP_MAPPER puts the class ref of the signed assertion into LOA_USER_ATTRIBUTE
(any other class ref, or none, leaves no level), and the double's LOA_PROTOCOL_MAPPER writes its citizen's
`loa_uri` there instead of `unspecified`. The broker's AuthnRequest asks for at least `low` (RequestedAuthnContext,
comparison minimum): eIDAS wants a RequestedAuthnContext in every AuthnRequest.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any

from kepctl.realm import ACCESS_TOKEN_LIFESPAN_S, BRUTE_FORCE, LOCAL_APP_URLS
from kepctl.stack import ROOT

CITIZENS_REALM = "kep-citizens"
NODE_REALM = "eidas-node"
CITIZENS_REALM_FILE = ROOT / "deployments" / "keycloak" / "realm-kep-citizens.json"
NODE_REALM_FILE = ROOT / "deployments" / "keycloak" / "realm-eidas-node.json"
LOCAL_KEYCLOAK_URL = "http://127.0.0.1:18180"  # the stack's default (kepctl/stack.py): the files name it
IDP_ALIAS = "eidas"
# The citizens' web app signs in with it (PKCE); every citizen access token carries it in `aud`.
CITIZEN_CLIENT = "kep-eugo"
FIRST_LOGIN_FLOW = "eidas first login"
BROWSER_FLOW = "eidas browser"
NODE_PASSWORD = "eidas-demo"  # noqa: S105 - the test citizens' password at the double, development only

EIDAS = "http://eidas.europa.eu/attributes/naturalperson/"
PERSON_IDENTIFIER = EIDAS + "PersonIdentifier"
FAMILY_NAME = EIDAS + "CurrentFamilyName"
GIVEN_NAME = EIDAS + "CurrentGivenName"
DATE_OF_BIRTH = EIDAS + "DateOfBirth"
URI_FORMAT = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
LOA_PREFIX = "http://eidas.europa.eu/LoA/"
LEVELS = ("low", "substantial", "high")
# our Keycloak provider's mappers (deployments/keycloak/eidas-loa): the broker's reads AuthnContextClassRef, the
# double's writes it
LOA_IDP_MAPPER = "eidas-loa-idp-mapper"
LOA_PROTOCOL_MAPPER = "eidas-node-loa-mapper"
# the procedure-independent minimum the broker requests; a procedure's own minimum is checked by our API
REQUESTED_MINIMUM_LOA = "low"

# user attributes of the citizens' realm, and the token claims they become
PERSON_ID_ATTRIBUTE = "eidas_person_identifier"
LOA_USER_ATTRIBUTE = "eidas_loa"
BIRTHDATE_ATTRIBUTE = "birthdate"


@dataclass(frozen=True)
class NodeCitizen:
    username: str  # at the node
    person_identifier: str
    given_name: str
    family_name: str
    date_of_birth: str
    loa: str


TEST_CITIZENS = (
    NodeCitizen("es-12345678z", "ES/EL/12345678Z", "Carmen", "García López", "1985-04-12", "substantial"),
    NodeCitizen("de-t22000129", "DE/EL/T22000129", "Erika", "Mustermann", "1964-08-12", "high"),
    NodeCitizen("it-rssmra80a01h501u", "IT/EL/RSSMRA80A01H501U", "Mario", "Rossi", "1980-01-01", "low"),
)
# k6's citizens (k6/citizens.js): each virtual user signs in as its own, so that one citizen's rate limit does not
# throttle the scenario; the same NODE_PASSWORD, level substantial, countries in turn
LOAD_CITIZEN_COUNT = 40
LOAD_COUNTRIES = ("AT", "BE", "CY", "DE", "ES", "FR", "IT", "NL")
LOAD_CITIZENS = tuple(
    NodeCitizen(
        f"load-{i:03d}",
        f"{LOAD_COUNTRIES[i % len(LOAD_COUNTRIES)]}/EL/LOAD{i:05d}",
        "Load",
        f"Citizen {i:03d}",
        "1990-01-01",
        "substantial",
    )
    for i in range(1, LOAD_CITIZEN_COUNT + 1)
)


def citizens_issuer(keycloak_url: str = LOCAL_KEYCLOAK_URL) -> str:
    return f"{keycloak_url}/realms/{CITIZENS_REALM}"


def node_url(keycloak_url: str = LOCAL_KEYCLOAK_URL) -> str:
    return f"{keycloak_url}/realms/{NODE_REALM}"


def broker_endpoint(keycloak_url: str = LOCAL_KEYCLOAK_URL) -> str:
    """Where the node posts its SAMLResponse: the citizens' realm's endpoint for the provider."""
    return f"{citizens_issuer(keycloak_url)}/broker/{IDP_ALIAS}/endpoint"


def _attribute(name: str, validations: dict[str, Any], edit: list[str], view: list[str] | None = None) -> Any:
    return {
        "name": name,
        "displayName": name,
        "validations": validations,
        "permissions": {"view": view or ["admin", "user"], "edit": edit},
        "multivalued": False,
    }


def _profile(extra: list[dict[str, Any]]) -> dict[str, Any]:
    # names and e-mail optional (eIDAS gives no e-mail; a missing required field would stop the sign-in with a
    # form); no character rules on names, which are the member state's to write
    profile: dict[str, Any] = {
        "attributes": [
            _attribute("username", {"length": {"min": 3, "max": 255}}, ["admin"]),
            _attribute("email", {"email": {}, "length": {"max": 255}}, ["admin", "user"]),
            _attribute("firstName", {"length": {"max": 255}}, ["admin"]),
            _attribute("lastName", {"length": {"max": 255}}, ["admin"]),
            *extra,
        ]
    }
    return {
        "org.keycloak.userprofile.UserProfileProvider": [
            {
                "providerId": "declarative-user-profile",
                "subComponents": {},
                "config": {"kc.user.profile.config": [json.dumps(profile, ensure_ascii=False)]},
            }
        ]
    }


def _execution(authenticator: str, requirement: str, priority: int, config: str | None = None) -> dict[str, Any]:
    return {
        "authenticator": authenticator,
        "authenticatorFlow": False,
        "requirement": requirement,
        "priority": priority,
        "userSetupAllowed": False,
        **({"authenticatorConfig": config} if config else {}),
    }


def _flow(alias: str, description: str, executions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "alias": alias,
        "description": description,
        "providerId": "basic-flow",
        "topLevel": True,
        "builtIn": False,
        "authenticationExecutions": executions,
    }


def _importer(name: str, attribute: str, user_attribute: str) -> dict[str, Any]:
    return {
        "name": name,
        "identityProviderAlias": IDP_ALIAS,
        "identityProviderMapper": "saml-user-attribute-idp-mapper",
        "config": {
            "syncMode": "INHERIT",
            "attribute.name": attribute,
            "attribute.name.format": "ATTRIBUTE_FORMAT_URI",
            "user.attribute": user_attribute,
        },
    }


def identity_provider(keycloak_url: str, node_certificate: str = "") -> dict[str, Any]:
    node = node_url(keycloak_url)
    return {
        "alias": IDP_ALIAS,
        "displayName": "eIDAS",
        "providerId": "saml",
        "enabled": True,
        "trustEmail": False,
        "storeToken": False,
        "linkOnly": False,
        "firstBrokerLoginFlowAlias": FIRST_LOGIN_FLOW,
        "config": {
            "entityId": citizens_issuer(keycloak_url),
            "idpEntityId": node,
            "singleSignOnServiceUrl": f"{node}/protocol/saml",
            "singleLogoutServiceUrl": f"{node}/protocol/saml",
            "nameIDPolicyFormat": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
            # the brokered identity is the PersonIdentifier, not the node's NameID
            "principalType": "ATTRIBUTE",
            "principalAttribute": PERSON_IDENTIFIER,
            "postBindingAuthnRequest": "false",
            "postBindingResponse": "true",
            "postBindingLogout": "true",
            "wantAuthnRequestsSigned": "true",
            "signatureAlgorithm": "RSA_SHA256",
            "xmlSigKeyInfoKeyNameTransformer": "KEY_ID",
            "wantAssertionsSigned": "true",
            "validateSignature": "true",
            "signingCertificate": node_certificate,
            "allowCreate": "true",
            "forceAuthn": "false",
            # eIDAS wants a RequestedAuthnContext in every AuthnRequest: at least `low`
            "authnContextComparisonType": "minimum",
            "authnContextClassRefs": json.dumps([LOA_PREFIX + REQUESTED_MINIMUM_LOA]),
            # every sign-in brings the node's current names and level of assurance
            "syncMode": "FORCE",
            "allowedClockSkew": "0",
        },
    }


def _idp_mappers() -> list[dict[str, Any]]:
    return [
        {
            "name": "username from PersonIdentifier",
            "identityProviderAlias": IDP_ALIAS,
            "identityProviderMapper": "saml-username-idp-mapper",
            "config": {"syncMode": "INHERIT", "template": "${ALIAS}.${ATTRIBUTE.PersonIdentifier}", "target": "LOCAL"},
        },
        _importer("PersonIdentifier", PERSON_IDENTIFIER, PERSON_ID_ATTRIBUTE),
        _importer("CurrentFamilyName", FAMILY_NAME, "lastName"),
        _importer("CurrentGivenName", GIVEN_NAME, "firstName"),
        _importer("DateOfBirth", DATE_OF_BIRTH, BIRTHDATE_ATTRIBUTE),
        {
            "name": "level of assurance from AuthnContextClassRef",
            "identityProviderAlias": IDP_ALIAS,
            "identityProviderMapper": LOA_IDP_MAPPER,
            "config": {"syncMode": "INHERIT", "user.attribute": LOA_USER_ATTRIBUTE},
        },
    ]


def _claim(attribute: str, claim: str, mapper: str = "oidc-usermodel-attribute-mapper") -> dict[str, Any]:
    return {
        "name": claim,
        "protocol": "openid-connect",
        "protocolMapper": mapper,
        "config": {
            "user.attribute": attribute,
            "claim.name": claim,
            "jsonType.label": "String",
            "access.token.claim": "true",
            "id.token.claim": "true",
            "introspection.token.claim": "true",
            "userinfo.token.claim": "true",
        },
    }


def citizen_claims_mappers() -> list[dict[str, Any]]:
    return [
        {
            "name": f"audience {CITIZEN_CLIENT}",
            "protocol": "openid-connect",
            "protocolMapper": "oidc-audience-mapper",
            "config": {
                "included.client.audience": CITIZEN_CLIENT,
                "access.token.claim": "true",
                "introspection.token.claim": "true",
                "id.token.claim": "false",
            },
        },
        _claim(PERSON_ID_ATTRIBUTE, PERSON_ID_ATTRIBUTE),
        _claim(LOA_USER_ATTRIBUTE, LOA_USER_ATTRIBUTE),
        _claim(BIRTHDATE_ATTRIBUTE, "birthdate"),
        _claim("lastName", "family_name", "oidc-usermodel-property-mapper"),
        _claim("firstName", "given_name", "oidc-usermodel-property-mapper"),
    ]


def _citizen_client() -> dict[str, Any]:
    return {
        "clientId": CITIZEN_CLIENT,
        "name": "EUGO (citizens)",
        "description": "The citizens' web app: authorization code flow with PKCE, sign-in through eIDAS",
        "enabled": True,
        "publicClient": True,
        "standardFlowEnabled": True,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "serviceAccountsEnabled": False,
        "redirectUris": [f"{url}/*" for url in LOCAL_APP_URLS],
        "webOrigins": ["+"],
        "attributes": {"pkce.code.challenge.method": "S256", "post.logout.redirect.uris": "+"},
        "protocolMappers": citizen_claims_mappers(),
    }


def citizens_realm(keycloak_url: str = LOCAL_KEYCLOAK_URL, node_certificate: str = "") -> dict[str, Any]:
    admin_only = ["admin"]
    return {
        "realm": CITIZENS_REALM,
        "displayName": "EUGO: citizens of the EU (local development)",
        "enabled": True,
        "sslRequired": "external",
        "registrationAllowed": False,
        "resetPasswordAllowed": False,
        "editUsernameAllowed": False,
        "accessTokenLifespan": ACCESS_TOKEN_LIFESPAN_S,
        **BRUTE_FORCE,
        # no password of this realm signs anyone in: the browser flow only hands over to eIDAS
        "browserFlow": BROWSER_FLOW,
        "authenticationFlows": [
            _flow(
                BROWSER_FLOW,
                "Sign-in through eIDAS only",
                [
                    _execution("auth-cookie", "ALTERNATIVE", 10),
                    _execution("identity-provider-redirector", "ALTERNATIVE", 20, config="eidas redirector"),
                ],
            ),
            _flow(
                FIRST_LOGIN_FLOW,
                "A citizen's first eIDAS sign-in creates their account from the node's attributes, with no form",
                [_execution("idp-create-user-if-unique", "REQUIRED", 10)],
            ),
        ],
        "authenticatorConfig": [{"alias": "eidas redirector", "config": {"defaultProvider": IDP_ALIAS}}],
        "identityProviders": [identity_provider(keycloak_url, node_certificate)],
        "identityProviderMappers": _idp_mappers(),
        "clients": [_citizen_client()],
        "components": _profile(
            [
                # what the node asserted: the citizen sees it, only the broker (and administrators) write it
                _attribute(PERSON_ID_ATTRIBUTE, {"length": {"max": 1024}}, admin_only),
                _attribute(BIRTHDATE_ATTRIBUTE, {"length": {"max": 32}}, admin_only),
                _attribute(
                    LOA_USER_ATTRIBUTE, {"options": {"options": [LOA_PREFIX + level for level in LEVELS]}}, admin_only
                ),
            ]
        ),
    }


def _node_mapper(name: str, attribute: str, source: str, property_mapper: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "protocol": "saml",
        "protocolMapper": "saml-user-property-mapper" if property_mapper else "saml-user-attribute-mapper",
        "config": {
            "user.attribute": source,
            "attribute.name": attribute,
            "friendly.name": name,
            "attribute.nameformat": "URI Reference",
        },
    }


def node_client(keycloak_url: str = LOCAL_KEYCLOAK_URL, sp_certificate: str = "") -> dict[str, Any]:
    """The citizens' realm as a service provider of the node: its entity id, its endpoint, the attributes it gets."""
    endpoint = broker_endpoint(keycloak_url)
    return {
        "clientId": citizens_issuer(keycloak_url),
        "name": "KEP citizens' realm (eIDAS service provider)",
        "protocol": "saml",
        "enabled": True,
        "frontchannelLogout": True,
        "redirectUris": [endpoint],
        "attributes": {
            "saml.assertion.signature": "true",
            "saml.server.signature": "true",
            "saml.signature.algorithm": "RSA_SHA256",
            "saml_signature_canonicalization_method": "http://www.w3.org/2001/10/xml-exc-c14n#",
            # AuthnRequests must be signed by the citizens' realm, checked with its certificate
            "saml.client.signature": "true",
            "saml.signing.certificate": sp_certificate,
            "saml.force.post.binding": "true",
            "saml.authnstatement": "true",
            "saml_force_name_id_format": "true",
            "saml_name_id_format": "persistent",
            "saml.encrypt": "false",
            "saml_assertion_consumer_url_post": endpoint,
            "saml_single_logout_service_url_post": endpoint,
        },
        "protocolMappers": [
            _node_mapper("PersonIdentifier", PERSON_IDENTIFIER, "person_identifier"),
            _node_mapper("CurrentFamilyName", FAMILY_NAME, "lastName", property_mapper=True),
            _node_mapper("CurrentGivenName", GIVEN_NAME, "firstName", property_mapper=True),
            _node_mapper("DateOfBirth", DATE_OF_BIRTH, "date_of_birth"),
            # the level of assurance is no attribute: the AuthnStatement's AuthnContextClassRef, as a node says it
            {
                "name": "AuthnContextClassRef from loa_uri",
                "protocol": "saml",
                "protocolMapper": LOA_PROTOCOL_MAPPER,
                "config": {"user.attribute": "loa_uri"},
            },
        ],
    }


def _node_user(c: NodeCitizen) -> dict[str, Any]:
    return {
        "username": c.username,
        "enabled": True,
        "firstName": c.given_name,
        "lastName": c.family_name,
        "attributes": {
            "person_identifier": [c.person_identifier],
            "date_of_birth": [c.date_of_birth],
            "loa_uri": [LOA_PREFIX + c.loa],
        },
        "credentials": [{"type": "password", "value": NODE_PASSWORD, "temporary": False}],
    }


def node_realm(keycloak_url: str = LOCAL_KEYCLOAK_URL, sp_certificate: str = "") -> dict[str, Any]:
    return {
        "realm": NODE_REALM,
        "displayName": "eIDAS node (test double, local development)",
        "enabled": True,
        "sslRequired": "external",
        "registrationAllowed": False,
        "clients": [node_client(keycloak_url, sp_certificate)],
        # the test citizens' attributes are the node's own data: kept as they are, never shown to anyone but admins
        "components": _profile(
            [
                _attribute(name, {"length": {"max": 1024}}, ["admin"], view=["admin"])
                for name in ("person_identifier", "date_of_birth", "loa_uri")
            ]
        ),
        "users": [_node_user(c) for c in TEST_CITIZENS + LOAD_CITIZENS],
    }


def render(which: str) -> str:
    data = citizens_realm() if which == CITIZENS_REALM else node_realm()
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write (or --check) the citizens' realm and the eIDAS node double")
    parser.add_argument("--check", action="store_true", help="fail if a file differs from what would be written")
    args = parser.parse_args(argv)
    stale = 0
    for path, text in ((CITIZENS_REALM_FILE, render(CITIZENS_REALM)), (NODE_REALM_FILE, render(NODE_REALM))):
        if not args.check:
            path.write_text(text, encoding="utf-8")
        elif (path.read_text(encoding="utf-8") if path.exists() else "") != text:
            print(f"{path} is stale: run python -m kepctl.eidas_realms", file=sys.stderr)
            stale = 1
    return stale


if __name__ == "__main__":
    sys.exit(main())
