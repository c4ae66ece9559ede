"""Delivering: events fanned out to endpoints as delivery rows, and each delivery sent once.

A delivery row is created once per (endpoint, key) and sent by one job per attempt; the row
is locked while it is sent and a sent row is never sent again, so repeated sweeps and retried
jobs do not duplicate messages. Failures are recorded on the row and retried with back-off
until the retry budget is spent; one endpoint failing never stops the others.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select

from msp.domains.models import Domain
from msp.events import Event
from msp.extensions import db
from msp.notifications import messages, rules
from msp.notifications.channels import DeliveryError, Message, Target, get_channel
from msp.notifications.crypto import SecretStoreError, unseal
from msp.notifications.models import (
    BATCHED,
    FAILED,
    OPEN_STATUSES,
    PENDING,
    RETRYING,
    SENT,
    SUMMARISED,
    Delivery,
    NotificationEndpoint,
    NotificationTeam,
)
from msp.notifications.routing import route
from msp.notifications.service import rules_for
from msp.notifications.settings import NotifySettings
from msp.queues import NOTIFICATIONS, enqueue
from msp.tenancy.models import Tenant

SEND_JOB = "workers.notifications.send_delivery"
# Events older than this when first seen are marked dispatched without sending: turning
# notifications on must not flood people with last month's news.
STALE_AFTER = timedelta(days=2)
# A pending delivery whose job has not run after this long is enqueued again by the sweep.
LOST_AFTER = timedelta(minutes=2)
ACTIVE = "active"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DispatchResult:
    events: int
    deliveries: int
    stale: int
    suppressed: int = 0


@dataclass(frozen=True)
class SendOutcome:
    delivery_id: int
    status: str
    attempts: int
    detail: str


def send_job_id(delivery: Delivery) -> str:
    return f"notify-delivery-{delivery.id}-a{delivery.attempts + 1}"


def enqueue_send(delivery: Delivery, at: datetime | None = None) -> None:
    enqueue(
        SEND_JOB, queue=NOTIFICATIONS, job_id=send_job_id(delivery), at=at, delivery_id=delivery.id
    )


def _endpoints_by_team(tenant_id: int) -> dict[str, list[NotificationEndpoint]]:
    rows = db.session.execute(
        select(NotificationTeam.name, NotificationEndpoint)
        .join(NotificationTeam, NotificationTeam.id == NotificationEndpoint.team_id)
        .where(NotificationEndpoint.tenant_id == tenant_id, NotificationEndpoint.enabled.is_(True))
        .order_by(NotificationEndpoint.id)
    ).all()
    grouped: dict[str, list[NotificationEndpoint]] = defaultdict(list)
    for team, endpoint in rows:
        grouped[team].append(endpoint)
    return grouped


def add_delivery(
    endpoint: NotificationEndpoint,
    key: str,
    message: Message,
    event_id: int | None = None,
    *,
    check: bool = True,
) -> Delivery | None:
    """A new pending delivery; None when this endpoint already has one with ``key``.

    ``check=False`` skips the look-up when the caller knows the key is new (the unique
    constraint still guards it).
    """
    if check:
        exists = db.session.scalar(
            select(Delivery.id).where(
                Delivery.tenant_id == endpoint.tenant_id,
                Delivery.endpoint_id == endpoint.id,
                Delivery.key == key,
            )
        )
        if exists is not None:
            return None
    delivery = Delivery(
        tenant_id=endpoint.tenant_id,
        endpoint_id=endpoint.id,
        event_id=event_id,
        key=key,
        subject=message.subject[:300],
        message=messages.to_row(message),
    )
    db.session.add(delivery)
    return delivery


def _facts(event: Event, tenant: Tenant, domain_name: str | None) -> messages.EventFacts:
    return messages.EventFacts(
        event_id=event.id,
        kind=event.kind,
        severity=event.severity,
        at=event.at,
        payload=dict(event.payload or {}),
        tenant_id=tenant.id,
        tenant_slug=tenant.slug,
        tenant_name=tenant.name,
        domain_id=event.domain_id,
        domain_name=domain_name,
    )


class _TenantRouting:
    """Rules and endpoints of the tenants seen in one dispatch (loaded once per tenant)."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[Any, dict[str, list[NotificationEndpoint]]]] = {}

    def get(self, tenant_id: int) -> tuple[Any, dict[str, list[NotificationEndpoint]]]:
        if tenant_id not in self._cache:
            self._cache[tenant_id] = (rules_for(tenant_id), _endpoints_by_team(tenant_id))
        return self._cache[tenant_id]


