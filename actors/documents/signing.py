"""Signatures and metadata of issued PDFs: a PAdES signature by the office's certificate, and the check of one.

The signature is PAdES baseline B-B: no timestamp authority is configured, so the signing time is the signer's
own claim. No validation information is embedded: B-LT builds on a signature timestamp (B-T) that only a TSA
can give, and pyHanko's offline embedding would add a second update (a DSS holding certificates and no revocation
data), after which the signature no longer covers the whole file.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID
from pyhanko.keys.internal import translate_pyca_cryptography_cert_to_asn1, translate_pyca_cryptography_key_to_asn1
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, SimpleSigner
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from messages.errors import ConfigurationError, InvalidInput

log = structlog.get_logger("documents")

# BCP 47 as far as /Lang needs it: a primary language and optional subtags (el, el-GR, en-Latn-GB)
_LANG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")


@dataclass(frozen=True)
class SigningIdentity:
    """The key and certificate chain that sign issued documents, and the roots a signature by them chains to."""

    signer: SimpleSigner
    trust_roots: tuple[x509.Certificate, ...]

    @classmethod
    def load(
        cls, key_file: Path, cert_file: Path, chain_files: Sequence[Path] = (), passphrase: bytes | None = None
    ) -> SigningIdentity:
        """Load PEM (or DER) files; the self-signed certificates among `chain_files` are the trust roots."""
        key = _load_key(key_file, passphrase)
        cert = _load_certs(cert_file)[0]
        chain = [c for path in chain_files for c in _load_certs(path)]
        if key.public_key() != cert.public_key():
            raise ConfigurationError(f"{key_file} is not the key of {cert_file}", path=str(key_file))
        now = datetime.now(UTC)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            # signing would work, and every check of the result would fail
            raise ConfigurationError(f"{cert_file} is not valid now", path=str(cert_file))
        registry = SimpleCertificateStore()  # type: ignore[no-untyped-call]  # pyHanko leaves it unannotated
        registry.register_multiple([translate_pyca_cryptography_cert_to_asn1(c) for c in chain])
        signer = SimpleSigner(
            signing_cert=translate_pyca_cryptography_cert_to_asn1(cert),
            signing_key=translate_pyca_cryptography_key_to_asn1(key),
            cert_registry=registry,
        )
        return cls(signer=signer, trust_roots=tuple(c for c in chain if c.issuer == c.subject))


@dataclass(frozen=True)
class SignatureCheck:
    """What a PDF's signature says: `intact` the signed bytes are unchanged, `trusted` it chains to the roots."""

    intact: bool
    trusted: bool
    signer: str  # the signing certificate's subject common name, "" when it cannot be read
    signed_at: datetime | None  # the signer's own claim: there is no timestamp token
    covers_whole_file: bool


async def sign_pdf(
    identity: SigningIdentity, pdf: bytes, *, title: str, author: str, lang: str, reason: str, location: str
) -> bytes:
    """`pdf` with its metadata set and a PAdES B-B signature, both in one incremental update.

    With a key in memory pyHanko awaits nothing: this holds the event loop for the whole signature (CPU only).
    """
    writer = _writer(pdf)
    _apply_metadata(writer, title=title, author=author, lang=lang)
    meta = PdfSignatureMetadata(
        field_name=f"KEPSignature_{secrets.token_hex(4)}",  # a new field, even in a document signed before
        md_algorithm="sha256",
        subfilter=SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
    )
    # no timestamper: there is no TSA, so the signature stays at B-B
    signed = await PdfSigner(meta, signer=identity.signer).async_sign_pdf(writer)
    return bytes(signed.getbuffer())


async def set_metadata(pdf: bytes, *, title: str, author: str, lang: str) -> bytes:
    """`pdf` with its title, author and language set in an incremental update, for documents not signed."""
    writer = _writer(pdf)
    _apply_metadata(writer, title=title, author=author, lang=lang)
    out = BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]  # pyHanko leaves it unannotated
    return out.getvalue()


async def check_signature(pdf: bytes, trust_roots: Sequence[x509.Certificate | bytes]) -> SignatureCheck | None:
    """The last signature of `pdf` checked against `trust_roots` (certificates or DER), None if it has none."""
    reader = _reader(pdf)
    try:
        signatures = reader.embedded_regular_signatures
    except Exception as exc:  # a signature dictionary pyHanko cannot even read is a broken one
        log.info("signature_unreadable", error=type(exc).__name__)
        return SignatureCheck(intact=False, trusted=False, signer="", signed_at=None, covers_whole_file=False)
    if not signatures:
        return None
    return await _check(signatures[-1], trust_roots)


