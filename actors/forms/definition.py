"""The component tree of a Form.io definition: which components hold data where, and what a save must refuse.

Form.io nests data only under container (an object), datagrid and editgrid (arrays of row objects); panels,
fieldsets, columns, tables and wells only arrange what is inside them, so their children share their parent's data
object. `Form` indexes the data components by the paths that conditions use to name them (see `Form.resolve`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from actors.forms import jsonlogic
from actors.forms.errors import FieldError, pointer_join
from actors.forms.js_semantics import MISSING, to_number, truthy
from actors.forms.markup import check_markup
from actors.forms.rules import compile_pattern, instant, json_options, mask_is_supported

Kind = Literal["input", "object", "array", "layout", "content"]

KINDS: Mapping[str, Kind] = {
    **dict.fromkeys(
        (
            "textfield",
            "textarea",
            "number",
            "currency",
            "email",
            "phoneNumber",
            "checkbox",
            "select",
            "radio",
            "selectboxes",
            "datetime",
            "day",
            "file",
            "hidden",
        ),
        "input",
    ),
    "container": "object",
    "datagrid": "array",
    "editgrid": "array",
    **dict.fromkeys(("panel", "fieldset", "columns", "table", "well", "tabs"), "layout"),
    # a button carries nothing to validate
    **dict.fromkeys(("content", "htmlelement", "button"), "content"),
}

# the types whose Form.io builder offers "Multiple Values"; file keeps an array whatever `multiple` says. Not day:
# Form.io's server throws on a list of days (its normalize splits the value as one string)
MULTIPLE_TYPES = frozenset(
    {"textfield", "textarea", "number", "currency", "email", "phoneNumber", "select", "datetime", "hidden"}
)

# @formio/core src/utils/operators/index.js, every operator the simple conditional builder offers
CONDITION_OPERATORS = frozenset(
    {
        "isEqual",
        "isNotEqual",
        "isEmpty",
        "isNotEmpty",
        "greaterThan",
        "greaterThanOrEqual",
        "lessThan",
        "lessThanOrEqual",
        "includes",
        "notIncludes",
        "startsWith",
        "endsWith",
        "dateGreaterThan",
        "dateGreaterThanOrEqual",
        "dateLessThan",
        "dateLessThanOrEqual",
        "isDateEqual",
        "isNotDateEqual",
    }
)

# Form.io nests data under a dotted key (lodash set); a key is one plain name here
_KEY = re.compile(r"^[\w-]+$")
_REFERENCE_TOKEN = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


@dataclass(frozen=True, eq=False)
class Node:
    component: Mapping[str, Any]
    pointer: str  # JSON pointer of the component in the definition
    kind: Kind
    key: str
    data_keys: tuple[str, ...]  # keys from the submission's data down to this value; the parent's for layouts
    array_paths: frozenset[str]  # `path` of each enclosing datagrid/editgrid
    full_path: str  # Form.io's fullPath: data keys and layout keys, dotted
    children: tuple[Node, ...] = ()

    @property
    def type(self) -> str:
        return str(self.component.get("type"))

    @property
    def path(self) -> str:
        """Form.io's `path`: the data keys without row indices, e.g. `children.name`."""
        return ".".join(self.data_keys)

    @property
    def holds_data(self) -> bool:
        return self.kind in ("input", "object", "array")

    @property
    def label(self) -> str:
        # Form.io's getComponentErrorField: errorLabel || label || placeholder || key
        for name in ("errorLabel", "label", "placeholder"):
            text = self.component.get(name)
            if isinstance(text, str) and text:
                return text
        return self.key

    @property
    def multiple(self) -> bool:
        return bool(self.component.get("multiple")) and self.type in MULTIPLE_TYPES


