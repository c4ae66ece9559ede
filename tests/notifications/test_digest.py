"""The weekly posture digest: built from the tenant's domains and events and the other areas'
sections, rendered as text and HTML, sent once per week in the tenant's time zone."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from msp.db import utcnow
from msp.events import emit_event
from msp.extensions import db
from msp.notifications import cli, sources
from msp.notifications.channels.webhook import verify
from msp.notifications.delivery import digest_week_due, due_digests
from msp.notifications.digest import build_digest, render_digest
from msp.notifications.settings import NotifySettings, notify_settings
from msp.queues import NOTIFICATIONS, enqueue
from tests.factories import make_domain, make_tenant
from tests.notifications.helpers import SECRET, deliveries, email_endpoint, webhook_endpoint
from tests.notifications.servers import Hook, MailSink

BASE = "https://msp.example"


def _tenant_with_domains() -> Any:
    tenant = make_tenant(name="Contoso <Holdings>", timezone="Europe/Berlin")
    shop = make_domain(tenant, "shop.contoso.example")
    make_domain(tenant, "mail.contoso.example")
    make_domain(tenant, "old.contoso.example", parked=True)
    emit_event(tenant.id, "dns.drift", {"key": "spf"}, domain_id=shop.id)
    emit_event(
        tenant.id,
        "dns.finding.opened",
        {"code": "spf_missing"},
        domain_id=shop.id,
        severity="error",
    )
    emit_event(
        tenant.id, "dns.finding.opened", {"code": "mx_missing"}, domain_id=shop.id, severity="error"
    )
    old = emit_event(tenant.id, "sender.new", {}, domain_id=shop.id)
    old.at = utcnow() - timedelta(days=9)  # last week: not in this digest
    return tenant


def test_digest_lists_domains_events_and_a_section_per_area(db_session: Any) -> None:
    tenant = _tenant_with_domains()
    digest = build_digest(tenant, utcnow(), BASE)
    assert digest.domains == ("mail.contoso.example", "shop.contoso.example")
    assert digest.parked == ("old.contoso.example",)
    assert dict(digest.event_counts) == {"dns.finding.opened": 2, "dns.drift": 1}
    assert sorted((h.kind, h.detail) for h in digest.highlights) == [
        ("dns.finding.opened", "mx_missing"),
        ("dns.finding.opened", "spf_missing"),
    ]
    assert [s.key for s in digest.sections] == ["dns", "reports", "policy"]
    dns = digest.sections[0]
    if dns.available:  # the DNS area is present: never-checked domains say so
        assert {r.text for r in dns.rows} == {"not checked yet"}
    assert digest.link == f"{BASE}/tenants/{tenant.id}"


def test_digest_renders_text_and_escaped_html(db_session: Any) -> None:
    tenant = _tenant_with_domains()
    message = render_digest(build_digest(tenant, utcnow(), BASE))
    assert message.subject.startswith("Weekly DMARC posture for Contoso <Holdings> (")
    assert "shop.contoso.example" in message.text and "Parked" in message.text
    assert "    2  dns.finding.opened" in message.text
    assert message.html is not None
    assert "Contoso &lt;Holdings&gt;" in message.html and "<Holdings>" not in message.html
    assert message.data["type"] == "digest"
    assert message.data["digest"]["domains"] == ["mail.contoso.example", "shop.contoso.example"]


def test_a_missing_area_makes_its_section_say_not_available(
    db_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = sources.Source(
        "dns", "DNS posture", (("msp.no_such_area.service", "x"),), sources._dns_row
    )
    monkeypatch.setattr(sources, "SOURCES", (missing,))
    monkeypatch.setattr("msp.notifications.digest.SOURCES", (missing,))
    tenant = _tenant_with_domains()
    digest = build_digest(tenant, utcnow(), BASE)
    [section] = digest.sections
    assert not section.available and section.note.startswith("not available")
    assert "not available" in render_digest(digest).text


def test_a_failing_area_does_not_break_the_digest_or_the_transaction(
    db_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(domain_id: int) -> Any:
        db.session.execute(db.text("SELECT 1/0"))

    monkeypatch.setattr(sources, "find_function", lambda candidates: broken)
    tenant = _tenant_with_domains()
    digest = build_digest(tenant, utcnow(), BASE)
    assert all(not s.available for s in digest.sections)
    assert digest.domains  # the session still works after the failed statement


@pytest.mark.parametrize(
    ("now", "timezone", "week"),
    [
        (datetime(2026, 11, 30, 6, 59, tzinfo=UTC), "Europe/Berlin", None),  # Mon 07:59 local
        (datetime(2026, 11, 30, 7, 0, tzinfo=UTC), "Europe/Berlin", "2026-W49"),  # Mon 08:00
        (datetime(2026, 11, 30, 7, 0, tzinfo=UTC), "America/New_York", None),  # Mon 02:00 local
        (datetime(2026, 11, 30, 13, 0, tzinfo=UTC), "America/New_York", "2026-W49"),
        (datetime(2026, 11, 29, 23, 30, tzinfo=UTC), "Asia/Tokyo", "2026-W49"),  # Mon 08:30 Tokyo
        (datetime(2026, 11, 29, 23, 30, tzinfo=UTC), "UTC", "2026-W48"),  # Sunday: W48 if missed
        (datetime(2026, 12, 3, 12, 0, tzinfo=UTC), "UTC", "2026-W49"),  # Thursday: catch up
    ],
)
def test_the_digest_is_due_from_monday_eight_in_the_tenants_time_zone(
    now: datetime, timezone: str, week: str | None
) -> None:
    settings = NotifySettings(digest_weekday=0, digest_hour=8)
    assert digest_week_due(timezone, settings, now) == week


def test_digest_goes_out_once_per_week_through_the_worker(
    notify_config: dict[str, Any],
    mail_sink: MailSink,
    app: Flask,
    monkeypatch: pytest.MonkeyPatch,
    run_jobs: Callable[..., Any],
) -> None:
    monkeypatch.setitem(app.config, "MSP_DIGEST_HOUR", 0)
    tenant = _tenant_with_domains()
    silent = make_tenant()  # no endpoints: no digest, no job
    email_endpoint(tenant, "service_desk", "desk@contoso.example")
    email_endpoint(tenant, "security", "sec@contoso.example")  # security gets no digest
    settings = notify_settings(app.config)
    due = due_digests(settings, utcnow())
    assert [tenant_id for tenant_id, _ in due] == [tenant.id]
    assert silent.id not in dict(due)
    for _ in range(2):
        enqueue("workers.notifications.digest_sweep", queue=NOTIFICATIONS)
        db.session.commit()
        run_jobs()
    [(_, recipients, mail)] = mail_sink.received
    assert recipients == ["desk@contoso.example"]
    assert mail["Subject"].startswith("Weekly DMARC posture for Contoso")
    kinds = sorted(p.get_content_type() for p in mail.walk() if not p.is_multipart())
    assert kinds == ["text/html", "text/plain"]
    [row] = deliveries(tenant_id=tenant.id)
    assert row.key.startswith("digest:") and row.status == "sent"
    assert due_digests(settings, utcnow()) == []


def test_cli_digest_dry_run_prints_and_sends_nothing(
    notify_config: dict[str, Any], mail_sink: MailSink, app: Flask
) -> None:
    tenant = _tenant_with_domains()
    email_endpoint(tenant, "service_desk", "desk@contoso.example")
    result = app.test_cli_runner().invoke(
        cli.digest, ["send", "--tenant", tenant.slug, "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert "Subject: Weekly DMARC posture for Contoso <Holdings>" in result.output
    assert "shop.contoso.example" in result.output
    assert mail_sink.received == [] and deliveries(tenant_id=tenant.id) == []


def test_cli_digest_send_delivers_now_and_only_once(
    notify_config: dict[str, Any], mail_sink: MailSink, app: Flask
) -> None:
    tenant = _tenant_with_domains()
    email_endpoint(tenant, "sysadmins", "ops@contoso.example")
    runner = app.test_cli_runner()
    first = runner.invoke(cli.digest, ["send", "--tenant", tenant.slug])
    second = runner.invoke(cli.digest, ["send", "--tenant", tenant.slug])
    assert first.exit_code == 0 and ": sent (" in first.output, first.output
    assert "nothing to send" in second.output
    assert len(mail_sink.received) == 1


def test_digest_to_a_webhook_is_signed_json_with_the_sections(
    notify_config: dict[str, Any],
    hooks: Callable[[], Hook],
    app: Flask,
    monkeypatch: pytest.MonkeyPatch,
    run_jobs: Callable[..., Any],
) -> None:
    monkeypatch.setitem(app.config, "MSP_DIGEST_HOUR", 0)
    tenant = _tenant_with_domains()
    hook = hooks()
    webhook_endpoint(tenant, "sysadmins", hook.url)
    enqueue("workers.notifications.send_digest", queue=NOTIFICATIONS, tenant_id=tenant.id)
    db.session.commit()
    run_jobs()
    [(headers, body)] = hook.received
    assert verify(body, SECRET, headers["x-msp-signature"])
    assert headers["x-msp-event"] == "digest"
    digest = json.loads(body)["digest"]
    assert digest["tenant_id"] == tenant.id
    assert [s["key"] for s in digest["sections"]] == ["dns", "reports", "policy"]
    assert digest["parked"] == ["old.contoso.example"]
