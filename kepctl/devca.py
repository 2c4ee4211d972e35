"""A development certificate authority and document signer, for signing PDFs on a developer's machine.

FOR DEVELOPMENT ONLY: the keys lie unencrypted on disk and nobody outside this machine trusts the root. Issued
documents in production are signed with a certificate from a qualified trust service provider.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from messages.errors import ConfigurationError

VALIDITY = dt.timedelta(days=3652)  # ten years: a developer's checkout should not see its CA expire
SIGNER_CN = "KEP Backoffice development signer"
CA_CN = "KEP Backoffice development root CA (NOT FOR PRODUCTION)"
ORGANISATION = "KEP (development)"
# RFC 9336 id-kp-documentSigning; pyHanko's validator accepts any extended key usage unless told otherwise.
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")


@dataclass(frozen=True)
class DevCa:
    """Where the development CA and its document signer lie."""

    ca_cert: Path
    ca_key: Path
    signer_cert: Path
    signer_key: Path


def ensure_dev_ca(directory: Path) -> DevCa:
    """The development CA in `directory`, creating what is missing and never replacing a file that exists."""
    paths = DevCa(
        ca_cert=directory / "ca.pem",
        ca_key=directory / "ca.key",
        signer_cert=directory / "signer.pem",
        signer_key=directory / "signer.key",
    )
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca_cert, ca_key = _ensure_ca(paths)
    _ensure_signer(paths, ca_cert, ca_key)
    return paths


def _ensure_ca(paths: DevCa) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    have_cert, have_key = paths.ca_cert.exists(), paths.ca_key.exists()
    if have_cert and have_key:
        return _load_pair(paths.ca_cert, paths.ca_key)
    if have_cert or have_key or paths.signer_cert.exists():
        # a new root would not be the one that issued what is already there
        raise ConfigurationError(
            f"the development CA in {paths.ca_cert.parent} is incomplete; remove its files to create a new one",
            directory=str(paths.ca_cert.parent),
        )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _ca_certificate(key)
    _write_new(paths.ca_key, _key_pem(key), mode=0o600)
    _write_new(paths.ca_cert, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return cert, key


def _ensure_signer(paths: DevCa, ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey) -> None:
    have_cert, have_key = paths.signer_cert.exists(), paths.signer_key.exists()
    if have_cert and have_key:
        signer, _ = _load_pair(paths.signer_cert, paths.signer_key)
        try:
            signer.verify_directly_issued_by(ca_cert)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(
                f"{paths.signer_cert} was not issued by {paths.ca_cert}; remove the signer's files to issue a new one",
                directory=str(paths.ca_cert.parent),
            ) from exc
        return
    if have_cert:
        raise ConfigurationError(
            f"{paths.signer_cert} has no key; remove it to issue a new signer", directory=str(paths.ca_cert.parent)
        )
    # a key left without its certificate (an interrupted run) is reused: it was never published
    key = _load_key(paths.signer_key) if have_key else ec.generate_private_key(ec.SECP256R1())
    if not have_key:
        _write_new(paths.signer_key, _key_pem(key), mode=0o600)
    cert = _signer_certificate(key, ca_cert, ca_key)
    _write_new(paths.signer_cert, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "GR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = _name(CA_CN)
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(_serial())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _signer_certificate(
    key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(_name(SIGNER_CN))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(_serial())
        .not_valid_before(now - dt.timedelta(minutes=5))
        # a signer must not outlive its issuer, or validation fails once the root has expired
        .not_valid_after(min(now + VALIDITY, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, content_commitment=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([DOCUMENT_SIGNING]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _key_usage(
    *, key_cert_sign: bool = False, digital_signature: bool = False, content_commitment: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,  # nonRepudiation, by its RFC 5280 name
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=key_cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _serial() -> int:
    return secrets.randbits(159)  # positive and at most 20 octets, as RFC 5280 asks


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigurationError(f"{path} is not the EC key that the development CA makes", path=str(path))
    return key


def _load_pair(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = _load_key(key_path)
    if cert.public_key() != key.public_key():
        raise ConfigurationError(f"{key_path} is not the key of {cert_path}", path=str(key_path))
    return cert, key


def _write_new(path: Path, data: bytes, *, mode: int) -> None:
    """Write `path` whole or not at all, and fail rather than replace a file that appeared meanwhile."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)  # unlike rename, link never replaces an existing file
    finally:
        tmp.unlink()
