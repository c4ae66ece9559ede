"""``msp notify`` commands: defaults, teams, test sends (in the command), deliveries."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Flask

from msp.notifications import cli
from tests.factories import make_tenant
from tests.notifications.helpers import email_endpoint, webhook_endpoint
from tests.notifications.servers import Hook, MailSink


def test_notify_test_sends_to_every_endpoint_now_and_reports_failures(
    notify_config: dict[str, Any], mail_sink: MailSink, hooks: Callable[[], Hook], app: Flask
) -> None:
    tenant = make_tenant(name="Northwind")
    hook = hooks()
    hook.statuses = [404]
    email_endpoint(tenant, "service_desk", "desk@northwind.example")
    webhook_endpoint(tenant, "network", hook.url)
    runner = app.test_cli_runner()
    result = runner.invoke(cli.notify, ["test", "--tenant", tenant.slug])
    assert result.exit_code == 1
    assert "email service_desk mail: sent" in result.output
    assert "webhook network hook: failed (HTTP 404" in result.output
    assert "1 endpoint(s) failed" in result.output
    assert len(mail_sink.received) == 1 and len(hook.received) == 1
    listed = runner.invoke(cli.notify, ["deliveries", "--tenant", tenant.slug, "--json"])
    rows = json.loads(listed.output)
    assert sorted((r["status"], r["attempts"]) for r in rows) == [("failed", 1), ("sent", 1)]


def test_notify_defaults_and_teams_list_endpoints_without_secrets(
    notify_config: dict[str, Any], app: Flask
) -> None:
    tenant = make_tenant()
    runner = app.test_cli_runner()
    made = runner.invoke(cli.notify, ["defaults", "--tenant", tenant.slug])
    assert made.output.strip() == "network, security, service_desk, sysadmins"
    webhook_endpoint(tenant, "security", "https://soc.example/hook", secret="x" * 16 + "-cli")
    listed = runner.invoke(cli.notify, ["teams", "--tenant", tenant.slug, "--json"])
    assert "https://soc.example/hook" in listed.output and "-cli" not in listed.output
    missing = runner.invoke(cli.notify, ["teams", "--tenant", "no-such-tenant"])
    assert missing.exit_code == 1 and "no tenant" in missing.output
