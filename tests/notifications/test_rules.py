"""When a team hears about an event, with an injected clock: quiet hours in the tenant's time
zone hold deliveries until they end (critical ones go at once), the daily summary sends one
message a day per team, and the same open problem notifies once (flapping included)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from msp.events import emit_event
from msp.extensions import db
from msp.notifications import delivery, rules, service
from msp.notifications.models import Delivery
from msp.notifications.settings import NotifySettings, notify_settings
from tests.factories import make_domain, make_tenant
from tests.notifications.helpers import deliveries, email_endpoint, team
from tests.notifications.servers import MailSink

BERLIN = ZoneInfo("Europe/Berlin")


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("quiet", "now", "until"),
    [
        ((22, 7), _at(1, 21, 59), None),
        ((22, 7), _at(1, 22, 0), _at(2, 7)),
        ((22, 7), _at(2, 3, 15), _at(2, 7)),
        ((22, 7), _at(2, 7, 0), None),
        ((12, 14), _at(1, 13, 30), _at(1, 14)),
        ((12, 14), _at(1, 14, 30), None),
        ((None, None), _at(1, 23), None),
    ],
)
def test_quiet_hours_end_at_their_local_hour(
    quiet: tuple[int | None, int | None], now: datetime, until: datetime | None
) -> None:
    hours = rules.Hours("Europe/Berlin", *quiet)
    assert rules.quiet_until(hours, now) == until


def test_critical_is_never_held_and_summary_waits_for_its_hour() -> None:
    hours = rules.Hours("Europe/Berlin", 22, 7)
    assert rules.hold_until(hours, "critical", _at(1, 23)) == (None, False)
    assert rules.hold_until(hours, "warning", _at(1, 23)) == (_at(2, 7), False)
    summary = rules.Hours("Europe/Berlin", summary=True, summary_hour=8)
    assert rules.hold_until(summary, "error", _at(1, 9)) == (_at(2, 8), True)
    assert rules.hold_until(summary, "error", _at(1, 7)) == (_at(1, 8), True)


@pytest.fixture
def settings(notify_config: dict[str, Any], app: Flask) -> NotifySettings:
    return notify_settings(app.config)


def _tenant_with_sysadmins(**team_changes: Any) -> tuple[Any, Any]:
    tenant = make_tenant(name="Night Co", timezone="Europe/Berlin")
    domain = make_domain(tenant, "night.example")
    email_endpoint(tenant, "sysadmins", "ops@night.example")
    service.update_team(team(tenant, "sysadmins"), team_changes)
    return tenant, domain


def _event(
    tenant: Any, domain: Any, at: datetime, severity: str = "warning", **payload: Any
) -> Any:
    event = emit_event(tenant.id, "dns.drift", {"key": "spf", **payload}, domain_id=domain.id,
                       severity=severity)  # fmt: skip
    event.at = at
    db.session.flush()
    return event


def _send_open(settings: NotifySettings, now: datetime) -> list[str]:
    statuses = []
    for row in deliveries():
        if row.status in ("pending", "retrying"):
            statuses.append(delivery.send_delivery(row.id, settings, now).status)
    db.session.flush()  # the helper's expire_all would drop what was not flushed
    return statuses


def test_a_delivery_made_in_quiet_hours_goes_out_when_they_end(
    settings: NotifySettings, mail_sink: MailSink
) -> None:
    tenant, domain = _tenant_with_sysadmins(quiet_start=22, quiet_end=7)
    night = _at(1, 23, 30)
    _event(tenant, domain, night)
    delivery.dispatch_pending(settings, night)
    [held] = deliveries()
    assert held.status == "pending" and held.next_attempt_at == _at(2, 7)
    assert _send_open(settings, night + timedelta(hours=2)) == ["skipped"]
    assert mail_sink.received == []
    assert _send_open(settings, _at(2, 7, 1)) == ["sent"]
    assert len(mail_sink.received) == 1


def test_a_critical_event_is_sent_during_quiet_hours(
    settings: NotifySettings, mail_sink: MailSink
) -> None:
    tenant, domain = _tenant_with_sysadmins(quiet_start=22, quiet_end=7)
    night = _at(1, 23, 30)
    _event(tenant, domain, night, severity="critical")
    delivery.dispatch_pending(settings, night)
    [row] = deliveries()
    assert row.next_attempt_at is None
    assert _send_open(settings, night) == ["sent"] and len(mail_sink.received) == 1


def test_summary_mode_sends_one_message_a_day_per_team(
    settings: NotifySettings, mail_sink: MailSink
) -> None:
    tenant, domain = _tenant_with_sysadmins(summary_mode=True, summary_hour=8)
    for hour in (9, 13, 18):
        _event(tenant, domain, _at(1, hour), key=f"spf{hour}")
        delivery.dispatch_pending(settings, _at(1, hour))
    assert {r.status for r in deliveries()} == {"batched"}
    assert delivery.send_summaries(settings, _at(2, 7, 59)) == 0
    assert delivery.send_summaries(settings, _at(2, 8)) == 1
    assert delivery.send_summaries(settings, _at(2, 8, 30)) == 0  # nothing left to batch
    assert _send_open(settings, _at(2, 8)) == ["sent"]
    [(_, _, mail)] = mail_sink.received
    assert mail["Subject"] == "Daily summary for Night Co: 3 notification(s)"
    body = mail.get_payload(decode=True).decode()
    assert body.count("DNS records changed: night.example") == 3
    statuses = sorted(r.status for r in deliveries())
    assert statuses == ["sent", "summarised", "summarised", "summarised"]


def test_the_same_open_problem_notifies_once_then_on_change_and_on_resolution(
    settings: NotifySettings,
) -> None:
    tenant = make_tenant(timezone="UTC")
    domain = make_domain(tenant, "flap.example")
    email_endpoint(tenant, "sysadmins", "ops@flap.example")
    start = datetime(2026, 12, 1, 12, tzinfo=ZoneInfo("UTC"))

    def happen(kind: str, minutes: int, message: str = "SPF ends in ~all") -> int:
        now = start + timedelta(minutes=minutes)
        event = emit_event(tenant.id, kind, {"code": "spf_softfail", "message": message},
                           domain_id=domain.id, severity="warning")  # fmt: skip
        event.at = now
        db.session.flush()
        return delivery.dispatch_pending(settings, now).suppressed

    opened, closed = "dns.finding.opened", "dns.finding.closed"
    assert happen(opened, 0) == 0  # paged
    assert happen(opened, 10) == 1  # the same open problem: once only
    assert happen(opened, 20, "SPF ends in ?all") == 0  # it changed: paged
    assert happen(closed, 30) == 1  # closed within the hour: a flap, no second page
    assert happen(opened, 50) == 1  # and back within the hour: still no page
    assert happen(closed, 200) == 0  # resolved for good: paged
    assert happen(opened, 500) == 0  # a new occurrence later: paged
    rows = db.session.query(Delivery).filter_by(tenant_id=tenant.id).count()
    assert rows == 4


def test_quiet_hours_must_have_both_ends(settings: NotifySettings) -> None:
    from msp.errors import ValidationFailed

    tenant = make_tenant()
    with pytest.raises(ValidationFailed):
        service.update_team(team(tenant, "sysadmins"), {"quiet_start": 22})


def test_api_sets_a_teams_quiet_hours_and_summary_mode(
    client: Any, notify_config: dict[str, Any]
) -> None:
    from tests.factories import token_caller

    tenant = make_tenant()
    admin = token_caller("tenant_admin", tenant)
    team_id = team(tenant, "sysadmins").id
    db.session.commit()
    url = f"/api/v1/notification-teams/{team_id}"
    changes = {"quiet_start": 22, "quiet_end": 7, "summary_mode": True, "summary_hour": 9}
    answer = client.patch(url, json=changes, headers=admin.headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert {k: answer.get_json()[k] for k in changes} == changes
    assert client.patch(url, json={"quiet_end": 24}, headers=admin.headers).status_code == 422
    one_end = client.patch(url, json={"quiet_start": None}, headers=admin.headers)
    assert one_end.status_code == 422
    off = client.patch(url, json={"quiet_start": None, "quiet_end": None}, headers=admin.headers)
    assert off.status_code == 200 and off.get_json()["quiet_start"] is None
