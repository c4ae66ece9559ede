"""The project's property-based API check (schemathesis, tests/support/fuzz.py), on the
notification operations: no input makes a server error, and every answer matches the
documented shape."""

from __future__ import annotations

from typing import Any

from tests.factories import make_tenant, token_caller
from tests.notifications.helpers import webhook_endpoint
from tests.support.fuzz import api_operations, fuzz, report

EXAMPLES_PER_OPERATION = 12


def test_notification_api_never_fails_on_any_input(
    app: Any, db_session: Any, notify_config: dict[str, Any]
) -> None:
    tenant = make_tenant("fuzz-notify")
    webhook_endpoint(tenant, "sysadmins", "https://hooks.example/fuzz")
    headers = token_caller("msp_admin").headers
    operations = api_operations(app, lambda path: "notification" in path or "/digest/" in path)
    assert len(operations) >= 20  # 15 notification operations and 5 of the digest
    problems = fuzz(app, operations, headers, examples=EXAMPLES_PER_OPERATION)
    assert not problems, report(problems)