async def _check(embedded: Any, trust_roots: Sequence[x509.Certificate | bytes]) -> SignatureCheck:
    context = ValidationContext(trust_roots=_roots(trust_roots), allow_fetching=False)
    try:
        status = await async_validate_pdf_signature(embedded, signer_validation_context=context)
    except Exception as exc:  # untrusted input: whatever breaks the check breaks the signature
        log.info("signature_check_failed", error=type(exc).__name__)
        return SignatureCheck(
            intact=False, trusted=False, signer=_signer_name(embedded), signed_at=None, covers_whole_file=False
        )
    return SignatureCheck(
        intact=bool(status.intact and status.valid),
        trusted=bool(status.trusted),
        signer=_common_name(status.signing_cert),
        signed_at=status.signer_reported_dt,
        covers_whole_file=status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
    )


def _roots(trust_roots: Sequence[x509.Certificate | bytes]) -> list[Any]:
    """pyHanko's own certificates: this version of its validator cannot take DER bytes as its docs say."""
    try:
        certs = [r if isinstance(r, x509.Certificate) else x509.load_der_x509_certificate(r) for r in trust_roots]
    except ValueError as exc:
        raise ConfigurationError(f"a trust root is not a DER certificate ({exc})") from exc
    return [translate_pyca_cryptography_cert_to_asn1(c) for c in certs]


def _apply_metadata(writer: IncrementalPdfFileWriter, *, title: str, author: str, lang: str) -> None:
    if not _LANG.fullmatch(lang):
        raise InvalidInput.at("/lang", f"{lang!r} is not a language tag such as 'el' or 'el-GR'", "language_tag")
    # pyHanko writes these into the XMP stream where it writes one (PDF 2.0, which an ECDSA signature makes of
    # the file), and then updates only the entries the info dictionary already has: so they go there too
    writer.document_meta.title = title
    writer.document_meta.author = author
    trailer = writer.trailer  # a pyHanko TrailerDictionary: no .get()
    old_info = trailer["/Info"] if "/Info" in trailer else {}  # noqa: SIM401
    info = generic.DictionaryObject(old_info)  # type: ignore[no-untyped-call]  # pyHanko leaves it unannotated
    info["/Title"] = generic.TextStringObject(title)
    info["/Author"] = generic.TextStringObject(author)
    writer.set_info(info)
    writer.root["/Lang"] = generic.TextStringObject(lang)  # what screen readers speak the text in
    writer.update_root()  # type: ignore[no-untyped-call]  # pyHanko leaves it unannotated


def _writer(pdf: bytes) -> IncrementalPdfFileWriter:
    return IncrementalPdfFileWriter(BytesIO(pdf))


def _reader(pdf: bytes) -> PdfFileReader:
    try:
        return PdfFileReader(BytesIO(pdf))
    except (PdfError, ValueError, IndexError, KeyError, TypeError) as exc:
        raise InvalidInput.at("/pdf", f"the file is not a readable PDF ({exc})", "pdf_unreadable") from exc


def _signer_name(embedded: Any) -> str:
    try:
        return _common_name(embedded.signer_cert)
    except Exception:  # no readable certificate, no name
        return ""


def _common_name(asn1_cert: Any) -> str:
    cert = x509.load_der_x509_certificate(asn1_cert.dump())
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def _load_key(path: Path, passphrase: bytes | None) -> PrivateKeyTypes:
    data = _read(path)
    try:
        if data.lstrip().startswith(b"-----"):
            return serialization.load_pem_private_key(data, password=passphrase)
        return serialization.load_der_private_key(data, password=passphrase)
    except (ValueError, TypeError) as exc:
        # a wrong or missing passphrase reads as either, depending on the key's format
        raise ConfigurationError(f"{path} is not a private key this passphrase opens ({exc})", path=str(path)) from exc


def _load_certs(path: Path) -> list[x509.Certificate]:
    data = _read(path)
    try:
        if data.lstrip().startswith(b"-----"):
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise ConfigurationError(f"{path} holds no X.509 certificate ({exc})", path=str(path)) from exc


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}", path=str(path)) from exc
