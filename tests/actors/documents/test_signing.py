"""Signing issued PDFs and checking them, on a real PDF printed by Debian's Chromium, and the development CA."""

from __future__ import annotations

import re
import subprocess
from io import BytesIO
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from playwright.async_api import async_playwright
from pyhanko.pdf_utils.reader import PdfFileReader

from actors.documents.signing import SigningIdentity, check_signature, set_metadata, sign_pdf
from kepctl.devca import SIGNER_CN, DevCa, ensure_dev_ca
from messages.errors import ConfigurationError, InvalidInput

HTML = """<!doctype html><html lang="el"><head><meta charset="utf-8"><title>Βεβαίωση</title></head>
<body><h1>Βεβαίωση μόνιμης κατοικίας</h1>
<p>Ο Παπαδόπουλος Γεώργιος κατοικεί στην Αθήνα.</p></body></html>"""
TITLE = "Βεβαίωση μόνιμης κατοικίας"
AUTHOR = "ΚΕΠ Δήμου Αθηναίων"
REASON = "Έκδοση πιστοποιητικού"


@pytest.fixture(scope="module")
async def printed() -> bytes:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium")
        try:
            page = await browser.new_page()
            await page.set_content(HTML)
            return await page.pdf(format="A4", tagged=True)
        finally:
            await browser.close()


@pytest.fixture(scope="module")
def dev_ca(tmp_path_factory: pytest.TempPathFactory) -> DevCa:
    return ensure_dev_ca(tmp_path_factory.mktemp("devca"))


@pytest.fixture(scope="module")
def identity(dev_ca: DevCa) -> SigningIdentity:
    return SigningIdentity.load(dev_ca.signer_key, dev_ca.signer_cert, [dev_ca.ca_cert])


@pytest.fixture(scope="module")
async def signed(identity: SigningIdentity, printed: bytes) -> bytes:
    return await sign_pdf(identity, printed, title=TITLE, author=AUTHOR, lang="el", reason=REASON, location="Αθήνα")


