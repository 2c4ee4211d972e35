"""Validating a submission's `data` against its form definition as Form.io's server does.

Form.io processes components one by one in document order (@formio/core `process/process.ts`), and for each one
fills a missing value from `defaultValue` (`process/defaultValue`), decides its conditional visibility
(`process/conditions`), clears the value of a conditionally hidden component unless `clearOnHide` is false
(`process/clearHidden`), then validates (`process/validation`). Later conditions therefore see earlier hidden
values cleared; this module does the same on a copy of the data.

Decisions, from that source:

- Hidden components are not validated. `validation/index.ts` `_shouldSkipValidation` skips a component that is
  conditionally hidden, has `hidden: true` ("intentionallyHidden"), or sits inside a component that is either
  (`clearHidden` passes both down to children), unless it sets `validateWhenHidden`. A `hidden: true` component
  keeps its value; a conditionally hidden one loses it.
- Unknown keys in the data are not errors: Form.io's `filter` processor silently keeps only the paths of the
  form's components, and so does `check_submission`'s data.
- Components with `input: false`, or `persistent: false` / `"client-only"` and not `protected`, are not validated
  (`isInputComponent`, `isValueHidden`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from actors.forms import jsonlogic
from actors.forms.conditions import Scope, is_conditionally_hidden
from actors.forms.definition import MULTIPLE_TYPES, Form, Node, check_definition, parse
from actors.forms.errors import DefinitionError, FieldError, pointer_join
from actors.forms.js_semantics import MISSING, truthy
from actors.forms.normalize import normalize, truncate_spaces
from actors.forms.rules import (
    RULES_AFTER_JSON,
    RULES_BEFORE_JSON,
    Problem,
    check_file_item,
    check_required,
    check_type,
    validate_settings,
)

# a list where one value belongs is a `multiple` error for these; other types report it as a wrong type
_SINGLE_VALUED = (MULTIPLE_TYPES | {"checkbox", "radio"}) - {"hidden"}


@dataclass(frozen=True)
class Checked:
    """A submission judged: its errors, and the data to keep when there are none — Form.io's processed submission:
    defaults filled in, conditionally hidden values cleared, and nothing but the form's own components (`filter`):
    what is stored and sent on, never the raw request."""

    errors: list[FieldError]
    data: dict[str, Any]


def check_submission(definition: dict[str, Any], data: dict[str, Any]) -> Checked:
    """Raises DefinitionError when `check_definition` refuses the definition: a rule the server cannot run must not
    pass silently."""
    problems = check_definition(definition)
    if problems:
        raise DefinitionError(problems)
    if not isinstance(data, dict):
        return Checked([FieldError("", "The submission's data must be an object.", "type")], {})
    working = copy.deepcopy(data)
    form = parse(definition)
    # Form.io's first pass (the `submission` processors) fills defaults and normalizes every value; the second
    # (`evaluator`) decides visibility, clears hidden values and validates, seeing what the first made
    dropped: dict[int, dict[str, Any]] = {}
    _prepare(form.nodes, working, dropped)
    walker = _Walker(form, working, dropped)
    walker.visit(walker.form.nodes, working, "", {}, hidden=False, intentionally_hidden=False)
    return Checked(walker.errors, _kept(walker.form.nodes, working))


def _prepare(nodes: tuple[Node, ...], holder: dict[str, Any], dropped: dict[int, dict[str, Any]]) -> None:
    """serverDefaultValue and normalize, component by component in document order. A value Form.io drops as being
    of the wrong type (text in a number field) is dropped here too, so that conditions see what Form.io's see, and
    kept in `dropped` (by the id of its holder) for the validator to refuse."""
    for node in nodes:
        if node.kind == "layout":
            _prepare(node.children, holder, dropped)
        if not node.holds_data:
            continue
        default = node.component.get("defaultValue")
        # serverDefaultValueProcess fills an absent key from a truthy defaultValue, numbers excepted
        if node.key not in holder and truthy(default) and node.type not in ("number", "currency"):
            holder[node.key] = [default] if node.multiple and not isinstance(default, list) else copy.deepcopy(default)
        value = holder.get(node.key, MISSING)
        normalized = normalize(node.component, value)
        if normalized is None or normalized is MISSING:
            if value is not MISSING:
                if check_type(node.component, node.label, value) is not None:
                    dropped.setdefault(id(holder), {})[node.key] = value
                del holder[node.key]
        elif normalized is not value:
            holder[node.key] = normalized
        value = holder.get(node.key, MISSING)
        if node.kind == "object":
            if isinstance(value, dict):
                _prepare(node.children, value, dropped)
            elif value is MISSING or value is None:
                # a child given a value here (a default, an empty list) brings its container into being (lodash set)
                created: dict[str, Any] = {}
                _prepare(node.children, created, dropped)
                if created:
                    holder[node.key] = created
        elif node.kind == "array" and isinstance(value, list):
            for row in value:
                if isinstance(row, dict):
                    _prepare(node.children, row, dropped)


def validate_submission(definition: dict[str, Any], data: dict[str, Any]) -> list[FieldError]:
    """The errors in a submission's `data`, each located by a JSON pointer into `data`; empty when it is valid."""
    return check_submission(definition, data).errors


