"""Every event the system publishes on its events exchange: its versioned type, its data, its routing key.

Producers build envelopes through these kinds and consumers parse them back through the same kinds, so a field
renamed on one side fails typing or validation instead of a `KeyError` in a consumer at run time. Routing keys
are `<prefix>.<office code>.<Mitos id>` for cases (a consumer binds `case.opened.#`, or `case.#.KEP-ATH-001.#`)
and `procedure.<verb>.<Mitos id>` for the catalogue.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from messages.cases import CaseAction, CaseChanged, CaseOpened
from messages.catalog import ProcedureChanged
from messages.envelope import Envelope

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class EventKind(Generic[T]):
    type: str  # versioned: gr.kep.case.opened.v1
    data: builtins.type[T]
    prefix: str  # of the routing key: case.opened

    @property
    def binding(self) -> str:
        """The routing pattern that receives every event of this kind."""
        return f"{self.prefix}.#"

    def routing_key(self, *parts: str) -> str:
        return ".".join((self.prefix, *parts))

    def envelope(self, data: T, *, source: str, subject: str, correlationid: str | None = None) -> Envelope[T]:
        return Envelope[self.data](  # type: ignore[name-defined]
            type=self.type, source=source, subject=subject, correlationid=correlationid, data=data
        )

    def parse(self, body: bytes | str) -> Envelope[T]:
        envelope: Envelope[T] = Envelope[self.data].model_validate_json(body)  # type: ignore[name-defined]
        return envelope


CASE_OPENED: EventKind[CaseOpened] = EventKind("gr.kep.case.opened.v1", CaseOpened, "case.opened")
CASE_CHANGED: dict[CaseAction, EventKind[CaseChanged]] = {
    action: EventKind(f"gr.kep.case.{action.past}.v1", CaseChanged, f"case.{action.past}") for action in CaseAction
}
PROCEDURE_ADDED: EventKind[ProcedureChanged] = EventKind(
    "gr.kep.procedure.added.v1", ProcedureChanged, "procedure.added"
)
PROCEDURE_CHANGED: EventKind[ProcedureChanged] = EventKind(
    "gr.kep.procedure.changed.v1", ProcedureChanged, "procedure.changed"
)
PROCEDURE_REMOVED: EventKind[ProcedureChanged] = EventKind(
    "gr.kep.procedure.removed.v1", ProcedureChanged, "procedure.removed"
)

# the catalogue, by type
_ALL: list[EventKind[Any]] = [
    CASE_OPENED,
    *CASE_CHANGED.values(),
    PROCEDURE_ADDED,
    PROCEDURE_CHANGED,
    PROCEDURE_REMOVED,
]
EVENTS: dict[str, EventKind[Any]] = {kind.type: kind for kind in _ALL}
# every case event (opened and each action's), for consumers of the whole case stream
CASE_EVENTS = "case.#"


def case_event(type_: str, body: bytes | str) -> Envelope[CaseOpened] | Envelope[CaseChanged]:
    """A case event by its type (the AMQP message's `type`); `KeyError` for a type that is not a case event."""
    kind = EVENTS[type_]
    if kind is not CASE_OPENED and kind.data is not CaseChanged:
        raise KeyError(type_)
    parsed: Envelope[CaseOpened] | Envelope[CaseChanged] = kind.parse(body)
    return parsed
