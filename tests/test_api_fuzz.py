"""Property-based checks of the whole API from its own OpenAPI document (schemathesis,
tests/support/fuzz.py): no input makes a server error, and every answer matches the documented
shape."""

from __future__ import annotations

from typing import Any

from tests.factories import make_domain, make_tenant, token_caller
from tests.support.fuzz import api_operations, fuzz, report

EXAMPLES_PER_OPERATION = 8


def test_api_never_fails_on_any_input(app: Any, db_session: Any) -> None:
    tenant = make_tenant("fuzz")
    make_domain(tenant, "fuzz.example")
    headers = token_caller("msp_admin").headers
    operations = api_operations(app)
    assert len(operations) > 20
    problems = fuzz(app, operations, headers, examples=EXAMPLES_PER_OPERATION)
    assert not problems, report(problems)
