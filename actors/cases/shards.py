"""Which shard owns a case, and the one way in: a stable hash of the case id picks the shard, so every command
for one case meets one actor, which applies them one at a time."""

from __future__ import annotations

import uuid

from actors.handles import Lookup, NamedActor
from messages.cases import CaseCommand, CommandResult, OpenCase, OpenCaseResult

SHARD_PREFIX = "kep-case-shard"


def shard_index(case_id: uuid.UUID, shards: int) -> int:
    # uuid bits are uniformly random in their low half (UUIDv7 random tail), so a modulus spreads evenly.
    return (case_id.int & 0xFFFFFFFFFFFF) % shards


def shard_name(index: int) -> str:
    return f"{SHARD_PREFIX}-{index}"


class CaseShards:
    """Commands to the case shards, for the HTTP ingress and the process's task workers alike."""

    def __init__(self, shards: int, namespace: str | None, lookup: Lookup | None = None) -> None:
        self._shards = [NamedActor(shard_name(i), namespace, lookup) for i in range(shards)]

    def shard(self, case_id: uuid.UUID) -> NamedActor:
        return self._shards[shard_index(case_id, len(self._shards))]

    async def open(self, cmd: OpenCase) -> OpenCaseResult:
        result: OpenCaseResult = await self.shard(cmd.case_id).call("open_case", cmd)
        return result

    async def apply(self, cmd: CaseCommand) -> CommandResult:
        result: CommandResult = await self.shard(cmd.case_id).call("apply", cmd)
        return result
