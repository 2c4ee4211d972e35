"""The Keycloak realm of the local stack, generated from the demo data so that the two cannot drift apart.

`python -m kepctl.realm` writes deployments/keycloak/realm-kep.json (committed, for review); `--check` fails when
the file is not what this module makes. Development only: the demo users' password is public, and `kep-cli`
allows the password grant. The realm for a real deployment is deployments/k8s/base/keycloak/realm-kep.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from kepctl.seed import USERS, DemoUser, sid
from kepctl.stack import REALM, ROOT

REALM_FILE = ROOT / "deployments" / "keycloak" / "realm-kep.json"
# The client the web app signs in with; every access token for the API carries it in `aud` (KEP_OIDC_AUDIENCE).
WEB_CLIENT = "kep-backoffice"
# A public client with the password grant, for `kep token` and the tests.
CLI_CLIENT = "kep-cli"
# The password of every demo user: development only, it is in the repository.
DEMO_PASSWORD = "kep-demo"  # noqa: S105
OFFICE_ATTRIBUTE = "kep_office"
ACCESS_TOKEN_LIFESPAN_S = 300
# Where the API and a web app run locally; their origins may start a sign-in (PKCE) and come back.
LOCAL_APP_URLS = ("http://127.0.0.1:8000", "http://localhost:8000", "http://127.0.0.1:5173", "http://localhost:5173")

ROLES = {
    "employee": "KEP employee: opens and follows cases of their office",
    "supervisor": "KEP supervisor: an employee who also approves and reassigns",
    "administrator": "Central administration: offices, users, catalogue, forms",
}

_UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_EVERYONE = {"view": ["admin", "user"], "edit": ["admin", "user"]}


def _attribute(name: str, display: str, validations: dict[str, Any], permissions: dict[str, list[str]]) -> Any:
    return {
        "name": name,
        "displayName": display,
        "validations": validations,
        "permissions": permissions,
        "multivalued": False,
    }


# Keycloak's declarative user profile: an attribute it does not declare cannot be set through the admin API.
# Unlike Keycloak's default, e-mail and names are optional: staff accounts are made by administrators, and
# a profile missing a required field would make Keycloak refuse the password grant ("not fully set up").
USER_PROFILE = {
    "attributes": [
        _attribute(
            "username",
            "${username}",
            {
                "length": {"min": 3, "max": 255},
                "username-prohibited-characters": {},
                "up-username-not-idn-homograph": {},
            },
            _EVERYONE,
        ),
        _attribute("email", "${email}", {"email": {}, "length": {"max": 255}}, _EVERYONE),
        _attribute(
            "firstName", "${firstName}", {"length": {"max": 255}, "person-name-prohibited-characters": {}}, _EVERYONE
        ),
        _attribute(
            "lastName", "${lastName}", {"length": {"max": 255}, "person-name-prohibited-characters": {}}, _EVERYONE
        ),
        # The office whose cases the user works on; only administrators see or change it.
        _attribute(
            OFFICE_ATTRIBUTE,
            "Office id",
            {"pattern": {"pattern": _UUID_PATTERN, "error-message": "kep_office must be an office id (a UUID)"}},
            {"view": ["admin"], "edit": ["admin"]},
        ),
    ],
    "groups": [
        {
            "name": "user-metadata",
            "displayHeader": "User metadata",
            "displayDescription": "Attributes, which refer to user metadata",
        }
    ],
}


def api_claims_mappers() -> list[dict[str, Any]]:
    """What the API needs in an access token: itself as audience, and the caller's office."""
    return [
        {
            "name": "audience kep-backoffice",
            "protocol": "openid-connect",
            "protocolMapper": "oidc-audience-mapper",
            "config": {
                "included.client.audience": WEB_CLIENT,
                "access.token.claim": "true",
                "introspection.token.claim": "true",
                "id.token.claim": "false",
            },
        },
        {
            "name": OFFICE_ATTRIBUTE,
            "protocol": "openid-connect",
            "protocolMapper": "oidc-usermodel-attribute-mapper",
            "config": {
                "user.attribute": OFFICE_ATTRIBUTE,
                "claim.name": OFFICE_ATTRIBUTE,
                "jsonType.label": "String",
                "access.token.claim": "true",
                "introspection.token.claim": "true",
                "id.token.claim": "false",
                "userinfo.token.claim": "false",
            },
        },
    ]


def _clients() -> list[dict[str, Any]]:
    web = {
        "clientId": WEB_CLIENT,
        "name": "KEP Backoffice",
        "description": "The web app: authorization code flow with PKCE",
        "enabled": True,
        "publicClient": True,
        "standardFlowEnabled": True,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "serviceAccountsEnabled": False,
        "redirectUris": [f"{url}/*" for url in LOCAL_APP_URLS],
        "webOrigins": ["+"],
        "attributes": {"pkce.code.challenge.method": "S256", "post.logout.redirect.uris": "+"},
        "protocolMappers": api_claims_mappers(),
    }
    cli = {
        "clientId": CLI_CLIENT,
        "name": "KEP command line (development)",
        "description": "Development only: password grant for `kep token` and the tests",
        "enabled": True,
        "publicClient": True,
        "standardFlowEnabled": False,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": True,
        "serviceAccountsEnabled": False,
        "protocolMappers": api_claims_mappers(),
    }
    return [web, cli]


def _user(u: DemoUser) -> dict[str, Any]:
    first, _, last = u.name.partition(" ")
    user: dict[str, Any] = {
        # The Keycloak id is the token's `sub`: the demo user's row id in `users` (kepctl/seed.py), so the two
        # match, and importing twice gives the same ids.
        "id": str(sid("user", u.subject)),
        "username": u.subject,
        "enabled": True,
        "firstName": first,
        **({"lastName": last} if last else {}),
        **({"attributes": {OFFICE_ATTRIBUTE: [str(sid("office", u.office))]}} if u.office else {}),
        "realmRoles": list(u.roles),
        "credentials": [{"type": "password", "value": DEMO_PASSWORD, "temporary": False}],
    }
    return user


def realm() -> dict[str, Any]:
    return {
        "realm": REALM,
        "displayName": "KEP Backoffice (local development)",
        "enabled": True,
        "sslRequired": "external",
        "registrationAllowed": False,
        "editUsernameAllowed": False,
        "accessTokenLifespan": ACCESS_TOKEN_LIFESPAN_S,
        "roles": {"realm": [{"name": name, "description": text} for name, text in ROLES.items()]},
        "clients": _clients(),
        "components": {
            "org.keycloak.userprofile.UserProfileProvider": [
                {
                    "providerId": "declarative-user-profile",
                    "subComponents": {},
                    "config": {"kc.user.profile.config": [json.dumps(USER_PROFILE, ensure_ascii=False)]},
                }
            ]
        },
        "users": [_user(u) for u in USERS],
    }


def render() -> str:
    return json.dumps(realm(), ensure_ascii=False, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write (or --check) " + str(REALM_FILE.relative_to(ROOT)))
    parser.add_argument("--check", action="store_true", help="fail if the file differs from what would be written")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = REALM_FILE.read_text(encoding="utf-8") if REALM_FILE.exists() else ""
        if current != text:
            print(f"{REALM_FILE} is stale: run python -m kepctl.realm", file=sys.stderr)
            return 1
        return 0
    REALM_FILE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
