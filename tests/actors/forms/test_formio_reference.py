"""The validator against Form.io's own server-side processing (@formio/core, run in Node) on generated cases.

For each (definition, submission): the same fields in error, under the same rule, and, when both accept it, the
same processed data (what is stored and sent on). Where the validator is stricter on purpose (README, "Form.io
fidelity") the difference is named by `deliberate`; any other difference fails the test.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from actors.forms import check_submission
from actors.forms.definition import CONDITION_OPERATORS, KINDS
from tests.actors.forms.formio_cases import CUSTOM_MESSAGE, case
from tests.reference.engines import Engines

CASES = 5000

# our error type -> Form.io's ruleNames for the same check
_RULES = {
    "invalid_date": {"date", "day"},
    "invalid_choice": {"onlyAvailableItems", "select"},
    "required": {"required", "array_nonempty", "array"},  # a required multiple left empty fails both ways
    "multiple": {"array", "nonarray"},
}
# what Form.io's server leaves unchecked on the values of a `multiple` component: these rules look at the whole
# list first (`shouldProcess` wants a string) and so never run on its items; its client does check each value
_SKIPPED_ON_LISTS = {"pattern", "mask", "minLength", "maxLength", "minWords", "maxWords"}
_ITEM = re.compile(r"\[\d+\]$")
_TOKEN = re.compile(r"/(\d+)(?=/|$)")


def formio_path(pointer: str) -> tuple[str, bool]:
    """`/grid/0/name` as Form.io writes it, `grid[0].name`, and whether it points at an item of a `multiple`
    component, which Form.io reports at the component (`handleError` puts every error at the component's path)."""
    dotted = _TOKEN.sub(r"[\1]", pointer).lstrip("/").replace("/", ".")
    return _ITEM.sub("", dotted), bool(_ITEM.search(dotted))


def _grids(components: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], bool]]:
    """Each data component with whether it is a grid, layouts looked through (containers and grids not entered)."""
    for component in components:
        if component.get("input"):
            yield component, component["type"] in ("datagrid", "editgrid")
        for column in component.get("columns", []):
            yield from _grids(column["components"])
        for row in component.get("rows", []):
            for cell in row:
                yield from _grids(cell["components"])
        if component["type"] == "tabs":
            for tab in component["components"]:
                yield from _grids(tab["components"])
        elif not component.get("input"):
            yield from _grids(component.get("components", []))


def empty_rows(components: list[dict[str, Any]], data: Any, prefix: str = "") -> set[str]:
    """Form.io paths of the grid rows that hold no value: Form.io's `filter` leaves them out before validating,
    so their fields are never checked, and stores them as null (or not at all, at the end)."""
    found: set[str] = set()
    for component, grid in _grids(components):
        value = data.get(component["key"]) if isinstance(data, dict) else None
        here = f"{prefix}{component['key']}"
        if grid and isinstance(value, list):
            for index, row in enumerate(value):
                if row == {}:
                    found.add(f"{here}[{index}]")
                elif isinstance(row, dict):
                    found |= empty_rows(component["components"], row, f"{here}[{index}].")
        elif component["type"] == "container" and isinstance(value, dict):
            found |= empty_rows(component["components"], value, f"{here}.")
    return found


def as_formio_stores(components: list[dict[str, Any]], data: Any) -> Any:
    """Our data in Form.io's shape where we keep what it drops on purpose: empty grid rows are null (none at the
    end), an empty container with a text block in it is not there."""
    if not isinstance(data, dict):
        return data
    shaped = dict(data)
    for component, grid in _grids(components):
        value = data.get(component["key"])
        if grid and isinstance(value, list):
            rows = [None if row == {} else as_formio_stores(component["components"], row) for row in value]
            while rows and rows[-1] is None:
                rows.pop()
            shaped[component["key"]] = rows
        elif component["type"] == "container" and value == {} and _holds_text(component):
            del shaped[component["key"]]  # Form.io drops an empty container that holds a text block
        elif component["type"] == "container" and isinstance(value, dict):
            shaped[component["key"]] = as_formio_stores(component["components"], value)
    return shaped


