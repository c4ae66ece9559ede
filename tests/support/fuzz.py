"""The one schemathesis harness: every API operation the OpenAPI document lists (or a chosen
part of them) is called with generated input; no input may make a server error, and every
answer must match the documented shape.

Usage::

    operations = api_operations(app, lambda path: "billing" in path)
    problems = fuzz(app, operations, token_caller("msp_admin").headers, examples=25)
    assert not problems, report(problems)
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

OPENAPI = "/api/v1/openapi.json"
# The checks that judge one response; ignored_auth and the like re-send requests and would
# count our deliberately valid token as "invalid auth accepted".
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def api_operations(app: Flask, keep: Callable[[str], bool] | None = None) -> list[Any]:
    """The operations of the app's OpenAPI document whose path ``keep`` accepts (all: None)."""
    schema = schemathesis.openapi.from_wsgi(OPENAPI, app)
    every = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # a broken document is a failure, not fewer operations
            raise result.err()
        every.append(result.ok())
    return [op for op in every if keep is None or keep(op.path)]


def _judge(case: Any, response: Any, tolerated: Collection[int]) -> str | None:
    """What is wrong with one answer, or None."""
    where = f"{case.method} {case.formatted_path}"
    if response.status_code >= 500 and response.status_code not in tolerated:
        return f"{where}: {response.status_code} {response.text[:200]}"
    # A tolerated 5xx must still be documented and well formed.
    checks = CHECKS[1:] if response.status_code in tolerated else CHECKS
    try:
        case.validate_response(response, checks=checks)
    # schemathesis raises its FailureGroup, a BaseExceptionGroup: `except Exception` alone let
    # the first mismatch end the run (the old harnesses) instead of collecting them all.
    except (Exception, FailureGroup) as exc:
        return f"{where}: {str(exc)[:300]}"
    return None


def fuzz(
    app: Flask,
    operations: list[Any],
    headers: Mapping[str, str],
    *,
    examples: int,
    tolerated: Collection[int] = (),
) -> list[str]:
    """Calls each operation with ``examples`` generated inputs (each request in its own app
    context, so its own session, as in production); the problems found, sorted, once each.

    ``tolerated``: 5xx statuses the operations may answer by design (e.g. 502 when an outside
    service the test's stand-in plays fails)."""
    problems: set[str] = set()
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            with app.app_context():
                response = case.call(headers=dict(headers))
            problem = _judge(case, response, tolerated)
            if problem is not None:
                problems.add(problem)

        check()
    return sorted(problems)


def report(problems: list[str], most: int = 40) -> str:
    """The first ``most`` problems, one a line, for an assertion message."""
    return "\n".join(problems[:most])


__all__ = ["CHECKS", "OPENAPI", "api_operations", "fuzz", "report"]
