"""Stripe webhooks: once per event id, the handled types applied, every other type recorded.

The signature is verified by the gateway on the raw body before anything here runs. Each
event is first recorded under its unique Stripe id, so a replay (or a concurrent duplicate
delivery, which loses the uniqueness race) is answered without being applied twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from msp.billing import accounts
from msp.billing.gateway import WebhookEvent, subscription_from_data
from msp.billing.models import BillingAccount, StripeEvent
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


def _record(event: WebhookEvent) -> StripeEvent | None:
    """The event's new row, or None when this event id was received before."""
    known = select(StripeEvent.id).where(StripeEvent.stripe_event_id == event.id)
    if db.session.scalar(known) is not None:
        return None
    row = StripeEvent(
        stripe_event_id=event.id,
        type=event.type[:100],
        object_id=str(event.object.get("id", ""))[:255],
        outcome=IGNORED,
        livemode=event.livemode,
        created=event.created,
    )
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()
    except IntegrityError:
        return None  # a concurrent delivery of the same event won the race
    return row


def _subscription(event: WebhookEvent, account: BillingAccount, prices: Mapping[str, str]) -> bool:
    snap = subscription_from_data(event.object)
    if event.type == "customer.subscription.deleted" and snap.status not in accounts.ENDED_STATUSES:
        snap = replace(snap, status="canceled")
    return accounts.apply_subscription(account, snap, prices, event.created)


def _invoice(event: WebhookEvent, account: BillingAccount, prices: Mapping[str, str]) -> bool:
    return accounts.record_payment(
        account,
        paid=event.type == "invoice.paid",
        invoice_id=str(event.object.get("id", "")),
        at=event.created,
    )


Handler = Callable[[WebhookEvent, BillingAccount, Mapping[str, str]], bool]


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


def handle_event(event: WebhookEvent, prices: Mapping[str, str]) -> WebhookResult:
    """Apply a verified event once; the caller commits."""
    row = _record(event)
    if row is None:
        known = db.session.scalar(
            select(StripeEvent).where(StripeEvent.stripe_event_id == event.id)
        )
        return WebhookResult(event.id, event.type, DUPLICATE, known.tenant_id if known else None)
    handler = _handler(event.type)
    if handler is None:
        return WebhookResult(event.id, event.type, IGNORED, None)
    account = accounts.account_by_customer(_customer_of(event))
    if account is None:
        row.outcome = UNMATCHED
        return WebhookResult(event.id, event.type, UNMATCHED, None)
    row.tenant_id = account.tenant_id
    row.outcome = APPLIED if handler(event, account, prices) else STALE
    return WebhookResult(event.id, event.type, row.outcome, account.tenant_id)
