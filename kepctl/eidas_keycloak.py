"""The citizens' realm and the eIDAS node double in a Keycloak that already runs (`kep services start`).

`--import-realm` reads realm files only into an empty database, so these two are ensured through the master
realm's admin API at every start: a realm that is missing, or was made from another version of its definition
(kepctl/eidas_realms.py), is (re)created; then each realm is given the other's signing certificate, read from the
SAML metadata Keycloak publishes (the node's IdP descriptor, the broker's SP descriptor), so that the node's
assertions and the broker's AuthnRequests are both checked. Idempotent: nothing changes when all is in place.

Both realms name the mappers of our provider (deployments/keycloak/eidas-loa: the level of assurance as
AuthnContextClassRef); a Keycloak without it is refused before any realm is touched, not left with realms whose
sign-ins would carry no level.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
from lxml import etree

from kepctl.eidas_realms import (
    CITIZENS_REALM,
    IDP_ALIAS,
    LOA_IDP_MAPPER,
    LOA_PROTOCOL_MAPPER,
    NODE_REALM,
    broker_endpoint,
    citizens_issuer,
    citizens_realm,
    node_realm,
    node_url,
)
from kepctl.stack import StackSettings

GENERATED = "kep.generated.sha256"  # a realm attribute: the digest of the definition it was made from
_NS = {"md": "urn:oasis:names:tc:SAML:2.0:metadata", "ds": "http://www.w3.org/2000/09/xmldsig#"}


def _digest(representation: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(representation, sort_keys=True).encode()).hexdigest()


def signing_certificate(descriptor: bytes) -> str:
    """The signing certificate (base64 DER) of a SAML metadata document."""
    root = etree.fromstring(descriptor, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    found = root.xpath("//md:KeyDescriptor[not(@use) or @use='signing']//ds:X509Certificate/text()", namespaces=_NS)
    if not found:
        raise RuntimeError("the SAML descriptor names no signing certificate")
    return "".join(str(found[0]).split())


def sign_in_admin(http: httpx.Client, stack: StackSettings) -> None:
    """`http` speaks to Keycloak's admin API as the bootstrap administrator (a password grant of admin-cli)."""
    token = http.post(
        f"{stack.keycloak_url}/realms/master/protocol/openid-connect/token",
        data={
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": stack.keycloak_admin_user,
            "password": stack.keycloak_admin_password.get_secret_value(),
        },
    )
    token.raise_for_status()
    http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"


def _require_providers(http: httpx.Client, admin: str) -> None:
    """Keycloak has loaded our eIDAS level-of-assurance provider (its two mappers)."""
    providers = http.get(f"{admin}/serverinfo").raise_for_status().json().get("providers", {})
    missing = [
        f"{spi} {name}"
        for spi, name in (("identity-provider-mapper", LOA_IDP_MAPPER), ("protocol-mapper", LOA_PROTOCOL_MAPPER))
        if name not in (providers.get(spi) or {}).get("providers", {})
    ]
    if missing:
        raise RuntimeError(
            f"Keycloak lacks the eIDAS level-of-assurance provider ({', '.join(missing)}): `./dev install` builds "
            "deployments/keycloak/eidas-loa into its providers/ folder, and `kep services start` restarts it"
        )


def _ensure_realm(http: httpx.Client, admin: str, representation: dict[str, Any]) -> bool:
    """The realm as defined; True when it was (re)created."""
    name, digest = representation["realm"], _digest(representation)
    found = http.get(f"{admin}/realms/{name}")
    if found.status_code == 200 and (found.json().get("attributes") or {}).get(GENERATED) == digest:
        return False
    if found.status_code == 200:
        gone = http.delete(f"{admin}/realms/{name}")
        if gone.status_code != 404:  # 404: another `kep services start` got there first
            gone.raise_for_status()
    elif found.status_code != 404:
        found.raise_for_status()
    body = representation | {"attributes": {**representation.get("attributes", {}), GENERATED: digest}}
    made = http.post(f"{admin}/realms", json=body)
    if made.status_code != 409:  # 409: made meanwhile by another start, from the same definition
        made.raise_for_status()
    return True


def ensure_eidas_realms(stack: StackSettings) -> None:
    url = stack.keycloak_url
    admin = f"{url}/admin"
    with httpx.Client(timeout=30) as http:
        sign_in_admin(http, stack)
        _require_providers(http, admin)
        _ensure_realm(http, admin, node_realm(url))
        _ensure_realm(http, admin, citizens_realm(url))
        # the node's key signs its assertions: the broker checks them with it
        node_cert = signing_certificate(
            http.get(f"{node_url(url)}/protocol/saml/descriptor").raise_for_status().content
        )
        idp_url = f"{admin}/realms/{CITIZENS_REALM}/identity-provider/instances/{IDP_ALIAS}"
        idp = http.get(idp_url).raise_for_status().json()
        if idp["config"].get("signingCertificate") != node_cert:
            idp["config"]["signingCertificate"] = node_cert
            http.put(idp_url, json=idp).raise_for_status()
        # the citizens' realm signs its AuthnRequests: the node checks them with its certificate
        sp_cert = signing_certificate(http.get(f"{broker_endpoint(url)}/descriptor").raise_for_status().content)
        clients = f"{admin}/realms/{NODE_REALM}/clients"
        [client] = http.get(clients, params={"clientId": citizens_issuer(url)}).raise_for_status().json()
        if client["attributes"].get("saml.signing.certificate") != sp_cert:
            client["attributes"]["saml.signing.certificate"] = sp_cert
            http.put(f"{clients}/{client['id']}", json=client).raise_for_status()
