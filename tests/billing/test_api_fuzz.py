"""Property-based checks of the billing operations from the OpenAPI document (schemathesis):
no input makes a server error, and every answer matches the documented shape."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import make_domain, make_tenant, token_caller

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_billing_operations_never_fail_on_any_input(app: Any, db_session: Any) -> None:
    tenant = make_tenant("fuzz-billing")
    make_domain(tenant)
    headers = token_caller("msp_admin").headers
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    every = [r.ok() for r in schema.get_all_operations()]  # type: ignore[union-attr]
    operations = [op for op in every if "billing" in op.path]
    assert len(operations) == 3
    problems: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case: Any) -> None:
            with app.app_context():
                response = case.call(headers=headers)
            if response.status_code >= 500 and response.status_code not in (502, 503):
                problems.append(f"{case.method} {case.formatted_path}: {response.status_code}")
                return
            try:
                case.validate_response(response, checks=CHECKS)
            except Exception as exc:  # collect every mismatch, report them together
                problems.append(f"{case.method} {case.formatted_path}: {str(exc)[:400]}")

        check()
    assert not problems, "\n".join(sorted(set(problems))[:20])
