"""The signing identity the settings name (None: certificates go out unsigned, which production refuses at start)."""

from __future__ import annotations

from functools import cache

from cryptography import x509

from actors.documents.signing import SigningIdentity
from infra.settings import Settings


@cache
def _load(settings: Settings) -> SigningIdentity | None:
    if settings.signing_key_file is None or settings.signing_cert_file is None:
        return None
    secret = settings.signing_key_passphrase
    passphrase = secret.get_secret_value().encode() if secret is not None else None
    return SigningIdentity.load(
        settings.signing_key_file, settings.signing_cert_file, settings.signing_chain_files, passphrase
    )


def identity_from_settings(settings: Settings) -> SigningIdentity | None:
    return _load(settings)


def trust_roots_from_settings(settings: Settings) -> tuple[x509.Certificate, ...]:
    identity = _load(settings)
    return identity.trust_roots if identity is not None else ()