@dataclass
class Form:
    nodes: tuple[Node, ...]
    problems: list[FieldError]
    by_path: dict[str, Node] = field(default_factory=dict)
    by_full_path: dict[str, Node] = field(default_factory=dict)
    by_key: dict[str, Node] = field(default_factory=dict)

    def walk(self) -> Iterator[Node]:
        stack = list(reversed(self.nodes))
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def find(self, reference: str) -> tuple[Node | None, str | None, dict[str, int]]:
        """The data component a condition names, a selectboxes option it reads, and explicit row indices.

        Form.io (formUtil getComponentFromPath / getBestMatch) accepts a data path, a full path with layout keys, or
        a bare key; `sb.option` reads one option of a selectboxes `sb`; `grid[1].field` picks a row.
        """
        names: list[str] = []
        indices: dict[str, int] = {}
        for index, name in _REFERENCE_TOKEN.findall(reference):
            if name:
                names.append(name)
            elif names:
                indices[".".join(names)] = int(index)
        dotted = ".".join(names)
        node = self.by_path.get(dotted) or self.by_full_path.get(dotted) or self.by_key.get(reference)
        if node is not None:
            return node, None, indices
        if len(names) > 1:
            owner = self.by_path.get(".".join(names[:-1])) or self.by_full_path.get(".".join(names[:-1]))
            if owner is not None and owner.type == "selectboxes":
                return owner, names[-1], indices
        return None, None, indices

    def resolve(self, reference: str, data: Mapping[str, Any], rows: Mapping[str, int]) -> tuple[Node | None, Any]:
        """The component a condition names and its value, read in the row the condition is evaluated for.

        Rows of a grid shared with the evaluating component are the current ones (`rows`, by grid path); Form.io
        matches any other grid's first row. A name that matches no component is read from the data as lodash
        `get` would, which is Form.io's fallback.
        """
        node, option, explicit = self.find(reference)
        if node is None:
            return None, _lodash_get(data, reference)
        value: Any = data
        prefix: list[str] = []
        for key in node.data_keys:
            value = value.get(key, MISSING) if isinstance(value, dict) else MISSING
            prefix.append(key)
            here = ".".join(prefix)
            if here in node.array_paths:
                row = explicit.get(here, rows.get(here, 0))
                value = value[row] if isinstance(value, list) and row < len(value) else MISSING
        if option is not None:
            value = value.get(option, MISSING) if isinstance(value, dict) else MISSING
        return node, value


def _lodash_get(data: Any, reference: str) -> Any:
    value = data
    for index, name in _REFERENCE_TOKEN.findall(reference):
        if isinstance(value, dict) and name:
            value = value.get(name, MISSING)
        elif isinstance(value, list) and index and int(index) < len(value):
            value = value[int(index)]
        else:
            return MISSING
    return value


