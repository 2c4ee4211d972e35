"""Envelope ids are UUIDv7: version 7, RFC variant, ordered by creation time."""

from __future__ import annotations

import time
import uuid

from pydantic import BaseModel

from messages.envelope import Envelope, new_id


class Ping(BaseModel):
    n: int


def test_ids_are_version_7_and_sort_by_creation() -> None:
    first = new_id()
    time.sleep(0.002)  # ids are ordered by their millisecond; the pause makes two distinct milliseconds
    second = new_id()
    assert first.version == 7
    assert first.variant == uuid.RFC_4122
    assert first < second


def test_envelope_round_trips_through_json() -> None:
    env = Envelope[Ping](type="gr.kep.test.ping.v1", source="urn:test", data=Ping(n=1), correlationid="c1")
    again = Envelope[Ping].model_validate_json(env.model_dump_json())
    assert again == env
    assert again.specversion == "1.0"
