"""The HTTP API fuzzed from its own OpenAPI document (Schemathesis): for every operation, as an employee of an
office and as an administrator, generated requests (valid ones and, in negative mode, invalid ones) never get a
server error, and every answer conforms to what the document says of it. Then chains of operations, linked by
what one answer gives the next (a case opened, then read, changed, noted, documented), hold the same.

Run through Hypothesis directly: Schemathesis' pytest plugin does not load under this pytest (9)."""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from hypothesis.stateful import initialize
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.generation.stateful.state_machine import StepInput, StepOutput
from schemathesis.specs.openapi.checks import response_schema_conformance

from infra.settings import Settings
from tests.conftest import OfficeFactory
from tests.serve.test_cases_http import body as case_body

# a stream that ends only with the token (no example would come back); a sync against the whole catalogue
# (minutes per example; its own tests cover it); an application registered or a user created, each made in the real
# Keycloak and outliving the session's database (tests/serve/test_external_apps_http.py and test_users_http.py make
# them and clean up)
SKIPPED = {
    ("GET", "/api/live/cases"),
    ("POST", "/api/admin/catalog/sync"),
    ("POST", "/api/admin/apps"),
    ("POST", "/api/admin/users"),
}
EXAMPLES = 6
# what is posted for verification: a PDF's start, a PDF of nothing, or bytes that are no PDF at all
schemathesis.openapi.media_type(
    "application/pdf",
    st.one_of(st.binary(max_size=512), st.binary(max_size=512).map(lambda b: b"%PDF-1.7\n" + b)),
)


async def test_no_operation_answers_a_server_error(
    ray_app: dict[str, Any], settings: Settings, make_office: OfficeFactory, token_for: Callable[..., str]
) -> None:
    office = await make_office()
    callers = [
        {"Authorization": f"Bearer {token_for(office, roles=('employee', 'supervisor'))}"},
        {"Authorization": f"Bearer {token_for(uuid.uuid4(), roles=('administrator',))}"},
    ]
    base = f"http://127.0.0.1:{settings.http_port}"
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30

    for operation, mode in itertools.product(operations, GenerationMode):
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue

        @given(case=operation.as_strategy(mode))
        @hypothesis_settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def fuzz(case: Any) -> None:
            for headers in callers:
                case.call_and_validate(
                    base_url=base, headers=headers, checks=[not_a_server_error, response_schema_conformance]
                )

        try:
            fuzz()
        except Unsatisfiable:  # no parameters to make invalid (negative mode of /livez, /api/tasks/{id}/claim...)
            continue
        except Exception as exc:
            failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {str(exc)[:600]}")

    assert not failures, "\n\n".join(failures)


SCENARIOS, STEPS = 20, 10


async def test_chains_of_operations_hold(
    ray_app: dict[str, Any],
    settings: Settings,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
) -> None:
    procedure = await make_procedure()
    base = f"http://127.0.0.1:{settings.http_port}"
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    for method, path in SKIPPED:
        schema = schema.exclude(method=method, path=path)
    # nor the statistics: their rows come from the statistics consumer, after the events, so an answer (and the
    # links Schemathesis draws from it) differs between a scenario and its replay, which Hypothesis refuses
    # (FlakyStrategyDefinition, seen once). The single operations' fuzz above still covers them.
    schema = schema.exclude(path_regex=r"^/api/statistics/")
    # Schemathesis links the operations itself, from the answers' schemas and the paths' parameters
    machine = schema.as_state_machine()
    calls: list[str] = []

    opening = schema["/api/cases"]["POST"]

    class Staff(machine):  # type: ignore[misc, valid-type]
        # every scenario starts from a case opened for a real procedure (Schemathesis would draw a random
        # procedure id, which stops at 422): what it returns feeds the links to the case's other operations
        @initialize(target=machine.bundles["POST /api/cases -> 201"])
        def open_a_case(self) -> StepOutput:
            step = StepInput.initial(opening.Case(body=case_body(procedure)))
            # as Schemathesis' own root steps do (pinned version): the later steps find their parent by its id
            self.recorder.record_case(case=step.case)
            self.control.record_step(step, self.recorder)
            return self._step(step)

        def setup(self) -> None:
            # each scenario in an office of its own (the token helper makes it): the same steps meet the same
            # state, which Hypothesis needs to replay them
            token = token_for(uuid.uuid4(), roles=("employee", "supervisor"))
            self.headers = {"Authorization": f"Bearer {token}"}

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": base, "headers": self.headers}

        def after_call(self, response: Any, case: Any) -> None:
            calls.append(f"{case.method.upper()} {case.path} {response.status_code}")

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    Staff.run(
        settings=hypothesis_settings(max_examples=SCENARIOS, stateful_step_count=STEPS, deadline=None,
                                     derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    )  # fmt: skip
    # the chains went past the first step: cases were opened and then worked on
    print(sorted(Counter(calls).items()))
    assert any(call.startswith("POST /api/cases 201") for call in calls)
    assert any(call.startswith(("GET /api/cases/{case_id}", "POST /api/cases/{case_id}")) for call in calls)
