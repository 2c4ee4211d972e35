"""Generated (definition, submission) cases for the differential test against Form.io's own processing.

Every component type, validator and conditional form the validator supports, nested in layouts, containers and
grids; submissions that mostly fit their components (so that the rules, not the types, decide) with wrong types,
absent keys, blanks, odd whitespace and numeric strings mixed in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

TEXT = [
    "",
    " ",
    "a",
    "ab",
    "abc",
    "Αθήνα",
    "two words",
    "  padded  ",
    "a  b   c",
    "x\u00a0y",
    "\ufeffz",
    "😀",
    "1",
    "12",
]
EMAILS = ["a@b.gr", "A@B.GR", " x@y.com ", "x@", "@y.com", "not an email", ""]
NUMBERS: list[Any] = [0, 1, 2, 3.5, -1, 10, 100, 1e6, "2", "abc", "", True]
DAYS = ["01/02/2020", "12/31/1999", "02/30/2021", "13/01/2020", "00/00/2020", "1/2/2020", "02/29/2024", "", "x"]
DATETIMES = [
    "2024-01-15T10:00:00.000Z",
    "2024-01-15T10:00:00+02:00",
    "2024-01-15",
    "2024-13-40T00:00:00Z",
    "garbage",
    "",
    "20240115",
    "2024-W03-1",
    "2024-01-15T10",
    "2024-01-15 10:00",
    "2024-01-15T10:00:00,5Z",
    "2024-02-30",
]
PATTERNS = ["[a-z]+", "^\\d{2}$", "[Α-Ωα-ωά-ώ ]+", "\\w+", "a.c", ".*", "\\S+"]
OPTIONS = [["a", "b", "c"], ["1", "2", "3"], ["yes", "no"], ["true", "false"]]
JSON_RULES: list[Any] = [
    {"if": [{"==": [{"var": "input"}, "bad"]}, "no bad values", True]},
    {"<=": [{"cat": [{"var": "input"}]}, "m"]},
    {"!": [{"in": ["x", {"var": "input"}]}]},
]

CUSTOM_MESSAGE = "Δεν είναι σωστό"
INPUTS = ["textfield", "textarea", "number", "currency", "email", "phoneNumber", "checkbox", "select", "radio",
          "selectboxes", "datetime", "day", "hidden", "file"]  # fmt: skip
MULTIPLE = {"textfield", "textarea", "number", "currency", "email", "phoneNumber", "select", "datetime", "hidden"}
LAYOUTS = ["panel", "fieldset", "well", "columns", "tabs", "table"]
CONTENT = ["content", "htmlelement", "button"]
SIMPLE_OPERATORS = ["isEqual", "isNotEqual", "isEmpty", "isNotEmpty", "greaterThan", "greaterThanOrEqual", "lessThan",
                    "lessThanOrEqual", "includes", "notIncludes", "startsWith", "endsWith", "dateGreaterThan",
                    "dateGreaterThanOrEqual", "dateLessThan", "dateLessThanOrEqual", "isDateEqual",
                    "isNotDateEqual"]  # fmt: skip
FILE = {"storage": "s3", "name": "a.pdf", "size": 10, "originalName": "a.pdf", "type": "application/pdf"}


@dataclass
class _Builder:
    rng: random.Random
    count: int = 0
    earlier: list[dict[str, Any]] = field(default_factory=list)  # data components defined before, top level

    def key(self, kind: str) -> str:
        self.count += 1
        return f"{kind[:4]}{self.count}"

    def options(self, component: dict[str, Any]) -> list[str]:
        if component.get("dataSrc") == "json":
            return [option["id"] for option in component["data"]["json"]]
        values = component.get("data", {}).get("values") if component["type"] == "select" else component["values"]
        return [option["value"] for option in values]

    def input(self, kind: str) -> dict[str, Any]:
        rng = self.rng
        component: dict[str, Any] = {"type": kind, "key": self.key(kind), "label": kind.title(), "input": True}
        validate: dict[str, Any] = {}
        if rng.random() < 0.4:
            validate["required"] = True
        if kind in ("textfield", "textarea", "phoneNumber", "email"):
            if rng.random() < 0.3:
                validate["minLength"] = rng.choice([1, 2, 3, "2"])
            if rng.random() < 0.3:
                validate["maxLength"] = rng.choice([1, 3, 5, "4"])
            if kind == "textarea" and rng.random() < 0.3:
                validate[rng.choice(["minWords", "maxWords"])] = rng.choice([1, 2, 3])
            if kind != "email" and rng.random() < 0.3:
                validate["pattern"] = rng.choice(PATTERNS)
            if kind in ("textfield", "textarea") and rng.random() < 0.2:
                component["truncateMultipleSpaces"] = True
            if kind in ("textfield", "phoneNumber") and rng.random() < 0.15:
                component["inputMask"] = rng.choice(["99-99", "999 999", "(999) 999-9999", "+30 999 9999", "99.99"])
        if kind in ("number", "currency"):
            if rng.random() < 0.4:
                validate["min"] = rng.choice([0, 1, 2.5, "3"])
            if rng.random() < 0.4:
                validate["max"] = rng.choice([5, 10, "100"])
        if kind == "select" and rng.random() < 0.3:
            component["dataSrc"] = "json"
            component["valueProperty"] = "id"
            component["data"] = {"json": [{"id": v, "name": f"Option {v}"} for v in rng.choice(OPTIONS)]}
        elif kind == "select":
            component["dataSrc"] = "values"
            component["data"] = {"values": [{"label": v, "value": v} for v in rng.choice(OPTIONS)]}
        if kind == "selectboxes":
            for name in ("minSelectedCount", "maxSelectedCount"):
                if rng.random() < 0.3:
                    validate[name] = rng.choice([1, 2, "2", 3])
        if kind == "day":
            for name, years in (("minYear", [1990, 2000, "2020"]), ("maxYear", [2000, 2021, "2024"])):
                if rng.random() < 0.25:
                    component[name] = rng.choice(years)
        if kind == "datetime" and rng.random() < 0.4:
            widget: dict[str, Any] = {"enableTime": rng.choice([True, False])}
            for name, dates in (("minDate", ["2024-01-15", "2024-01-15T10:00:00Z"]), ("maxDate", ["2024-01-15"])):
                if rng.random() < 0.6:
                    widget[name] = rng.choice(dates)
            component["widget"] = widget
        if kind in ("radio", "selectboxes"):
            component["values"] = [{"label": v, "value": v} for v in rng.choice(OPTIONS)]
        if kind == "day" and rng.random() < 0.3:
            component["dayFirst"] = True
        if rng.random() < 0.1:
            validate["json"] = rng.choice(JSON_RULES)
        if validate and rng.random() < 0.1:
            validate["customMessage"] = CUSTOM_MESSAGE
        if validate:
            component["validate"] = validate
        if kind in MULTIPLE and rng.random() < 0.15:
            component["multiple"] = True
        if rng.random() < 0.1:
            default = self.value(component, allow_missing=False)
            if kind != "day" or isinstance(default, str):  # a day's default must be text (refused at save)
                component["defaultValue"] = default
        if rng.random() < 0.05:
            component["hidden"] = True
        if rng.random() < 0.05:
            component["clearOnHide"] = False
        if rng.random() < 0.05:
            component["persistent"] = False
        self.conditional(component)
        return component

    def conditional(self, component: dict[str, Any]) -> None:
        rng = self.rng
        if not self.earlier or rng.random() < 0.55:
            return
        other = rng.choice(self.earlier)
        compared = self.value(other, allow_missing=False)
        if isinstance(compared, list | dict):
            compared = rng.choice(["a", "1", 2, True])
        form = rng.random()
        if form < 0.45:
            operator = rng.choice(SIMPLE_OPERATORS)
            if "date" in operator.lower():
                # date operators compare date fields: other text goes to JavaScript's engine-specific Date fallback
                other = rng.choice([c for c in self.earlier if c["type"] in ("datetime", "day")] or [other])
                operator = operator if other["type"] in ("datetime", "day") else "isEqual"
                compared = rng.choice(DATETIMES[:3] + DAYS[:3])
            conditions = [{"component": other["key"], "operator": operator, "value": compared}]
            component["conditional"] = {
                "show": rng.choice([True, False]),
                "conjunction": rng.choice(["all", "any"]),
                "conditions": conditions,
            }
        elif form < 0.65:
            component["conditional"] = {"show": rng.choice([True, False, "true"]), "when": other["key"], "eq": compared}
        else:
            operator = rng.choice(["==", "!=", "===", ">", "<", "!"])
            read = {"var": f"data.{other['key']}"}
            logic = {operator: [read]} if operator == "!" else {operator: [read, compared]}
            component["conditional"] = {"json": logic}

    def value(self, component: dict[str, Any], allow_missing: bool = True) -> Any:
        rng, kind = self.rng, component["type"]
        draw = rng.random()
        if allow_missing and draw < 0.08:
            return _MISSING
        if draw < 0.12:
            return None
        if draw < 0.17:  # the wrong shape entirely
            return rng.choice([1, "x", True, [], {}, ["a"]])
        if component.get("multiple") and kind in MULTIPLE:
            single = dict(component, multiple=False)
            return [self.value(single, allow_missing=False) for _ in range(rng.randint(0, 3))]
        if kind in ("textfield", "textarea", "phoneNumber", "hidden"):
            return rng.choice([*TEXT, "12-34", "123 456", "(210) 555-1234", "bad"])
        if kind == "email":
            return rng.choice(EMAILS)
        if kind in ("number", "currency"):
            return rng.choice(NUMBERS)
        if kind == "file":
            return rng.choice([[], [FILE], [FILE, FILE], [{"name": "x"}], [FILE, 1]])
        if kind == "checkbox":
            return rng.choice([True, False, True, "true"])
        if kind in ("select", "radio"):
            options = self.options(component)
            return rng.choice([*options, *options, "zzz", 2, "2", True, ""])
        if kind == "selectboxes":
            options = self.options(component)
            chosen = {option: rng.random() < 0.5 for option in options}
            if rng.random() < 0.1:
                chosen["unknown"] = True
            return chosen
        if kind == "day":
            return rng.choice([*DAYS, "01/02/1995", "06/15/2023"])
        if kind == "datetime":
            return rng.choice(DATETIMES)
        return rng.choice(TEXT)

    def components(self, depth: int, count: int, top: bool) -> list[dict[str, Any]]:
        rng = self.rng
        out: list[dict[str, Any]] = []
        for _ in range(count):
            draw = rng.random()
            if draw < 0.04:
                kind = rng.choice(CONTENT)
                out.append({"type": kind, "key": self.key(kind), "input": kind == "button", "html": "<p>Οδηγίες</p>"})
            elif depth > 0 and draw < 0.12:
                layout = rng.choice(LAYOUTS)
                inner = self.components(depth - 1, rng.randint(1, 2), top)
                component: dict[str, Any] = {"type": layout, "key": self.key(layout), "input": False}
                if layout == "columns":
                    component["columns"] = [{"components": inner, "width": 6}]
                elif layout == "table":
                    component["rows"] = [[{"components": inner}, {"components": []}]]
                elif layout == "tabs":
                    more = self.components(depth - 1, 1, top)
                    component["components"] = [
                        {"label": "Α", "key": self.key("tab"), "components": inner},
                        {"label": "Β", "key": self.key("tab"), "components": more},
                    ]
                else:
                    component["components"] = inner
                self.conditional(component)
                out.append(component)
            elif depth > 0 and draw < 0.22:
                kind = rng.choice(["container", "datagrid", "editgrid"])
                saved, self.earlier = self.earlier, []  # conditions name top-level components only
                inner = self.components(0, rng.randint(1, 2), False)
                self.earlier = saved
                component = {"type": kind, "key": self.key(kind), "label": kind, "input": True, "components": inner}
                if rng.random() < 0.2:
                    component["validate"] = {"required": True}
                self.conditional(component)
                out.append(component)
            else:
                component = self.input(rng.choice(INPUTS))
                out.append(component)
                if top:
                    self.earlier.append(component)
        return out

    def data(self, components: list[dict[str, Any]], holder: dict[str, Any]) -> dict[str, Any]:
        for component in components:
            kind = component["type"]
            if kind in ("panel", "fieldset", "well"):
                self.data(component["components"], holder)
            elif kind == "tabs":
                for tab in component["components"]:
                    self.data(tab["components"], holder)
            elif kind == "columns":
                for column in component["columns"]:
                    self.data(column["components"], holder)
            elif kind == "table":
                for row in component["rows"]:
                    for cell in row:
                        self.data(cell["components"], holder)
            elif kind in CONTENT:
                continue
            elif kind == "container":
                if self.rng.random() < 0.9:
                    holder[component["key"]] = self.data(component["components"], {})
            elif kind in ("datagrid", "editgrid"):
                if self.rng.random() < 0.9:
                    rows = self.rng.randint(0, 2)
                    holder[component["key"]] = [self.data(component["components"], {}) for _ in range(rows)]
            else:
                value = self.value(component)
                if value is not _MISSING:
                    holder[component["key"]] = value
        return holder


class _Missing:
    pass


_MISSING = _Missing()


def case(rng: random.Random) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One form (1 to 5 components, layouts and grids up to two deep) and a submission for it."""
    builder = _Builder(rng)
    components = builder.components(2, rng.randint(1, 5), True)
    return components, builder.data(components, {})