def _hours(endpoint: NotificationEndpoint, tenant: Tenant) -> rules.Hours:
    team = endpoint.team
    return rules.Hours(
        timezone=tenant.timezone or "UTC",
        quiet_start=team.quiet_start,
        quiet_end=team.quiet_end,
        summary=team.summary_mode,
        summary_hour=team.summary_hour,
    )


def _fan_out(
    event: Event, routing: _TenantRouting, settings: NotifySettings, now: datetime
) -> list[Delivery]:
    rules_, endpoints = routing.get(event.tenant_id)
    teams = route(event.kind, event.severity, event.payload or {}, rules_)
    targets = {e.id: e for team in sorted(teams) for e in endpoints.get(team, [])}
    if not targets:
        return []
    tenant = db.session.get(Tenant, event.tenant_id)
    if tenant is None or tenant.status != ACTIVE:
        return []  # a suspended tenant's people are not paged
    domain = db.session.get(Domain, event.domain_id) if event.domain_id else None
    message = messages.event_message(
        _facts(event, tenant, domain.name if domain else None), settings.base_url
    )
    # The event is locked and not dispatched yet, so none of its deliveries can exist.
    key = f"event:{event.id}"
    created = []
    for endpoint in targets.values():
        delivery = add_delivery(endpoint, key, message, event.id, check=False)
        if delivery is None:
            continue
        at, batched = rules.hold_until(_hours(endpoint, tenant), event.severity, now)
        delivery.next_attempt_at = at
        delivery.status = BATCHED if batched else PENDING
        created.append(delivery)
    return created


def dispatch_pending(settings: NotifySettings, now: datetime) -> DispatchResult:
    """Fan out undispatched events into deliveries and enqueue their sends (held ones for
    when quiet hours end; batched ones wait for the daily summary)."""
    events = list(
        db.session.scalars(
            select(Event)
            .where(Event.dispatched_at.is_(None))
            .order_by(Event.id)
            .limit(settings.dispatch_batch)
            .with_for_update(skip_locked=True)
        )
    )
    routing = _TenantRouting()
    created: list[Delivery] = []
    stale = suppressed = 0
    for event in events:
        event.dispatched_at = now
        if event.at < now - STALE_AFTER:
            stale += 1
            continue
        if rules.suppress(event, now):
            suppressed += 1
            continue
        created.extend(_fan_out(event, routing, settings, now))
    db.session.flush()
    for delivery in created:
        if delivery.status == PENDING:
            enqueue_send(delivery, at=delivery.next_attempt_at)
    return DispatchResult(len(events), len(created), stale, suppressed)


def _summary_message(tenant: Tenant, rows: list[Delivery], settings: NotifySettings) -> Message:
    lines = [f"{len(rows)} notification(s) for {tenant.name} since the last summary:", ""]
    lines += [f"- {row.subject}" for row in rows]
    link = f"{settings.base_url.rstrip('/')}/tenants/{tenant.id}"
    lines += ["", f"Open the tenant: {link}"]
    return Message(
        subject=f"Daily summary for {tenant.name}: {len(rows)} notification(s)",
        text="\n".join(lines) + "\n",
        data={
            "type": "summary",
            "tenant": tenant.name,
            "link": link,
            "items": [row.message.get("data", {}) for row in rows],
        },
    )


def send_summaries(settings: NotifySettings, now: datetime) -> int:
    """One summary delivery per endpoint whose batched events are due; returns how many."""
    due = list(
        db.session.scalars(
            select(Delivery)
            .where(Delivery.status == BATCHED, Delivery.next_attempt_at <= now)
            .order_by(Delivery.endpoint_id, Delivery.id)
            .with_for_update(skip_locked=True)
        )
    )
    per_endpoint: dict[int, list[Delivery]] = defaultdict(list)
    for row in due:
        per_endpoint[row.endpoint_id].append(row)
    for rows in per_endpoint.values():
        endpoint, tenant = rows[0].endpoint, db.session.get(Tenant, rows[0].tenant_id)
        assert tenant is not None  # deliveries cascade with their tenant
        summary = add_delivery(
            endpoint, f"summary:{rows[0].id}", _summary_message(tenant, rows, settings)
        )
        assert summary is not None  # the key names a batched row only this summary takes
        db.session.flush()
        for row in rows:
            row.status, row.receipt = SUMMARISED, f"in summary delivery {summary.id}"
        enqueue_send(summary)
    return len(per_endpoint)


