"""Events become e-mails and signed webhooks, through a real RQ worker, PostgreSQL, an SMTP
server and HTTP receivers: retries, isolation between endpoints and between tenants."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask

from msp.db import utcnow
from msp.events import emit_event
from msp.extensions import db
from msp.notifications.channels.webhook import verify
from msp.queues import NOTIFICATIONS, enqueue
from tests.factories import make_domain, make_tenant
from tests.notifications.helpers import SECRET, deliveries, email_endpoint, webhook_endpoint
from tests.notifications.servers import Hook, MailSink

DISPATCH = "workers.notifications.dispatch_events"


def _dispatch(run_jobs: Callable[..., Any]) -> None:
    enqueue(DISPATCH, queue=NOTIFICATIONS)
    db.session.commit()
    run_jobs()


def test_drift_reaches_sysadmins_by_email_and_webhook_signed(
    notify_config: dict[str, Any],
    mail_sink: MailSink,
    hooks: Callable[[], Hook],
    run_jobs: Callable[..., Any],
) -> None:
    tenant = make_tenant(name="Acme Ltd")
    domain = make_domain(tenant, "acme.example")
    hook = hooks()
    email_endpoint(tenant, "sysadmins", "ops@acme.example")
    webhook_endpoint(tenant, "sysadmins", hook.url)
    event = emit_event(
        tenant.id, "dns.drift", {"summary": "SPF record changed"}, domain_id=domain.id
    )
    _dispatch(run_jobs)

    [(_, recipients, mail)] = mail_sink.received
    assert recipients == ["ops@acme.example"]
    assert mail["Subject"] == "[INFO] DNS records changed: acme.example"
    assert "SPF record changed" in mail.get_payload(decode=True).decode()
    [(headers, body)] = hook.received
    assert verify(body, SECRET, headers["x-msp-signature"])
    document = json.loads(body)
    assert document["event"]["kind"] == "dns.drift"
    assert document["event"]["domain_name"] == "acme.example"
    assert document["event"]["event_id"] == event.id
    assert {(d.status, d.attempts) for d in deliveries(event_id=event.id)} == {("sent", 1)}


def test_event_goes_only_to_the_teams_its_rules_name(
    notify_config: dict[str, Any], mail_sink: MailSink, run_jobs: Callable[..., Any]
) -> None:
    tenant = make_tenant()
    email_endpoint(tenant, "security", "sec@client.example")
    email_endpoint(tenant, "sysadmins", "ops@client.example")
    email_endpoint(tenant, "service_desk", "desk@client.example")
    emit_event(tenant.id, "sender.new", {"summary": "mailchimp started sending"})
    _dispatch(run_jobs)
    assert [r for _, r, _ in mail_sink.received] == [["sec@client.example"]]


def test_failed_delivery_is_retried_and_the_failure_recorded(
    notify_config: dict[str, Any], hooks: Callable[[], Hook], run_jobs: Callable[..., Any]
) -> None:
    tenant = make_tenant()
    hook = hooks()
    hook.statuses = [503]
    webhook_endpoint(tenant, "sysadmins", hook.url)
    emit_event(tenant.id, "policy.published", {})
    _dispatch(run_jobs)
    [delivery] = deliveries(tenant_id=tenant.id)
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    assert delivery.last_error is not None and delivery.last_error.startswith("HTTP 503")
    bodies = [json.loads(body) for _, body in hook.received]
    assert [b["attempt"] for b in bodies] == [1, 2]
    assert len({b["delivery_id"] for b in bodies}) == 1


def test_retries_stop_when_the_budget_is_spent(
    notify_config: dict[str, Any], hooks: Callable[[], Hook], run_jobs: Callable[..., Any]
) -> None:
    tenant = make_tenant()
    hook = hooks()
    hook.statuses = [500] * 10
    webhook_endpoint(tenant, "sysadmins", hook.url)
    emit_event(tenant.id, "policy.published", {})
    _dispatch(run_jobs)
    [delivery] = deliveries(tenant_id=tenant.id)
    assert (delivery.status, delivery.attempts) == ("failed", 3)  # 1 + two retries
    assert len(hook.received) == 3


def test_one_failing_endpoint_does_not_stop_the_others(
    notify_config: dict[str, Any],
    mail_sink: MailSink,
    hooks: Callable[[], Hook],
    run_jobs: Callable[..., Any],
) -> None:
    tenant = make_tenant()
    broken, working = hooks(), hooks()
    broken.statuses = [404]
    ids = [
        webhook_endpoint(tenant, "sysadmins", broken.url).id,
        webhook_endpoint(tenant, "sysadmins", working.url).id,
        email_endpoint(tenant, "sysadmins", "ops@client.example").id,
    ]
    emit_event(tenant.id, "dns.drift", {})
    _dispatch(run_jobs)
    outcome = {d.endpoint_id: (d.status, d.attempts) for d in deliveries(tenant_id=tenant.id)}
    assert [outcome[i] for i in ids] == [("failed", 1), ("sent", 1), ("sent", 1)]
    assert len(working.received) == 1 and len(mail_sink.received) == 1


def test_events_never_reach_another_tenants_endpoints(
    notify_config: dict[str, Any],
    mail_sink: MailSink,
    hooks: Callable[[], Hook],
    run_jobs: Callable[..., Any],
) -> None:
    first, second = make_tenant(), make_tenant()
    first_hook, second_hook = hooks(), hooks()
    webhook_endpoint(first, "sysadmins", first_hook.url)
    email_endpoint(first, "sysadmins", "ops@first.example")
    webhook_endpoint(second, "sysadmins", second_hook.url)
    email_endpoint(second, "sysadmins", "ops@second.example")
    emit_event(first.id, "dns.drift", {"summary": "first tenant only"})
    _dispatch(run_jobs)
    assert len(first_hook.received) == 1 and second_hook.received == []
    assert [r for _, r, _ in mail_sink.received] == [["ops@first.example"]]
    assert deliveries(tenant_id=second.id) == []
    assert {d.endpoint.tenant_id for d in deliveries(tenant_id=first.id)} == {first.id}


def test_repeated_dispatch_and_send_jobs_send_once(
    notify_config: dict[str, Any], mail_sink: MailSink, run_jobs: Callable[..., Any]
) -> None:
    tenant = make_tenant()
    email_endpoint(tenant, "sysadmins", "ops@client.example")
    emit_event(tenant.id, "dns.drift", {})
    _dispatch(run_jobs)
    [delivery] = deliveries(tenant_id=tenant.id)
    enqueue(
        "workers.notifications.send_delivery",
        queue=NOTIFICATIONS,
        job_id="a-second-send",
        delivery_id=delivery.id,
    )
    _dispatch(run_jobs)
    assert len(mail_sink.received) == 1
    assert len(deliveries(tenant_id=tenant.id)) == 1


def test_stale_events_are_marked_dispatched_without_sending(
    notify_config: dict[str, Any], mail_sink: MailSink, app: Flask, run_jobs: Callable[..., Any]
) -> None:
    tenant = make_tenant()
    email_endpoint(tenant, "sysadmins", "ops@client.example")
    event = emit_event(tenant.id, "dns.drift", {})
    event.at = utcnow() - timedelta(days=5)
    _dispatch(run_jobs)
    db.session.refresh(event)
    assert event.dispatched_at is not None
    assert mail_sink.received == [] and deliveries(tenant_id=tenant.id) == []


def test_lost_send_jobs_are_enqueued_again_by_the_sweep(
    notify_config: dict[str, Any],
    mail_sink: MailSink,
    redis_conn: Any,
    run_jobs: Callable[..., Any],
) -> None:
    tenant = make_tenant()
    email_endpoint(tenant, "sysadmins", "ops@client.example")
    emit_event(tenant.id, "dns.drift", {})
    enqueue(DISPATCH, queue=NOTIFICATIONS)
    db.session.commit()
    run_jobs()
    assert len(mail_sink.received) == 1
    # A delivery whose job vanished (Redis flushed before it ran) is picked up again.
    [delivery] = deliveries(tenant_id=tenant.id)
    delivery.status, delivery.created_at, delivery.sent_at = (
        "pending",
        utcnow() - timedelta(minutes=10),
        None,
    )
    _dispatch(run_jobs)
    assert len(mail_sink.received) == 2
    assert deliveries(tenant_id=tenant.id)[0].status == "sent"


def test_secrets_sealed_under_another_key_fail_the_delivery_for_good(
    notify_config: dict[str, Any],
    hooks: Callable[[], Hook],
    app: Any,
    monkeypatch: Any,
    run_jobs: Callable[..., Any],
) -> None:
    from cryptography.fernet import Fernet

    tenant = make_tenant()
    hook = hooks()
    webhook_endpoint(tenant, "sysadmins", hook.url)
    emit_event(tenant.id, "dns.drift", {})
    monkeypatch.setitem(app.config, "MSP_ENCRYPTION_KEY", Fernet.generate_key().decode())
    _dispatch(run_jobs)
    [delivery] = deliveries(tenant_id=tenant.id)
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert "cannot be decrypted" in (delivery.last_error or "")
    assert hook.received == []


def test_a_suspended_tenants_events_are_not_sent(
    notify_config: dict[str, Any], mail_sink: MailSink, run_jobs: Callable[..., Any]
) -> None:
    tenant = make_tenant()
    email_endpoint(tenant, "sysadmins", "ops@client.example")
    tenant.status = "suspended"
    event = emit_event(tenant.id, "dns.drift", {})
    _dispatch(run_jobs)
    db.session.refresh(event)
    assert event.dispatched_at is not None and mail_sink.received == []


def test_finished_deliveries_past_retention_are_pruned_open_ones_kept(
    notify_config: dict[str, Any], hooks: Callable[[], Hook], run_jobs: Callable[..., Any]
) -> None:
    tenant = make_tenant()
    hook = hooks()
    webhook_endpoint(tenant, "sysadmins", hook.url)
    for _ in range(3):
        emit_event(tenant.id, "dns.drift", {})
    _dispatch(run_jobs)
    old_sent, old_open, recent = deliveries(tenant_id=tenant.id)
    for row in (old_sent, old_open):
        row.created_at = utcnow() - timedelta(days=91)
    old_open.status = "retrying"
    old_open.next_attempt_at = utcnow() + timedelta(hours=1)
    enqueue("workers.notifications.prune_deliveries", queue=NOTIFICATIONS)
    db.session.commit()
    run_jobs()
    assert [d.id for d in deliveries(tenant_id=tenant.id)] == [old_open.id, recent.id]
