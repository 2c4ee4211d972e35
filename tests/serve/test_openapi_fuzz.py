"""The HTTP API fuzzed from its own OpenAPI document (Schemathesis): for every operation, as an employee of an
office and as an administrator, generated requests (valid ones and, in negative mode, invalid ones) never get a
server error, and every answer conforms to what the document says of it.

Run through Hypothesis directly: Schemathesis' pytest plugin does not load under this pytest (9)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from infra.settings import Settings
from tests.conftest import OfficeFactory

# a stream that ends only with the token (no example would come back); a sync against the whole catalogue
# (minutes per example; its own tests cover it)
SKIPPED = {("GET", "/api/live/cases"), ("POST", "/api/admin/catalog/sync")}
EXAMPLES = 6


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