def requeue_lost(now: datetime, limit: int = 500) -> int:
    """Enqueue again open deliveries whose job is overdue (lost with a Redis restart, say)."""
    due = func.coalesce(Delivery.next_attempt_at, Delivery.created_at)
    rows = list(
        db.session.scalars(
            select(Delivery)
            .where(Delivery.status.in_(OPEN_STATUSES), due <= now - LOST_AFTER)
            .order_by(Delivery.id)
            .limit(limit)
        )
    )
    for delivery in rows:
        enqueue_send(delivery)
    return len(rows)


def _lock_open(delivery_id: int, now: datetime) -> Delivery | None:
    delivery = db.session.scalar(
        select(Delivery).where(Delivery.id == delivery_id).with_for_update()
    )
    if delivery is None or delivery.status not in OPEN_STATUSES:
        return None
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
        return None
    return delivery


def _attempt(delivery: Delivery, settings: NotifySettings) -> str:
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        raise DeliveryError("the endpoint is disabled", permanent=True)
    try:
        secrets = unseal(endpoint.sealed_secrets, settings.encryption_key)
    except SecretStoreError as exc:
        raise DeliveryError(str(exc), permanent=True) from exc
    target = Target(
        config=endpoint.config, secrets=secrets, delivery_id=delivery.id, attempt=delivery.attempts
    )
    channel = get_channel(endpoint.kind)
    try:
        return channel.send(messages.from_row(delivery.message), target, settings)
    except DeliveryError:
        raise
    except Exception as exc:  # a channel bug must cost an attempt, not loop forever
        log.exception("channel %s failed unexpectedly", endpoint.kind)
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc


def _record_failure(
    delivery: Delivery, error: DeliveryError, settings: NotifySettings, now: datetime
) -> None:
    delivery.last_error = str(error)[:2000]
    if error.permanent or delivery.attempts >= settings.max_attempts:
        delivery.status = FAILED
        delivery.next_attempt_at = None
        return
    wait = settings.retry_seconds[min(delivery.attempts, len(settings.retry_seconds)) - 1]
    delivery.status = RETRYING
    delivery.next_attempt_at = now + timedelta(seconds=wait)
    enqueue_send(delivery, at=delivery.next_attempt_at if wait else None)


def send_delivery(delivery_id: int, settings: NotifySettings, now: datetime) -> SendOutcome:
    """Send one delivery if it is open and due; record the result on its row."""
    delivery = _lock_open(delivery_id, now)
    if delivery is None:
        return SendOutcome(delivery_id, "skipped", 0, "not open or not due")
    delivery.attempts += 1
    try:
        delivery.receipt = _attempt(delivery, settings)[:300]
    except DeliveryError as exc:
        _record_failure(delivery, exc, settings, now)
        log.info("delivery %s attempt %s failed: %s", delivery.id, delivery.attempts, exc)
        return SendOutcome(delivery.id, delivery.status, delivery.attempts, str(exc))
    delivery.status = SENT
    delivery.sent_at = now
    delivery.next_attempt_at = None
    return SendOutcome(delivery.id, SENT, delivery.attempts, delivery.receipt or "")


def deliveries_query(tenant_id: int, status: str | None = None) -> Any:
    stmt = select(Delivery).where(Delivery.tenant_id == tenant_id)
    if status:
        stmt = stmt.where(Delivery.status == status)
    return stmt.order_by(Delivery.id.desc())


def send_probe(endpoint: NotificationEndpoint, tenant_name: str, *, queue: bool = True) -> Delivery:
    """A test delivery to ``endpoint``, sent by a job (``queue``) or by the caller."""
    team = endpoint.team
    message = messages.probe_message(
        tenant_name, team.label or team.name, endpoint.name or endpoint.kind
    )
    delivery = add_delivery(endpoint, f"test:{uuid.uuid4().hex}", message)
    assert delivery is not None  # a fresh random key cannot exist already
    db.session.flush()
    if queue:
        enqueue_send(delivery)
    return delivery


def prune_deliveries(settings: NotifySettings, now: datetime) -> int:
    """Delete finished deliveries older than the retention period; open ones are kept."""
    if settings.retention_days <= 0:
        return 0
    cutoff = now - timedelta(days=settings.retention_days)
    result = db.session.execute(
        delete(Delivery).where(
            Delivery.status.in_((SENT, FAILED, SUMMARISED)), Delivery.created_at < cutoff
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
