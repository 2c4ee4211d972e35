"""What the validator reports: one `FieldError` per problem, located by an RFC 6901 JSON pointer."""

from __future__ import annotations

from collections.abc import Sequence

# `path` points into the form definition (`check_definition`) or into the submission's `data`
# (`validate_submission`).
from messages.errors import FieldError

__all__ = ["DefinitionError", "FieldError", "pointer_join"]


class DefinitionError(ValueError):
    """A form definition that `check_definition` refuses was given to `validate_submission`."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__(f"the form definition cannot be validated faithfully: {len(errors)} problem(s)")
        self.errors = tuple(errors)


def pointer_join(pointer: str, *parts: str | int) -> str:
    """Append reference tokens to a JSON pointer, escaping `~` and `/` as RFC 6901 says."""
    for part in parts:
        pointer += "/" + str(part).replace("~", "~0").replace("/", "~1")
    return pointer
