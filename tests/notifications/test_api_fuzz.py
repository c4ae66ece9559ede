"""The project's property-based API check (schemathesis), on the notification operations:
no input makes a server error, and every answer matches the documented shape."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.factories import make_tenant, token_caller
from tests.notifications.helpers import webhook_endpoint
from tests.test_api_fuzz import CHECKS

EXAMPLES_PER_OPERATION = 12


def test_notification_api_never_fails_on_any_input(
    app: Any, db_session: Any, notify_config: dict[str, Any]
) -> None:
    tenant = make_tenant("fuzz-notify")
    webhook_endpoint(tenant, "sysadmins", "https://hooks.example/fuzz")
    headers = token_caller("msp_admin").headers
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [
        op
        for op in (r.ok() for r in schema.get_all_operations())
        if "notification" in op.path or "/digest/" in op.path
    ]
    assert len(operations) >= 20  # 15 notification operations and 5 of the digest
    problems: list[str] = []

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            with app.app_context():
                response = case.call(headers=headers)
            if response.status_code >= 500:
                problems.append(
                    f"{case.method} {case.formatted_path}: {response.status_code}"
                    f" {response.text[:200]}"
                )
                return
            try:
                case.validate_response(response, checks=CHECKS)
            except Exception as exc:
                problems.append(f"{case.method} {case.formatted_path}: {str(exc)[:300]}")

        check()
    assert not problems, "\n".join(sorted(set(problems))[:40])
