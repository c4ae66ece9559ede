"""The events' retention purge: old dispatched events go in chunks; undispatched ones, and
those a delivery still refers to (the foreign key cascades), stay; 0 keeps everything."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import inspect, select

from msp.db import utcnow
from msp.events import Event, emit_event, purge_events
from msp.extensions import db
from msp.notifications.models import FAILED, PENDING, SENT, Delivery
from msp.queues import NOTIFICATIONS, enqueue
from msp.tenancy.models import Tenant
from tests.factories import make_tenant
from tests.notifications.helpers import email_endpoint
from workers.notifications import CRON
from workers.notifications import purge_events as purge_events_job

NOW = utcnow()


def _event(tenant: Tenant, days_old: int, *, dispatched: bool = True) -> Event:
    event = emit_event(tenant.id, "dns.drift", {"key": "spf"})
    event.at = NOW - timedelta(days=days_old)
    event.dispatched_at = event.at + timedelta(seconds=30) if dispatched else None
    db.session.flush()
    return event


def _delivery(tenant: Tenant, event: Event, status: str) -> Delivery:
    endpoint = email_endpoint(tenant, "sysadmins", "ops@example.test")
    row = Delivery(
        tenant_id=tenant.id,
        endpoint_id=endpoint.id,
        event_id=event.id,
        key=f"event:{event.id}",
        status=status,
    )
    db.session.add(row)
    db.session.flush()
    return row


def _left(*events: Event) -> list[int]:
    ids = [inspect(e).identity[0] for e in events]  # no load: the row may be gone
    db.session.expire_all()
    return list(db.session.scalars(select(Event.id).where(Event.id.in_(ids)).order_by(Event.id)))


def test_old_dispatched_events_go_recent_and_undispatched_ones_stay(db_session: Any) -> None:
    tenant = make_tenant()
    old, older = _event(tenant, 181), _event(tenant, 400)
    recent, waiting = _event(tenant, 179), _event(tenant, 400, dispatched=False)
    assert purge_events(180, NOW) == 2
    assert _left(old, older, recent, waiting) == [recent.id, waiting.id]


def test_an_event_stays_while_a_delivery_refers_to_it(db_session: Any) -> None:
    tenant = make_tenant()
    events = [_event(tenant, 200) for _ in range(4)]
    pending = _delivery(tenant, events[0], PENDING)
    sent = _delivery(tenant, events[1], SENT)
    _delivery(tenant, events[2], FAILED)
    assert purge_events(180, NOW) == 1
    assert _left(*events) == [e.id for e in events[:3]]
    assert db.session.get(Delivery, pending.id) is not None  # never cascaded away
    db.session.delete(sent)  # what the deliveries' own prune does once they are past theirs
    db.session.flush()
    assert purge_events(180, NOW) == 1
    assert _left(*events) == [events[0].id, events[2].id]


def test_zero_days_keeps_every_event(db_session: Any) -> None:
    tenant = make_tenant()
    events = [_event(tenant, 5000), _event(tenant, 181)]
    assert purge_events(0, NOW) == 0
    assert _left(*events) == [e.id for e in events]


def test_a_second_purge_finds_nothing_and_keeps_the_rest(db_session: Any) -> None:
    tenant = make_tenant()
    old, recent = _event(tenant, 365), _event(tenant, 1)
    assert purge_events(180, NOW) == 1
    assert purge_events(180, NOW) == 0
    assert _left(old, recent) == [recent.id]


def test_the_purge_deletes_in_chunks_until_done_or_out_of_time(db_session: Any) -> None:
    tenant = make_tenant()
    events = [_event(tenant, 300) for _ in range(5)]
    assert purge_events(180, NOW, chunk=2, budget_seconds=0) == 2  # one chunk, then time is up
    assert len(_left(*events)) == 3
    assert purge_events(180, NOW, chunk=2) == 3
    assert _left(*events) == []


def test_the_default_keeps_dispatched_events_180_days(app: Flask) -> None:
    assert app.config["MSP_EVENT_RETENTION_DAYS"] == 180


def test_the_daily_job_purges_through_the_worker(
    db_session: Any, run_jobs: Callable[..., Any], redis_conn: Redis
) -> None:
    assert any(e.func is purge_events_job and e.cron for e in CRON)
    tenant = make_tenant()
    old, recent = _event(tenant, 181), _event(tenant, 10)
    for _ in range(2):  # twice: the second run finds nothing
        enqueue("workers.notifications.purge_events", queue=NOTIFICATIONS)
        db.session.commit()
        run_jobs((NOTIFICATIONS,))
    queue = Queue(NOTIFICATIONS, connection=redis_conn, serializer=JSONSerializer)
    assert queue.failed_job_registry.count == 0
    assert _left(old, recent) == [recent.id]