def _holds_text(container: dict[str, Any]) -> bool:
    return any(child["type"] in ("content", "htmlelement") for child in container["components"])


def value_at(data: Any, path: str) -> Any:
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        if name:
            data = data.get(name) if isinstance(data, dict) else None
        else:
            data = data[int(index)] if isinstance(data, list) and int(index) < len(data) else None
    return data


def deliberate(kind: str, item: bool) -> str | None:
    """Why an error only we report is a deliberate strictness (README, "Form.io fidelity"), or None."""
    if kind == "type":
        return "typed data"
    if kind == "multiple":
        return "one value or a list, as the component says"
    if kind == "invalid_choice":
        return "only the options offered"
    if kind == "invalid_date":
        return "real dates in ISO 8601, where JavaScript's Date reads 2024-02-30 as 1 March"
    if item and kind in _SKIPPED_ON_LISTS:
        return "every value of a multiple component checked"
    return None


def compare(
    components: list[dict[str, Any]], data: dict[str, Any], theirs: dict[str, Any]
) -> tuple[str, list[str]] | None:
    """None when the two agree; else ("deliberate" or "differ", the details)."""
    checked = check_submission({"components": components}, data)
    if "thrown" in theirs:  # Form.io fails on the input (a 500 from its server): refusing it is the answer
        thrown = theirs["thrown"].splitlines()[0]
        if checked.errors:
            return "deliberate", [f"refused (Form.io's server throws {thrown})"]
        if "value.split is not a function" in thrown:
            # its normalize splits a day's value before anything else, even in a field that turns out hidden,
            # whose value is then cleared
            return "deliberate", [f"a hidden field's value cleared (Form.io's server throws {thrown})"]
        return "differ", [f"Form.io throws {thrown}, ours accepts"]
    ours: dict[str, set[tuple[str, bool, str]]] = {}
    for error in checked.errors:
        path, item = formio_path(error.path)
        ours.setdefault(path, set()).add((error.type, item, error.message))
    their: dict[str, set[str]] = {}
    for error in theirs["errors"]:
        their.setdefault(error["path"], set()).add(error["rule"])
    notes: list[str] = []
    differ = False
    empty = empty_rows(components, checked.data)
    # a value refused for its type or shape may steer conditions anywhere (moment reads [] as now): what else we
    # find in such a submission, which both refuse, is not held against us
    junk = any(error.type in ("type", "multiple") for error in checked.errors)
    for path in sorted(ours.keys() | their.keys()):
        if any(path.startswith(f"{row}.") for row in empty) and path not in their:
            notes.append(f"{path}: only ours, in an empty grid row (every row is validated)")
            continue
        mine, others = ours.get(path, set()), their.get(path, set())
        # a value of the wrong type or shape is refused as such; Form.io finds something else wrong with it (or
        # drops it, and finds the field empty)
        refused = any(kind in ("type", "multiple") for kind, _, _ in mine)
        # with a customMessage each side keeps one error of the field, the first its own rules find
        custom = bool(others) and any(message == CUSTOM_MESSAGE for _, _, message in mine)
        matched: set[str] = set(others) if refused or custom else set()
        for kind, item, message in sorted(mine):
            names = _RULES.get(kind, {kind})
            if names & others:
                matched |= names & others
                continue
            # Form.io keeps one error per path and message, and puts every value's error at the component's path
            repeated = item and any(m == message and k != kind for k, _, m in mine)
            if others and message == CUSTOM_MESSAGE and not repeated:
                notes.append(f"{path}: only ours, {kind} (Form.io keeps the first error of a customMessage)")
                continue
            reason = (
                deliberate(kind, item)
                or ("refused as a whole already" if refused else None)
                or ("in a submission refused for a value's type" if junk and their else None)
                or (
                    "a date refused as no date is out of its limits too"
                    if kind in ("minDate", "maxDate") and any(k == "invalid_date" for k, _, _ in mine)
                    else None
                )
                or ("each value's error reported, Form.io's one per message" if repeated else None)
            )
            differ = differ or reason is None
            notes.append(f"{path}: only ours, {kind}" + (f" ({reason})" if reason else ""))
        for rule in sorted(others - matched):
            if rule in ("array_nonempty", "array") and "required" in others & matched:
                continue
            if rule == "mask" and isinstance(value_at(checked.data, path), list):
                notes.append(f"{path}: only Form.io, mask (Form.io matches the mask against the list itself)")
                continue
            if rule == "nonarray" and any(isinstance(item, list) for item in value_at(data, path) or []):
                notes.append(f"{path}: only Form.io, nonarray (checked even in a hidden field, whose value we clear)")
                continue
            differ = True
            notes.append(f"{path}: only Form.io, {rule}")
    if not checked.errors and not theirs["errors"] and as_formio_stores(components, checked.data) != theirs["data"]:
        differ = True
        notes.append(f"data: ours {json.dumps(checked.data)}, Form.io {json.dumps(theirs['data'])}")
    if not notes:
        return None
    return ("differ" if differ else "deliberate"), notes


