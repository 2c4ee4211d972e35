"""JSON logic against json-logic-js itself: generated rules over generated data, every result equal."""

from __future__ import annotations

import json
import math
import random
from typing import Any

from actors.forms import jsonlogic
from actors.forms.js_semantics import MISSING
from tests.reference.engines import Engines

CASES = 6000
VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 2.5, -0.0, 1e21, "", "0", "1", " 1 ", "\u00a01\ufeff", "abc", "ABC", "a,b", "1e3",
    "0x10", "0b11", "1_0", "Infinity", "-Infinity", "NaN", "true", "null", "λέξη", "😀x", [], [0], [1], [1, 2], ["a"],
    [None], [[]], {}, {"a": 1},
]  # fmt: skip
PATHS = ["a", "b", "n", "s", "list", "obj.a", "obj.b.c", "list.0", "list.5", "s.length", "s.1", "missing", "", "a.x"]
BINARY = ["==", "===", "!=", "!==", ">", ">=", "%", "/", "in"]
VARIADIC = ["<", "<=", "+", "*", "-", "min", "max", "cat", "merge", "substr", "missing", "missing_some"]
UNARY = ["!", "!!"]
CONTROL = ["if", "and", "or"]
OVER_ITEMS = ["map", "filter", "all", "some", "none"]


def leaf(rng: random.Random) -> Any:
    if rng.random() < 0.5:
        path = rng.choice(PATHS)
        return {"var": path} if rng.random() < 0.8 else {"var": [path, rng.choice(VALUES)]}
    return rng.choice(VALUES)


def rule(rng: random.Random, depth: int) -> Any:
    if depth == 0 or rng.random() < 0.25:
        return leaf(rng)
    kind = rng.random()
    if kind < 0.4:
        return {rng.choice(BINARY): [rule(rng, depth - 1), rule(rng, depth - 1)]}
    if kind < 0.7:
        operator = rng.choice(VARIADIC)
        return {operator: [rule(rng, depth - 1) for _ in range(rng.randint(0, 3))]}
    if kind < 0.8:
        operator = rng.choice(UNARY)
        argument = rule(rng, depth - 1)
        return {operator: argument if rng.random() < 0.5 else [argument]}
    if kind < 0.92:
        return {rng.choice(CONTROL): [rule(rng, depth - 1) for _ in range(rng.randint(0, 4))]}
    over = {"var": rng.choice(["list", "obj", "s", "a"])}
    if rng.random() < 0.3:
        return {"reduce": [over, {"+": [{"var": "current"}, {"var": "accumulator"}]}, rng.choice([0, "", None])]}
    return {rng.choice(OVER_ITEMS): [over, {rng.choice(BINARY): [{"var": ""}, leaf(rng)]}]}


def data(rng: random.Random) -> dict[str, Any]:
    return {
        "a": rng.choice(VALUES),
        "b": rng.choice(VALUES),
        "n": rng.choice([0, 1, 2.5, -3, 100]),
        "s": rng.choice(["", "hello", "Αθήνα", "😀ab"]),
        "list": rng.sample(VALUES, rng.randint(0, 4)),
        "obj": {"a": rng.choice(VALUES), "b": {"c": rng.choice(VALUES)}},
    }


def same(ours: Any, theirs: Any) -> bool:
    """Equal as JavaScript values read back from JSON: NaN equals NaN, 1 equals 1.0, true is not 1."""
    if ours is MISSING:
        ours = None
    if isinstance(ours, bool) or isinstance(theirs, bool):
        return type(ours) is type(theirs) and ours == theirs
    if isinstance(ours, int | float) and isinstance(theirs, int | float):
        return ours == theirs or (math.isnan(ours) and math.isnan(theirs))
    if isinstance(ours, list) and isinstance(theirs, list):
        return len(ours) == len(theirs) and all(same(x, y) for x, y in zip(ours, theirs, strict=True))
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return ours.keys() == theirs.keys() and all(same(ours[k], theirs[k]) for k in ours)
    return type(ours) is type(theirs) and ours == theirs


def test_rules_evaluate_as_json_logic_js_does(engines: Engines) -> None:
    rng = random.Random(20261206)
    cases = [(rule(rng, 3), data(rng)) for _ in range(CASES)]
    answers = engines.json_logic(cases)
    differ = [
        (logic, values, answer, ours)
        for (logic, values), answer in zip(cases, answers, strict=True)
        if not same(ours := jsonlogic.apply(logic, values), answer.get("value"))  # a throw is null for Form.io
    ]
    print(f"json-logic-js agreement: {CASES - len(differ)}/{CASES}")
    for logic, _values, answer, ours in differ[:8]:
        print(json.dumps(logic), answer, repr(ours))
    assert not differ
