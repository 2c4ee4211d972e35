"""The three PATCH flavours the API server takes for built-in types, as far as a Scale object needs them.

A Scale has no lists, so a strategic merge patch behaves as a JSON merge patch (RFC 7386); JSON patch (RFC 6902)
is implemented for `add`, `remove`, `replace` and `test`, the operations a scaler sends.
"""

from __future__ import annotations

import copy
from typing import Any

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"
ACCEPTED = (JSON_PATCH, MERGE, APPLY, STRATEGIC)


class PatchError(ValueError):
    """The patch cannot be applied; `unprocessable` tells a failed `test` (422) from a malformed patch (400)."""

    def __init__(self, message: str, *, unprocessable: bool = False) -> None:
        super().__init__(message)
        self.unprocessable = unprocessable


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, `null` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(doc: Any, parts: list[str], path: str) -> tuple[dict[str, Any], str]:
    node = doc
    for part in parts[:-1]:
        if not isinstance(node, dict) or part not in node:
            raise PatchError(f"path {path!r} does not exist", unprocessable=True)
        node = node[part]
    if not isinstance(node, dict) or not parts:
        raise PatchError(f"path {path!r} does not name an object member")
    return node, parts[-1]


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 on objects (a Scale has no arrays); operations apply in order, all or nothing."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch is a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"malformed operation {op!r}")
        path = str(op["path"])
        parent, key = _parent(doc, _pointer(path), path)
        match op["op"]:
            case "add":
                parent[key] = copy.deepcopy(op.get("value"))
            case "replace" | "remove" | "test" if key not in parent:
                raise PatchError(
                    f"{op['op']} operation does not apply: doc is missing path: {path}", unprocessable=True
                )
            case "replace":
                parent[key] = copy.deepcopy(op.get("value"))
            case "remove":
                del parent[key]
            case "test":
                if parent[key] != op.get("value"):
                    raise PatchError(f"testing value {path} failed", unprocessable=True)
            case other:
                raise PatchError(f"unsupported operation {other!r} in this double")
    return doc
