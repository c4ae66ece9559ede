"""Stripe webhooks: once per event id, the handled types applied, every other type recorded.

The signature is verified by the gateway on the raw body before anything here runs. Each
event is first recorded under its unique Stripe id, so a replay (or a concurrent duplicate
delivery, which waits on the unique key and then finds it taken) is answered without being
applied twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from msp.billing import accounts
from msp.billing.errors import BillingGatewayError, WebhookMalformed
from msp.billing.gateway import SubscriptionSnapshot, WebhookEvent, subscription_from_data
from msp.billing.models import BillingAccount, StripeEvent
from msp.db import utcnow
from msp.extensions import db

SUBSCRIPTION_TYPES = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    }
)
INVOICE_TYPES = frozenset({"invoice.paid", "invoice.payment_failed"})
HANDLED_TYPES = SUBSCRIPTION_TYPES | INVOICE_TYPES

log = logging.getLogger(__name__)

APPLIED, STALE, UNMATCHED, IGNORED, DUPLICATE = (
    "applied",
    "stale",
    "unmatched",
    "ignored",
    "duplicate",
)


@dataclass(frozen=True)
class WebhookResult:
    event_id: str
    type: str
    outcome: str  # applied, stale, unmatched, ignored or duplicate
    tenant_id: int | None


def _record(event: WebhookEvent) -> int | None:
    """The id of the event's new row, or None when this event id was received before.

    One ``INSERT ... ON CONFLICT DO NOTHING``: a concurrent delivery of the same event waits
    on the unique key until the first one commits, then finds the row and inserts nothing.
    """
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(StripeEvent)
        .values(
            stripe_event_id=event.id,
            type=event.type[:100],
            object_id=str(event.object.get("id", ""))[:255],
            outcome=IGNORED,
            livemode=event.livemode,
            created=event.created,
            received_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["stripe_event_id"])
        .returning(StripeEvent.id)
    )
    return db.session.scalar(stmt)


def _outcome(row_id: int, outcome: str, tenant_id: int | None) -> None:
    db.session.execute(
        update(StripeEvent)
        .where(StripeEvent.id == row_id)
        .values(outcome=outcome, tenant_id=tenant_id)
    )


# The subscription as Stripe has it now (StripeGateway.retrieve_subscription).
Fetch = Callable[[str], SubscriptionSnapshot]


def _subscription(
    event: WebhookEvent, account: BillingAccount, prices: Mapping[str, str], fetch: Fetch | None
) -> bool:
    snap = _snapshot(event)
    if event.type == "customer.subscription.deleted" and snap.status not in accounts.ENDED_STATUSES:
        snap = replace(snap, status="canceled")
    if fetch is not None and _same_second(event, account, snap):
        snap = _current_state(snap, fetch)
    return accounts.apply_subscription(account, snap, prices, event.created)


def _current_state(snap: SubscriptionSnapshot, fetch: Fetch) -> SubscriptionSnapshot:
    """Stripe's ``created`` has one-second resolution and delivery order is not guaranteed:
    two events of one subscription in the same second cannot be ordered by their content, so
    the subscription's state as Stripe has it now decides. If Stripe cannot say, the event's
    own snapshot goes on under the ordering rules (accounts.apply_subscription)."""
    try:
        return fetch(snap.id)
    except BillingGatewayError as exc:
        log.warning("subscription %s not fetched to order same-second events: %s", snap.id, exc)
        return snap


def _snapshot(event: WebhookEvent) -> SubscriptionSnapshot:
    try:
        return subscription_from_data(event.object)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise WebhookMalformed(f"event {event.id}: not a well-formed subscription") from exc


def _same_second(event: WebhookEvent, account: BillingAccount, snap: SubscriptionSnapshot) -> bool:
    return (
        account.subscription_event_at is not None
        and account.stripe_subscription_id == snap.id
        and event.created == account.subscription_event_at
    )


def _invoice(
    event: WebhookEvent, account: BillingAccount, prices: Mapping[str, str], fetch: Fetch | None
) -> bool:
    return accounts.record_payment(
        account,
        paid=event.type == "invoice.paid",
        invoice_id=str(event.object.get("id", "")),
        at=event.created,
    )


Handler = Callable[[WebhookEvent, BillingAccount, Mapping[str, str], Fetch | None], bool]


def _handler(event_type: str) -> Handler | None:
    if event_type in SUBSCRIPTION_TYPES:
        return _subscription
    if event_type in INVOICE_TYPES:
        return _invoice
    return None


def _customer_of(event: WebhookEvent) -> str:
    customer = event.object.get("customer")
    if isinstance(customer, Mapping):
        return str(customer.get("id", ""))
    return str(customer or "")


def handle_event(
    event: WebhookEvent, prices: Mapping[str, str], fetch: Fetch | None = None
) -> WebhookResult:
    """Apply a verified event once; the caller commits. ``fetch`` reads a subscription from
    Stripe when two of its events tie on time (without it, Stripe's ordering rules decide:
    an ended subscription never comes back)."""
    row_id = _record(event)
    if row_id is None:
        known = db.session.scalar(
            select(StripeEvent.tenant_id).where(StripeEvent.stripe_event_id == event.id)
        )
        return WebhookResult(event.id, event.type, DUPLICATE, known)
    handler = _handler(event.type)
    if handler is None:
        return WebhookResult(event.id, event.type, IGNORED, None)
    account = accounts.account_by_customer(_customer_of(event))
    if account is None:
        _outcome(row_id, UNMATCHED, None)
        return WebhookResult(event.id, event.type, UNMATCHED, None)
    outcome = APPLIED if handler(event, account, prices, fetch) else STALE
    _outcome(row_id, outcome, account.tenant_id)
    return WebhookResult(event.id, event.type, outcome, account.tenant_id)
