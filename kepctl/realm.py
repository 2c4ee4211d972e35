"""The Keycloak realms, generated here so that they cannot drift apart: the local stack's, from the demo data, and
the production one.

`python -m kepctl.realm` writes deployments/keycloak/realm-kep.json (local) and
deployments/k8s/base/keycloak/realm-kep.json (production), both committed for review; `--check` fails when a file
is not what this module makes. The local realm is for development only: the demo users' password is public, and
`kep-cli` allows the password grant. The production realm has no users and no password grant; it asks every user
for a one-time code (TOTP, set up at the first sign-in), locks an account out for a while after repeated failed
sign-ins, wants long passwords, and lets only administrators see or change a user's office. Both share the clients'
token mappers and the user profile.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from kepctl.seed import USERS, DemoUser, sid
from kepctl.stack import REALM, ROOT

REALM_FILE = ROOT / "deployments" / "keycloak" / "realm-kep.json"
PRODUCTION_REALM_FILE = ROOT / "deployments" / "k8s" / "base" / "keycloak" / "realm-kep.json"
# where the production web app is served (the overlays' Ingress host)
PRODUCTION_URL = "https://kep.example.gr"
# The client the web app signs in with; every access token for the API carries it in `aud` (KEP_OIDC_AUDIENCE).
WEB_CLIENT = "kep-backoffice"
# A public client with the password grant, for `kep token` and the tests.
CLI_CLIENT = "kep-cli"
# The password of every demo user: development only, it is in the repository.
DEMO_PASSWORD = "kep-demo"  # noqa: S105
OFFICE_ATTRIBUTE = "kep_office"
# The confidential client the API manages the external applications' clients and the staff's accounts with (Admin
# REST API, client credentials); its service account holds realm-management's roles for those two, nothing more
# (no realm settings, no roles' definitions, no other realm).
APPS_ADMIN_CLIENT = "kep-apps-admin"
# Development only (the production secret comes from KEP_KEYCLOAK_ADMIN_CLIENT_SECRET).
APPS_ADMIN_DEV_SECRET = "kep-apps-admin-dev-secret"  # noqa: S105
# A placeholder Keycloak fills in from its environment at import (deployments/k8s/…/keycloak.env)
PRODUCTION_ADMIN_SECRET = "${KEP_KEYCLOAK_ADMIN_CLIENT_SECRET}"  # noqa: S105
APPS_ADMIN_ROLES = ("manage-clients", "view-clients", "manage-users", "view-users", "query-users")
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


# Keycloak's brute-force detection: after 5 failed sign-ins an account waits a minute, then longer (up to 15) with
# each further failure; failures are forgotten after 12 hours. Temporary, so that nobody can lock a colleague out
# for good by guessing at their name.
BRUTE_FORCE = {
    "bruteForceProtected": True,
    "permanentLockout": False,
    "failureFactor": 5,
    "waitIncrementSeconds": 60,
    "maxFailureWaitSeconds": 900,
    "maxDeltaTimeSeconds": 43200,
    "quickLoginCheckMilliSeconds": 1000,
    "minimumQuickLoginWaitSeconds": 60,
}
OTP_POLICY = {
    "otpPolicyType": "totp",
    "otpPolicyAlgorithm": "HmacSHA1",  # what authenticator apps implement
    "otpPolicyDigits": 6,
    "otpPolicyPeriod": 30,
    "otpPolicyLookAheadWindow": 1,
}
PASSWORD_POLICY = "length(12) and notUsername and notEmail and passwordHistory(5)"  # noqa: S105 - a rule, no secret


def _required_action(alias: str, name: str, priority: int, default: bool = False) -> dict[str, Any]:
    return {
        "alias": alias,
        "name": name,
        "providerId": alias,
        "enabled": True,
        "defaultAction": default,
        "priority": priority,
        "config": {},
    }


# A realm file that lists required actions gets exactly those: Keycloak's usual ones, with the one-time code set up
# by every new user at the first sign-in (a default action).
PRODUCTION_REQUIRED_ACTIONS = [
    _required_action("CONFIGURE_TOTP", "Configure OTP", 10, default=True),
    _required_action("UPDATE_PASSWORD", "Update Password", 30),
    _required_action("UPDATE_PROFILE", "Update Profile", 40),
    _required_action("VERIFY_EMAIL", "Verify Email", 50),
    _required_action("VERIFY_PROFILE", "Verify Profile", 90),
    _required_action("delete_credential", "Delete Credential", 100),
]


def _user_profile_component() -> dict[str, Any]:
    return {
        "org.keycloak.userprofile.UserProfileProvider": [
            {
                "providerId": "declarative-user-profile",
                "subComponents": {},
                "config": {"kc.user.profile.config": [json.dumps(USER_PROFILE, ensure_ascii=False)]},
            }
        ]
    }


def _web_client(urls: tuple[str, ...], origins: list[str]) -> dict[str, Any]:
    return {
        "clientId": WEB_CLIENT,
        "name": "KEP Backoffice",
        "description": "The web app: authorization code flow with PKCE",
        "enabled": True,
        "publicClient": True,
        "standardFlowEnabled": True,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "serviceAccountsEnabled": False,
        "redirectUris": [f"{url}/*" for url in urls],
        "webOrigins": origins,
        "attributes": {"pkce.code.challenge.method": "S256", "post.logout.redirect.uris": "+"},
        "protocolMappers": api_claims_mappers(),
    }


def _clients() -> list[dict[str, Any]]:
    web = _web_client(LOCAL_APP_URLS, ["+"])
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
    return [web, cli, apps_admin_client()]


def apps_admin_client(secret: str = APPS_ADMIN_DEV_SECRET) -> dict[str, Any]:
    return {
        "clientId": APPS_ADMIN_CLIENT,
        "name": "KEP external applications (admin API)",
        "description": "The API's service account: the external applications' clients and the staff's accounts",
        "enabled": True,
        "publicClient": False,
        "clientAuthenticatorType": "client-secret",
        "secret": secret,
        "standardFlowEnabled": False,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "serviceAccountsEnabled": True,
    }


def apps_admin_service_account() -> dict[str, Any]:
    return {
        "username": f"service-account-{APPS_ADMIN_CLIENT}",
        "enabled": True,
        "serviceAccountClientId": APPS_ADMIN_CLIENT,
        "clientRoles": {"realm-management": list(APPS_ADMIN_ROLES)},
    }


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
        **BRUTE_FORCE,
        "roles": {"realm": [{"name": name, "description": text} for name, text in ROLES.items()]},
        "clients": _clients(),
        "components": _user_profile_component(),
        "users": [_user(u) for u in USERS] + [apps_admin_service_account()],
    }


def production_realm() -> dict[str, Any]:
    return {
        "realm": REALM,
        "displayName": "KEP Backoffice",
        "enabled": True,
        "sslRequired": "external",
        "registrationAllowed": False,
        "editUsernameAllowed": False,
        "resetPasswordAllowed": True,
        "accessTokenLifespan": ACCESS_TOKEN_LIFESPAN_S,
        **BRUTE_FORCE,
        **OTP_POLICY,
        "passwordPolicy": PASSWORD_POLICY,
        "requiredActions": PRODUCTION_REQUIRED_ACTIONS,
        "roles": {"realm": [{"name": name, "description": text} for name, text in ROLES.items()]},
        # The API's service account (external applications' clients, people): its secret comes from the
        # Keycloak pod's environment when the realm is imported (Keycloak resolves `${VAR}` in import files), the
        # same value the API has as KEP_KEYCLOAK_ADMIN_CLIENT_SECRET; no human user is imported.
        "clients": [_web_client((PRODUCTION_URL,), [PRODUCTION_URL]), apps_admin_client(PRODUCTION_ADMIN_SECRET)],
        "users": [apps_admin_service_account()],
        "components": _user_profile_component(),
    }


def render(production: bool = False) -> str:
    return json.dumps(production_realm() if production else realm(), ensure_ascii=False, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write (or --check) the local and the production realm files")
    parser.add_argument("--check", action="store_true", help="fail if the file differs from what would be written")
    args = parser.parse_args(argv)
    stale = 0
    for path, text in ((REALM_FILE, render()), (PRODUCTION_REALM_FILE, render(production=True))):
        if not args.check:
            path.write_text(text, encoding="utf-8")
        elif (path.read_text(encoding="utf-8") if path.exists() else "") != text:
            print(f"{path} is stale: run python -m kepctl.realm", file=sys.stderr)
            stale = 1
    return stale


if __name__ == "__main__":
    sys.exit(main())
