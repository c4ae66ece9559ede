"""Notification jobs: the dispatch sweep (events -> deliveries -> one send job each, plus
overdue retries), the send job, the weekly digest sweep and job, and the daily retention
purges (finished deliveries, then the dispatched events none refers to any more).

Jobs take ids, call one service function, and the ``@job`` wrapper commits.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from msp import events
from msp.db import utcnow
from msp.extensions import db
from msp.notifications import delivery, digest_service, rollup
from msp.notifications.settings import NotifySettings, notify_settings
from msp.queues import NOTIFICATIONS, enqueue
from msp.tenancy.models import Tenant
from workers.runtime import CronEntry, job

DIGEST_JOB = "workers.notifications.send_digest"


def _settings() -> NotifySettings:
    return notify_settings(current_app.config)


@job
def dispatch_events() -> dict[str, int]:
    """Fan out new events into deliveries; send the daily summaries that are due; enqueue
    sends, and re-enqueue lost ones and those held by quiet hours once they are due."""
    now = utcnow()
    settings = _settings()
    result = delivery.dispatch_pending(settings, now)
    summaries = delivery.send_summaries(settings, now)
    requeued = delivery.requeue_lost(now)
    return {
        "events": result.events,
        "deliveries": result.deliveries,
        "stale": result.stale,
        "suppressed": result.suppressed,
        "summaries": summaries,
        "requeued": requeued,
    }


@job
def send_delivery(delivery_id: int) -> dict[str, Any]:
    """Send one delivery (does nothing when it was sent already or is not due)."""
    outcome = delivery.send_delivery(delivery_id, _settings(), utcnow())
    return {"status": outcome.status, "attempts": outcome.attempts, "detail": outcome.detail}


@job
def digest_sweep() -> int:
    """Enqueue one digest job per tenant whose weekly digest is due in its own time zone."""
    now = utcnow()
    digest_service.requeue_lost(now)
    due = digest_service.due_digests(_settings(), now)
    for tenant_id, week in due:
        enqueue(
            DIGEST_JOB,
            queue=NOTIFICATIONS,
            job_id=f"notify-digest-{tenant_id}-{week}",
            tenant_id=tenant_id,
        )
    return len(due)


@job
def send_digest(tenant_id: int) -> int:
    """Render this week's digest of one tenant once, claim it for each recipient (committed
    before anything is sent) and queue one send job per new claim."""
    tenant = db.session.get(Tenant, tenant_id)
    if tenant is None:
        return 0
    return len(digest_service.prepare_week(tenant, _settings(), utcnow()))


@job
def send_digest_mail(send_id: int) -> dict[str, Any]:
    """Send one recipient's digest (does nothing when it went out already)."""
    outcome = digest_service.send_claimed(send_id, _settings(), utcnow())
    return {"status": outcome.status, "attempts": outcome.attempts, "detail": outcome.detail}


@job
def rollup_sweep() -> int:
    """Claim this week's roll-up for each MSP staff member (once per week) and queue sends."""
    now = utcnow()
    settings = _settings()
    rollup.requeue_lost(now)
    if digest_service.week_due(digest_service.rollup_schedule(settings), now) is None:
        return 0
    return len(rollup.claim_week(now))


@job
def send_rollup(send_id: int) -> dict[str, Any]:
    """Send one staff member's roll-up (does nothing when it went out already)."""
    outcome = rollup.send_claimed(send_id, _settings(), utcnow())
    return {"status": outcome.status, "attempts": outcome.attempts, "detail": outcome.detail}


@job
def prune_deliveries() -> int:
    """Delete finished deliveries and old digest issues past the retention period."""
    settings, now = _settings(), utcnow()
    issues = digest_service.prune(settings.retention_days, now)
    return delivery.prune_deliveries(settings, now) + issues


@job
def purge_events() -> int:
    """Delete dispatched events past ``MSP_EVENT_RETENTION_DAYS`` that no delivery refers to."""
    return events.purge_events(_settings().event_retention_days, utcnow())


CRON: list[CronEntry] = [
    CronEntry(func=dispatch_events, queue=NOTIFICATIONS, interval=30),
    CronEntry(func=digest_sweep, queue=NOTIFICATIONS, cron="7 * * * *"),
    CronEntry(func=rollup_sweep, queue=NOTIFICATIONS, cron="17 * * * *"),
    CronEntry(func=prune_deliveries, queue=NOTIFICATIONS, cron="41 3 * * *"),
    # after the deliveries' prune, so the events they freed go the same night
    CronEntry(func=purge_events, queue=NOTIFICATIONS, cron="53 3 * * *"),
]
