"""Which shard owns a case: a stable hash of the case id, so every command for one case meets one actor."""

from __future__ import annotations

import uuid

SHARD_PREFIX = "kep-case-shard"


def shard_index(case_id: uuid.UUID, shards: int) -> int:
    # uuid bits are uniformly random in their low half (UUIDv7 random tail), so a modulus spreads evenly.
    return (case_id.int & 0xFFFFFFFFFFFF) % shards


def shard_name(index: int) -> str:
    return f"{SHARD_PREFIX}-{index}"
