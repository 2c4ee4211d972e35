"""Render tokens open one document's page for a minute, and nothing else."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest

from actors.documents import tokens
from messages.documents import Lang, TemplateKind
from messages.errors import Forbidden

SECRET = b"s" * 32


def claims() -> tokens.RenderClaims:
    return tokens.RenderClaims(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), TemplateKind.CERTIFICATE, Lang.EN,
                               "a" * 64, uuid.uuid4(), datetime.now(UTC).replace(microsecond=0))  # fmt: skip


def test_a_token_carries_its_document() -> None:
    made = claims()
    assert tokens.verify(SECRET, tokens.issue(SECRET, made)) == made


@pytest.mark.parametrize(
    "spoil",
    [
        lambda t: tokens.issue(SECRET, claims(), now=time.time() - tokens.TTL_S - 1),  # expired
        lambda t: tokens.issue(b"another secret of 32 bytes......", claims()),  # not ours
        lambda t: t[:-2] + ("A" if t[-2] != "A" else "B") + t[-1],  # tampered with
        lambda t: "not.a.token",
    ],
)
def test_a_token_that_is_not_valid_now_is_refused(spoil: object) -> None:
    token = tokens.issue(SECRET, claims())
    with pytest.raises(Forbidden):
        tokens.verify(SECRET, spoil(token))  # type: ignore[operator]