def _pdfinfo(pdf: bytes, tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdfinfo", "-enc", "UTF-8", str(path)], capture_output=True, check=True, text=True).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}


def _pdfinfo_meta(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdfinfo", "-meta", str(path)], capture_output=True, check=True, text=True).stdout


def _lang(pdf: bytes) -> str:
    return str(PdfFileReader(BytesIO(pdf)).root["/Lang"])


def _signed_ranges(pdf: bytes) -> tuple[range, range]:
    match = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
    assert match is not None
    a, b, c, d = (int(x) for x in match.groups())
    return range(a, a + b), range(c, c + d)


def _flip(pdf: bytes, at: int) -> bytes:
    changed = bytearray(pdf)
    changed[at] ^= 0x01
    return bytes(changed)


async def test_a_signed_pdf_is_intact_trusted_and_names_its_signer(
    identity: SigningIdentity, printed: bytes, signed: bytes
) -> None:
    check = await check_signature(signed, identity.trust_roots)

    assert check is not None
    assert check.intact
    assert check.trusted
    assert check.covers_whole_file
    assert check.signer == SIGNER_CN
    assert check.signed_at is not None
    # one incremental update on top of what Chromium printed
    assert signed.startswith(printed)
    assert signed.count(b"%%EOF") == printed.count(b"%%EOF") + 1


async def test_trust_roots_may_be_given_as_der(identity: SigningIdentity, signed: bytes, dev_ca: DevCa) -> None:
    der = x509.load_pem_x509_certificate(dev_ca.ca_cert.read_bytes()).public_bytes(Encoding.DER)

    check = await check_signature(signed, [der])

    assert check is not None
    assert check.trusted


async def test_one_changed_byte_in_the_signed_range_breaks_the_signature(
    identity: SigningIdentity, printed: bytes, signed: bytes
) -> None:
    # given: a byte inside the data of the first stream Chromium wrote, which lies in the first signed range
    at = printed.index(b"stream", printed.index(b"/Length")) + len(b"stream\n") + 10
    first, _ = _signed_ranges(signed)
    assert at in first

    check = await check_signature(_flip(signed, at), identity.trust_roots)

    assert check is not None
    assert not check.intact
    assert not check.trusted


async def test_an_unreadable_signature_is_not_intact(identity: SigningIdentity, signed: bytes) -> None:
    # given: the DER of the signature container, where the hex of /Contents begins, damaged
    first, second = _signed_ranges(signed)
    contents = signed[first.stop : second.start]
    assert contents.startswith(b"<")
    damaged = signed[: first.stop + 1] + b"ff" + signed[first.stop + 3 :]

    check = await check_signature(damaged, identity.trust_roots)

    assert check is not None
    assert not check.intact
    assert not check.trusted


async def test_a_signer_from_another_ca_is_intact_but_not_trusted(
    identity: SigningIdentity, printed: bytes, tmp_path: Path
) -> None:
    other_ca = ensure_dev_ca(tmp_path / "other")
    other = SigningIdentity.load(other_ca.signer_key, other_ca.signer_cert, [other_ca.ca_cert])
    pdf = await sign_pdf(other, printed, title=TITLE, author=AUTHOR, lang="el", reason="r", location="l")

    check = await check_signature(pdf, identity.trust_roots)

    assert check is not None
    assert check.intact
    assert not check.trusted
    assert check.signer == SIGNER_CN


async def test_an_unsigned_pdf_has_no_signature(identity: SigningIdentity, printed: bytes) -> None:
    assert await check_signature(printed, identity.trust_roots) is None


@pytest.mark.parametrize("garbage", [b"", b"not a pdf at all", b"%PDF-1.7\n%%EOF\n"])
async def test_garbage_is_invalid_input(identity: SigningIdentity, garbage: bytes) -> None:
    with pytest.raises(InvalidInput, match="not a readable PDF"):
        await check_signature(garbage, identity.trust_roots)


async def test_the_signed_pdf_carries_title_author_and_language(signed: bytes, tmp_path: Path) -> None:
    info = _pdfinfo(signed, tmp_path)

    assert info["Title"] == TITLE
    assert info["Author"] == AUTHOR
    assert _lang(signed) == "el"
    # the ECDSA signature makes the file PDF 2.0, where the XMP stream is the metadata that counts
    xmp = _pdfinfo_meta(signed, tmp_path)
    assert TITLE in xmp
    assert AUTHOR in xmp


async def test_set_metadata_adds_title_author_and_language_in_an_update(printed: bytes, tmp_path: Path) -> None:
    pdf = await set_metadata(printed, title="Απόδειξη παραλαβής", author=AUTHOR, lang="el-GR")

    info = _pdfinfo(pdf, tmp_path)
    assert info["Title"] == "Απόδειξη παραλαβής"
    assert info["Author"] == AUTHOR
    assert _lang(pdf) == "el-GR"
    assert pdf.startswith(printed)


async def test_a_language_that_is_no_tag_is_refused(printed: bytes) -> None:
    with pytest.raises(InvalidInput, match="language tag"):
        await set_metadata(printed, title=TITLE, author=AUTHOR, lang="ελληνικά")


def test_ensure_dev_ca_reuses_its_files_and_keeps_keys_private(tmp_path: Path) -> None:
    first = ensure_dev_ca(tmp_path / "ca")
    files = [first.ca_cert, first.ca_key, first.signer_cert, first.signer_key]
    before = {p: (p.read_bytes(), p.stat().st_ino, p.stat().st_mtime_ns) for p in files}

    second = ensure_dev_ca(tmp_path / "ca")

    assert second == first
    assert {p: (p.read_bytes(), p.stat().st_ino, p.stat().st_mtime_ns) for p in files} == before
    assert first.ca_key.stat().st_mode & 0o777 == 0o600
    assert first.signer_key.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in (tmp_path / "ca").iterdir()) == ["ca.key", "ca.pem", "signer.key", "signer.pem"]


def test_ensure_dev_ca_will_not_pair_a_signer_with_a_new_root(tmp_path: Path) -> None:
    ca = ensure_dev_ca(tmp_path / "ca")
    ca.ca_key.unlink()

    with pytest.raises(ConfigurationError, match="incomplete"):
        ensure_dev_ca(tmp_path / "ca")


def test_load_refuses_a_key_that_is_not_the_certificates(tmp_path: Path) -> None:
    ours = ensure_dev_ca(tmp_path / "ours")
    theirs = ensure_dev_ca(tmp_path / "theirs")

    with pytest.raises(ConfigurationError, match="is not the key of"):
        SigningIdentity.load(theirs.signer_key, ours.signer_cert, [ours.ca_cert])


def test_load_names_a_missing_file(tmp_path: Path) -> None:
    ca = ensure_dev_ca(tmp_path / "ca")

    with pytest.raises(ConfigurationError, match=r"cannot read .*missing\.pem"):
        SigningIdentity.load(ca.signer_key, tmp_path / "missing.pem")


def test_load_takes_the_self_signed_chain_certificates_as_roots(identity: SigningIdentity) -> None:
    assert [c.subject == c.issuer for c in identity.trust_roots] == [True]
