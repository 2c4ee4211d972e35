"""RFC 9457 problem details, the body of every error answer."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from messages.errors import FieldError

__all__ = ["FieldError", "Problem"]


class Problem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None

    def body(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)
