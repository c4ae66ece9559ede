"""Property-based checks of the whole API from its own OpenAPI document (schemathesis): no
input makes a server error, and every answer matches the documented shape."""

from __future__ import annotations

from typing import Any, cast

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import make_domain, make_tenant, token_caller

EXAMPLES_PER_OPERATION = 8
# The checks that judge one response; ignored_auth and the like re-send requests and would
# count our deliberately valid token as "invalid auth accepted".
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_api_never_fails_on_any_input(app: Any, db_session: Any) -> None:
    tenant = make_tenant("fuzz")
    make_domain(tenant, "fuzz.example")
    headers = token_caller("msp_admin").headers
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    problems: list[str] = []
    # An operation the document cannot describe raises here (Err.ok()), failing the test.
    operations = [cast(Any, result).ok() for result in schema.get_all_operations()]
    assert len(operations) > 20

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            with app.app_context():  # each request with its own session, as in production
                response = case.call(headers=headers)
            if response.status_code >= 500:
                problems.append(
                    f"{case.method} {case.formatted_path}: {response.status_code}"
                    f" {response.text[:200]}"
                )
                return
            try:
                case.validate_response(response, checks=CHECKS)
            except Exception as exc:  # collect every mismatch, report them together
                problems.append(f"{case.method} {case.formatted_path}: {str(exc)[:300]}")

        check()
    assert not problems, "\n".join(sorted(set(problems))[:40])