def _covered(components: list[dict[str, Any]], seen: set[str]) -> None:
    for component in components:
        seen.add(f"type:{component['type']}")
        seen.update(f"validate:{name}" for name in component.get("validate", {}))
        seen.update(f"day:{name}" for name in ("minYear", "maxYear") if name in component)
        seen.update(f"widget:{name}" for name in component.get("widget", {}))
        conditional = component.get("conditional", {})
        seen.update(f"conditional:{form}" for form in ("json", "when", "conditions") if form in conditional)
        seen.update(f"operator:{c['operator']}" for c in conditional.get("conditions", []))
        if component["type"] != "tabs":
            _covered(component.get("components", []), seen)
        for column in component.get("columns", []):
            _covered(column["components"], seen)
        for row in component.get("rows", []):
            for cell in row:
                _covered(cell["components"], seen)
        if component["type"] == "tabs":
            for tab in component["components"]:
                _covered(tab["components"], seen)


def test_the_cases_cover_every_supported_component_rule_and_condition() -> None:
    rng = random.Random(61206)
    seen: set[str] = set()
    for _ in range(CASES):
        _covered(case(rng)[0], seen)
    wanted = (
        {f"type:{kind}" for kind in KINDS}
        | {f"operator:{operator}" for operator in CONDITION_OPERATORS}
        | {f"conditional:{form}" for form in ("json", "when", "conditions")}
        | {
            f"validate:{name}"
            for name in (
                "required",
                "minLength",
                "maxLength",
                "minWords",
                "maxWords",
                "pattern",
                "min",
                "max",
                "json",
                "customMessage",
                "minSelectedCount",
                "maxSelectedCount",
            )
        }
        | {"day:minYear", "day:maxYear", "widget:minDate", "widget:maxDate"}
    )
    assert wanted <= seen, sorted(wanted - seen)


def test_submissions_are_judged_as_formio_judges_them(engines: Engines) -> None:
    rng = random.Random(61206)
    cases = [case(rng) for _ in range(CASES)]
    answers = engines.formio(cases)
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    differences = []
    for (components, data), theirs in zip(cases, answers, strict=True):
        found = compare(components, data, theirs)
        outcomes["agree" if found is None else found[0]] += 1
        if found is not None and found[0] == "differ":
            differences.append((components, data, theirs, found[1]))
        elif found is not None:
            reasons.update({re.sub(r".*\((.*)\)$", r"\1", note) for note in found[1]})
    print(
        f"Form.io agreement: {outcomes['agree']}/{CASES} identical, {outcomes['deliberate']} stricter on purpose, "
        f"{outcomes['differ']} different; cases per deliberate difference: {dict(reasons.most_common())}"
    )
    for components, data, theirs, notes in differences[:10]:
        print(json.dumps(components, ensure_ascii=False), json.dumps(data, ensure_ascii=False), theirs, notes)
    assert not differences