def child_lists(component: Mapping[str, Any]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """(tokens from the component to a list of children, that list), as Form.io's eachComponent finds them."""
    kind = KINDS.get(str(component.get("type")))
    if component.get("type") == "columns":
        for c, column in enumerate(_list(component.get("columns"))):
            if isinstance(column, dict):
                yield ("columns", c, "components"), column.get("components", [])
    elif component.get("type") == "tabs":
        # a tab is no component (it has no type): its fields belong to the tabs, as Form.io walks them
        for t, tab in enumerate(_list(component.get("components"))):
            if isinstance(tab, dict):
                yield ("components", t, "components"), tab.get("components", [])
    elif component.get("type") == "table":
        for r, row in enumerate(_list(component.get("rows"))):
            for c, cell in enumerate(_list(row)):
                if isinstance(cell, dict):
                    yield ("rows", r, c, "components"), cell.get("components", [])
    elif kind in ("layout", "object", "array"):
        yield ("components",), component.get("components", [])


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def parse(definition: Mapping[str, Any]) -> Form:
    """The definition's tree, with the structural problems (types, keys) found on the way."""
    form = Form(nodes=(), problems=[])
    components = definition.get("components")
    if not isinstance(components, list):
        form.problems.append(
            FieldError("/components", "A form definition needs a list of components.", "invalid_definition")
        )
        return form
    form.nodes = _parse_list(form, components, "/components", (), frozenset(), "", {})
    for node in form.walk():
        if node.holds_data:
            form.by_path.setdefault(node.path, node)
            form.by_full_path.setdefault(node.full_path, node)
            form.by_key.setdefault(node.key, node)
    return form


def _parse_list(
    form: Form,
    components: Any,
    pointer: str,
    data_keys: tuple[str, ...],
    array_paths: frozenset[str],
    full_path: str,
    siblings: dict[str, str],
) -> tuple[Node, ...]:
    """`siblings` maps each key already used in this data object to the pointer of its component."""
    if not isinstance(components, list):
        form.problems.append(FieldError(pointer, "Components must be a list.", "invalid_definition"))
        return ()
    nodes: list[Node] = []
    for index, component in enumerate(components):
        here = pointer_join(pointer, index)
        if not isinstance(component, dict):
            form.problems.append(FieldError(here, "A component must be an object.", "invalid_definition"))
            continue
        node = _parse_component(form, component, here, data_keys, array_paths, full_path, siblings)
        if node is not None:
            nodes.append(node)
    return tuple(nodes)


def _parse_component(
    form: Form,
    component: dict[str, Any],
    pointer: str,
    data_keys: tuple[str, ...],
    array_paths: frozenset[str],
    full_path: str,
    siblings: dict[str, str],
) -> Node | None:
    kind = KINDS.get(str(component.get("type")))
    if kind is None:
        form.problems.append(
            FieldError(
                pointer_join(pointer, "type"),
                f"Component type {component.get('type')!r} is not supported by the server-side validator.",
                "unsupported_component",
            )
        )
        return None
    key = component.get("key")
    key = key if isinstance(key, str) else ""
    holds_data = kind in ("input", "object", "array")
    # a button writes `key: true` into the data, so its key may not clash, but it may have none
    writes_data = holds_data or (component.get("type") == "button" and bool(key))
    if holds_data and not key:
        form.problems.append(
            FieldError(
                pointer_join(pointer, "key"), "An input component needs a key to store its value.", "missing_key"
            )
        )
        return None
    if writes_data and not _KEY.match(key):
        form.problems.append(
            FieldError(
                pointer_join(pointer, "key"),
                f"Key {key!r} must be letters, digits, '_' or '-' (Form.io nests data under dotted keys).",
                "invalid_key",
            )
        )
        return None
    if writes_data:
        if key in siblings:
            form.problems.append(
                FieldError(
                    pointer_join(pointer, "key"),
                    f"Key {key!r} is already used at {siblings[key]} for the same data object.",
                    "duplicate_key",
                )
            )
            return None
        siblings[key] = pointer
    own_full_path = f"{full_path}.{key}" if full_path and key else (key or full_path)
    own_keys = (*data_keys, key) if holds_data else data_keys
    child_paths = array_paths | {".".join(own_keys)} if kind == "array" else array_paths
    child_siblings: dict[str, str] = siblings if kind == "layout" else {}
    children: list[Node] = []
    for tokens, components in child_lists(component):
        children.extend(
            _parse_list(
                form,
                components,
                pointer_join(pointer, *tokens),
                own_keys,
                child_paths,
                own_full_path,
                child_siblings,
            )
        )
    return Node(component, pointer, kind, key, own_keys, array_paths, own_full_path, tuple(children))


def check_definition(definition: dict[str, Any]) -> list[FieldError]:
    """Everything in a form definition the server could not validate as Form.io does; empty when it can.

    Called when an administrator saves a form. Types: `unsupported_component`, `missing_key`, `invalid_key`,
    `duplicate_key` (within one data object: layouts share their parent's), `custom_javascript` (custom
    conditionals, validations, calculated and default values run JavaScript the server cannot run),
    `unsupported_feature` (field logic, JSON-logic calculated values, `multiple` where Form.io offers none),
    `unsupported_validator`, `unsupported_data_source` (options fetched from a URL or resource, or built in
    JavaScript), `invalid_pattern`, `invalid_json_logic`, `unsupported_condition`, `unknown_reference` (a
    condition naming no data component), `invalid_definition`; and what would run in a browser (`template`,
    `markup`, `raw_attributes`, `unsafe_html`: actors/forms/markup.py).
    """
    form = parse(definition)
    problems = list(form.problems)
    for node in form.walk():
        problems.extend(_check_component(form, node))
    return problems


def _check_component(form: Form, node: Node) -> Iterator[FieldError]:
    component, at = node.component, node.pointer
    for name in ("customConditional", "calculateValue", "customDefaultValue"):
        script = component.get(name)
        if isinstance(script, str) and script.strip():
            yield FieldError(
                pointer_join(at, name), f"{name} runs JavaScript, which the server cannot run.", "custom_javascript"
            )
        elif name == "calculateValue" and truthy(script):
            yield FieldError(
                pointer_join(at, name), "Calculated values are not computed by the server.", "unsupported_feature"
            )
    if isinstance(component.get("logic"), list) and component["logic"]:
        yield FieldError(
            pointer_join(at, "logic"),
            "Field logic can change validation and visibility; the server does not run it.",
            "unsupported_feature",
        )
    if truthy(component.get("unique")):
        yield FieldError(
            pointer_join(at, "unique"),
            "A value unique among all submissions cannot be checked: cases are not searched by form field.",
            "unsupported_validator",
        )
    if component.get("multiple") and node.kind == "input" and node.type not in MULTIPLE_TYPES | {"file"}:
        yield FieldError(
            pointer_join(at, "multiple"), f"A {node.type} component cannot hold multiple values.", "unsupported_feature"
        )
    yield from _check_conditional(form, node)
    children = frozenset(str(tokens[0]) for tokens, _ in child_lists(component))
    yield from check_markup(component, at, children)
    validate = component.get("validate")
    if isinstance(validate, dict):
        yield from _check_validate(validate, pointer_join(at, "validate"))
    yield from _check_type_settings(node)


def _check_json_logic(logic: Any, pointer: str) -> Iterator[FieldError]:
    if isinstance(logic, str) and not logic.strip():
        return
    if not isinstance(logic, dict):
        if logic:
            yield FieldError(pointer, "JSON logic must be an object.", "invalid_json_logic")
        return
    for where, operator in jsonlogic.unsupported_operators(logic, pointer):
        yield FieldError(where, f"JSON-logic operator {operator!r} is not supported.", "invalid_json_logic")


def _check_conditional(form: Form, node: Node) -> Iterator[FieldError]:
    conditional = node.component.get("conditional")
    if not isinstance(conditional, dict):
        return
    at = pointer_join(node.pointer, "conditional")
    if "json" in conditional:
        yield from _check_json_logic(conditional["json"], pointer_join(at, "json"))
    when = conditional.get("when")
    if isinstance(when, str) and when and form.find(when)[0] is None:
        yield FieldError(pointer_join(at, "when"), f"No data component is named {when!r}.", "unknown_reference")
    conditions = conditional.get("conditions")
    for index, condition in enumerate(_list(conditions)):
        here = pointer_join(at, "conditions", index)
        if not isinstance(condition, dict):
            yield FieldError(here, "A condition must be an object.", "invalid_definition")
            continue
        operator = condition.get("operator")
        if operator not in CONDITION_OPERATORS:
            yield FieldError(
                pointer_join(here, "operator"),
                f"Condition operator {operator!r} is not supported.",
                "unsupported_condition",
            )
        reference = condition.get("component")
        if isinstance(reference, str) and reference and form.find(reference)[0] is None:
            yield FieldError(
                pointer_join(here, "component"), f"No data component is named {reference!r}.", "unknown_reference"
            )


_UNSUPPORTED_VALIDATE = ("unique",)


def _check_validate(validate: Mapping[str, Any], at: str) -> Iterator[FieldError]:
    custom = validate.get("custom")
    if isinstance(custom, str) and custom.strip():
        yield FieldError(
            pointer_join(at, "custom"),
            "Custom validation runs JavaScript, which the server cannot run.",
            "custom_javascript",
        )
    if "json" in validate:
        yield from _check_json_logic(validate["json"], pointer_join(at, "json"))
    pattern = validate.get("pattern")
    if pattern:
        try:
            compile_pattern(pattern)
        except (re.error, TypeError) as exc:
            yield FieldError(pointer_join(at, "pattern"), f"Invalid regular expression: {exc}.", "invalid_pattern")
    for name in _UNSUPPORTED_VALIDATE:
        if truthy(validate.get(name)):
            yield FieldError(pointer_join(at, name), f"Validation {name!r} is not supported.", "unsupported_validator")


def _check_type_settings(node: Node) -> Iterator[FieldError]:
    component, at, kind = node.component, node.pointer, node.type
    if kind == "select":
        source = component.get("dataSrc")
        given = component.get("data")
        data: Mapping[str, Any] = given if isinstance(given, dict) else {}
        if source == "json":
            if json_options(component) is None:
                yield FieldError(
                    pointer_join(at, "data", "json"),
                    "Static JSON options must be a list of values, or of objects with the `valueProperty` named.",
                    "invalid_definition",
                )
        elif source not in (None, "", "values"):
            yield FieldError(
                pointer_join(at, "dataSrc"),
                f"Options from data source {source!r} cannot be checked by the server; use static values or JSON.",
                "unsupported_data_source",
            )
        elif not isinstance(data.get("values"), list):
            yield FieldError(
                pointer_join(at, "data", "values"), "A select needs a list of values.", "invalid_definition"
            )
    if kind in ("radio", "selectboxes"):
        if component.get("dataSrc") == "url":
            yield FieldError(
                pointer_join(at, "dataSrc"),
                "Options from a URL cannot be checked by the server; use static values.",
                "unsupported_data_source",
            )
        elif not isinstance(component.get("values"), list):
            yield FieldError(pointer_join(at, "values"), f"A {kind} needs a list of values.", "invalid_definition")
    if kind == "checkbox" and component.get("inputType") == "radio":
        yield FieldError(
            pointer_join(at, "inputType"),
            "A checkbox shown as a radio button stores its value under `name`; use a radio component.",
            "unsupported_component",
        )
    if kind in ("textfield", "phoneNumber"):
        if truthy(component.get("allowMultipleMasks")):
            yield FieldError(
                pointer_join(at, "allowMultipleMasks"),
                "Multiple input masks are not supported.",
                "unsupported_validator",
            )
        mask = component.get("inputMask")
        if truthy(mask) and not mask_is_supported(kind, mask):
            yield FieldError(
                pointer_join(at, "inputMask"),
                "Text field masks may hold 9s, digits, the separators - / . : and space, + and balanced parentheses.",
                "unsupported_validator",
            )
    if kind == "datetime":
        widget = component.get("widget")
        for name in ("minDate", "maxDate"):
            if isinstance(widget, dict) and truthy(widget.get(name)) and instant(widget.get(name)) is None:
                yield FieldError(
                    pointer_join(at, "widget", name),
                    f"{name} must be a fixed date in ISO 8601 (2024-01-15); moment() expressions run JavaScript.",
                    "unsupported_validator",
                )
    if kind == "day":
        yield from _check_day(component, at)


def _check_day(component: Mapping[str, Any], at: str) -> Iterator[FieldError]:
    default = component.get("defaultValue")
    if truthy(default) and not isinstance(default, str):
        # Form.io's server splits it as MM/DD/YYYY text and fails on anything else
        yield FieldError(pointer_join(at, "defaultValue"), "A day's default must be text.", "invalid_definition")
    for name in ("minDate", "maxDate"):
        if truthy(component.get(name)):
            yield FieldError(pointer_join(at, name), f"Day limit {name!r} is not supported.", "unsupported_validator")
    for name in ("minYear", "maxYear"):
        if truthy(component.get(name)) and math.isnan(to_number(component[name])):
            yield FieldError(pointer_join(at, name), f"{name} must be a year.", "invalid_definition")
    fields = component.get("fields")
    year = fields.get("year") if isinstance(fields, dict) else None
    for name in ("minYear", "maxYear"):
        if isinstance(year, dict) and truthy(year.get(name)) and year.get(name) != component.get(name):
            # Form.io's server reads only the component's own limit (and fails when the two differ)
            yield FieldError(
                pointer_join(at, "fields", "year", name),
                f"Set {name} on the component itself: Form.io's server does not read it from the year field.",
                "unsupported_validator",
            )
