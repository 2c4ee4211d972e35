"""The reference engines the differential tests judge the project against: @formio/core and json-logic-js, the
versions pinned in tests/reference/package-lock.json, run in one Node process for a whole test session."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


def install() -> None:
    """`npm ci` when the pinned packages are not there yet (`./dev` does it too, before the tests)."""
    if not (HERE / "node_modules" / "@formio" / "core").is_dir():
        npm = shutil.which("npm") or "npm"
        subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=HERE, check=True)


def _numbers(value: Any) -> Any:
    """{"number": "NaN"} back to the float JSON cannot carry."""
    if isinstance(value, dict):
        if value.keys() == {"number"} and value["number"] in ("NaN", "Infinity", "-Infinity"):
            return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[value["number"]]
        return {key: _numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_numbers(item) for item in value]
    return value


class Engines:
    def __init__(self) -> None:
        install()
        self._node = subprocess.Popen(
            [shutil.which("node") or "node", str(HERE / "judge.cjs")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "TZ": "UTC"},  # dates without an offset are the server's, which runs in UTC
            text=True,
            encoding="utf-8",
        )

    def _ask(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        assert self._node.stdin is not None
        assert self._node.stdout is not None
        # one request per line; ensure_ascii keeps lone surrogates and line separators out of the framing
        self._node.stdin.write("".join(json.dumps(r, ensure_ascii=True, allow_nan=False) + "\n" for r in requests))
        self._node.stdin.flush()
        answers = [json.loads(self._node.stdout.readline()) for _ in requests]
        crashed = [a["crash"] for a in answers if "crash" in a]
        assert not crashed, crashed[0]
        return [_numbers(answer) for answer in answers]

    def formio(self, cases: list[tuple[list[dict[str, Any]], dict[str, Any]]]) -> list[dict[str, Any]]:
        """Form.io's verdict on each (components, data): {"errors": [{"path", "rule"}], "data": processed}."""
        return self._ask([{"formio": {"components": components, "data": data}} for components, data in cases])

    def json_logic(self, cases: list[tuple[Any, Any]]) -> list[dict[str, Any]]:
        """json-logic-js on each (rule, data): {"value": result} or {"error": message} where it throws."""
        return self._ask([{"logic": rule, "data": data} for rule, data in cases])

    def close(self) -> None:
        if self._node.stdin is not None:
            self._node.stdin.close()
        self._node.wait(timeout=10)
