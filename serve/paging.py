"""Lists that grow with use (a case's timeline and documents, a form's versions) come in pages: `limit` items (at
most MAX_LIMIT) after the cursor `after`, the id of the last item seen. The next page's address is in a
`Link: <...>; rel="next"` header (RFC 8288), so a page is still a plain list, and the last page has none."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, TypeVar

from fastapi import Query, Request

DEFAULT_LIMIT, MAX_LIMIT = 100, 500
T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"items per page (at most {MAX_LIMIT})")]


def page(
    request: Request, items: Sequence[T], limit: int, cursor: Callable[[T], str]
) -> tuple[list[T], dict[str, str]]:
    """The first `limit` items, and the headers of the answer: a `Link` to the next page when there is one (the store
    fetched one item more)."""
    if len(items) <= limit:
        return list(items), {}
    shown = list(items[:limit])
    return shown, {"Link": f'<{request.url.include_query_params(after=cursor(shown[-1]))}>; rel="next"'}