def _kept(nodes: tuple[Node, ...], holder: dict[str, Any]) -> dict[str, Any]:
    """The values of `holder` that belong to these components (layouts share their parent's data object)."""
    kept: dict[str, Any] = {}
    for node in nodes:
        if node.kind == "content":
            continue
        if not node.holds_data:
            kept |= _kept(node.children, holder)
            continue
        if node.key not in holder:
            continue
        value = holder[node.key]
        if isinstance(value, list) and MISSING in value:  # an item normalize made undefined: JSON's null
            value = [None if item is MISSING else item for item in value]
        if node.kind == "object" and isinstance(value, dict):
            value = _kept(node.children, value)
        elif node.kind == "array" and isinstance(value, list):
            value = [_kept(node.children, row) if isinstance(row, dict) else row for row in value]
        kept[node.key] = value
    return kept


class _Walker:
    def __init__(self, form: Form, data: dict[str, Any], dropped: dict[int, dict[str, Any]]) -> None:
        self.form = form
        self.data = data
        self.dropped = dropped
        self.errors: list[FieldError] = []

    def visit(
        self,
        nodes: tuple[Node, ...],
        holder: dict[str, Any],
        pointer: str,
        rows: Mapping[str, int],
        *,
        hidden: bool,
        intentionally_hidden: bool,
    ) -> None:
        """`holder` is the data object the nodes' keys live in (Form.io's `row`); `pointer` locates it in `data`."""
        for node in nodes:
            if node.kind == "content":
                continue
            scope = Scope(self.form, self.data, holder, rows)
            value = self._value(node, holder)
            node_hidden = hidden or is_conditionally_hidden(node, scope, value)
            node_intentionally_hidden = intentionally_hidden or truthy(node.component.get("hidden"))
            if node_hidden and node.holds_data and node.key in holder and node.component.get("clearOnHide", True):
                del holder[node.key]
                value = MISSING
            here = pointer_join(pointer, node.key) if node.holds_data else pointer
            skip = (node_hidden or node_intentionally_hidden) and not truthy(node.component.get("validateWhenHidden"))
            if node.holds_data and not skip and _validates(node.component):
                refused = self.dropped.get(id(holder), {}).get(node.key, MISSING)
                if refused is not MISSING:  # refused for its type, not reported missing as well
                    self._report(node, here, check_type(node.component, node.label, refused))
                else:
                    self._validate(node, value, here, scope)
            self._visit_children(node, holder, value, here, rows, node_hidden, node_intentionally_hidden)

    def _value(self, node: Node, holder: dict[str, Any]) -> Any:
        return holder.get(node.key, MISSING) if node.holds_data else MISSING

    def _visit_children(
        self,
        node: Node,
        holder: dict[str, Any],
        value: Any,
        pointer: str,
        rows: Mapping[str, int],
        hidden: bool,
        intentionally_hidden: bool,
    ) -> None:
        flags = {"hidden": hidden, "intentionally_hidden": intentionally_hidden}
        if node.kind == "layout":
            self.visit(node.children, holder, pointer, rows, **flags)
        elif node.kind == "object":
            if isinstance(value, dict):
                self.visit(node.children, value, pointer, rows, **flags)
            elif value is MISSING or value is None:
                # Form.io still visits the children of an absent container, so their `required` applies
                self.visit(node.children, {}, pointer, rows, **flags)
        elif node.kind == "array" and isinstance(value, list):
            for index, row in enumerate(value):
                if isinstance(row, dict):
                    self.visit(node.children, row, pointer_join(pointer, index), {**rows, node.path: index}, **flags)

    def _report(self, node: Node, path: str, problem: Problem | None) -> bool:
        if problem is None:
            return False
        kind, message = problem
        custom = validate_settings(node.component).get("customMessage")
        if isinstance(custom, str) and custom and kind not in ("type", "multiple"):
            message = custom
        # Form.io keeps one error per path and message (handleError): with a customMessage, the first rule's only;
        # `required` and `requiredDay` share a type
        if not any(error.path == path and (error.type == kind or error.message == message) for error in self.errors):
            self.errors.append(FieldError(path, message, kind))
        return True

    def _validate(self, node: Node, value: Any, path: str, scope: Scope) -> None:
        component, label = node.component, node.label
        if node.multiple:
            # validateMultiple.ts: null is fine unless required; anything else must be an array, whose items
            # each go through the other rules (validation/index.ts validateProcess, path `${path}[${i}]`)
            if isinstance(value, list) and value:
                for index, item in enumerate(value):
                    # neither comes from Form.io's client; its server fails on both in a number list
                    if item is None or item is MISSING or (item == "" and node.type in ("number", "currency")):
                        self._report(node, pointer_join(path, index), ("type", f"{label}: each value must be given."))
                        continue
                    self._validate_one(node, item, pointer_join(path, index), scope)
            elif isinstance(value, list) or value is MISSING or value is None:
                self._report(node, path, check_required(component, label, value))
            else:  # one value where a list belongs: refused as such, and judged as the value it is (as Form.io does)
                self._report(node, path, ("multiple", f"{label} must be a list of values."))
                self._validate_one(node, value, path, scope)
            return
        if isinstance(value, list) and node.type in _SINGLE_VALUED:
            self._report(node, path, check_required(component, label, value))  # an empty list is no value
            self._report(node, path, ("multiple", f"{label} must be a single value, not a list."))
            return
        self._validate_one(node, value, path, scope)
        if node.type == "file" and isinstance(value, list):
            if len(value) > 1 and not truthy(component.get("multiple")):
                self._report(node, path, ("multiple", f"{label} takes a single file."))
            for index, item in enumerate(value):
                self._report(node, pointer_join(path, index), check_file_item(label, item))
        if node.kind == "array" and isinstance(value, list):
            for index, row in enumerate(value):
                if not isinstance(row, dict):
                    self._report(node, pointer_join(path, index), ("type", f"{label}: each row must be an object."))

    def _validate_one(self, node: Node, value: Any, path: str, scope: Scope) -> None:
        component, label = node.component, node.label
        if truthy(component.get("truncateMultipleSpaces")) and isinstance(value, str) and value:
            value = truncate_spaces(value)  # validateProcess judges the truncated text, whatever the type
        if self._report(node, path, check_type(component, label, value)):
            self._report(node, path, check_required(component, label, value))
            return
        for rule in RULES_BEFORE_JSON:
            self._report(node, path, rule(component, label, value))
        self._report(node, path, _check_json(node, value, scope))
        for rule in RULES_AFTER_JSON:
            self._report(node, path, rule(component, label, value))


def _check_json(node: Node, value: Any, scope: Scope) -> Problem | None:
    """validateJson.ts: the logic sees `value` as `value || null`; true or null passes, a string is the message."""
    logic = validate_settings(node.component).get("json")
    if not isinstance(logic, dict):
        return None
    valid = jsonlogic.apply(logic, scope.logic_context(node, value if truthy(value) else None))
    if valid is True or valid is None:
        return None
    return "json", valid if isinstance(valid, str) and valid else f"{node.label} is invalid."


def _validates(component: Mapping[str, Any]) -> bool:
    if "input" in component and not component["input"]:
        return False
    if component.get("protected"):
        return True
    persistent = component.get("persistent", True)
    return not (persistent is False or persistent == "client-only")
