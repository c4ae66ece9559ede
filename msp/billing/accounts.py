"""Billing accounts: finding them, and applying what Stripe says about a subscription.

Both the webhook handler and the sync job end here, so a state reached by either path is the
same. The tenant's ``plan`` follows a live subscription whose price is a known plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select

from msp.billing.gateway import SubscriptionSnapshot
from msp.billing.models import NO_SUBSCRIPTION, BillingAccount
from msp.events import emit_event
from msp.extensions import db
from msp.tenancy.models import Tenant

# Stripe subscription statuses after which the subscription never bills again.
ENDED_STATUSES = frozenset({"canceled", "incomplete_expired"})


def account_of(tenant_id: int) -> BillingAccount | None:
    return db.session.scalar(select(BillingAccount).where(BillingAccount.tenant_id == tenant_id))


def ensure_account(tenant: Tenant) -> BillingAccount:
    account = account_of(tenant.id)
    if account is None:
        account = BillingAccount(tenant_id=tenant.id, status=NO_SUBSCRIPTION)
        db.session.add(account)
        db.session.flush()
    return account


def account_by_customer(customer_id: str) -> BillingAccount | None:
    if not customer_id:
        return None
    return db.session.scalar(
        select(BillingAccount).where(BillingAccount.stripe_customer_id == customer_id)
    )


def plan_for_price(prices: Mapping[str, str], price_id: str | None) -> str | None:
    """The plan whose configured price is ``price_id`` (None for a price not configured)."""
    for plan, candidate in prices.items():
        if candidate == price_id:
            return plan
    return None


def replaces_current(account: BillingAccount, snap: SubscriptionSnapshot) -> bool:
    """Whether news of ``snap`` may change the account.

    News of another subscription than the current one counts only if it is live or the current
    one has ended: a late "deleted" of an old subscription never cancels a new one.
    """
    current = account.stripe_subscription_id
    if current is None or current == snap.id:
        return True
    return snap.status not in ENDED_STATUSES or account.status in ENDED_STATUSES


def _is_news(account: BillingAccount, snap: SubscriptionSnapshot, at: datetime) -> bool:
    """Whether an event of ``at`` about ``snap`` is newer than what the account holds: not
    older, about a subscription that may replace the current one, and not reviving an ended
    subscription (in Stripe an ended subscription never becomes live again, so such an event
    can only be older news delivered late, even within the same second)."""
    if account.subscription_event_at is not None and at < account.subscription_event_at:
        return False
    if not replaces_current(account, snap):
        return False
    revives = account.status in ENDED_STATUSES and snap.status not in ENDED_STATUSES
    return not (account.stripe_subscription_id == snap.id and revives)


def apply_subscription(
    account: BillingAccount,
    snap: SubscriptionSnapshot,
    prices: Mapping[str, str],
    at: datetime | None,
) -> bool:
    """Record ``snap`` on the account; False if it was older news.

    ``at`` is the Stripe event's time for webhooks. None means ``snap`` was just fetched from
    Stripe (subscribe, sync): it is the truth now, and it does not move the event clock, so a
    skewed local clock can never make later webhooks look old.
    """
    if at is not None and not _is_news(account, snap, at):
        return False
    previous = account.status
    account.stripe_subscription_id = snap.id
    account.status = snap.status
    account.price_id = snap.price_id
    account.plan = plan_for_price(prices, snap.price_id)
    account.current_period_end = snap.current_period_end
    account.cancel_at_period_end = snap.cancel_at_period_end
    if at is not None:
        account.subscription_event_at = at
    if account.plan and snap.status not in ENDED_STATUSES:
        tenant = db.session.get(Tenant, account.tenant_id)
        if tenant is not None and tenant.plan != account.plan:
            tenant.plan = account.plan
    if previous != snap.status:
        emit_event(
            account.tenant_id,
            "billing.status_changed",
            {"from": previous, "to": snap.status, "plan": account.plan},
            severity="warning" if snap.status in {"past_due", "unpaid"} else "info",
        )
    return True


def record_payment(account: BillingAccount, *, paid: bool, invoice_id: str, at: datetime) -> bool:
    """Record an invoice paid or failed (seen at ``at``); False if it was older news."""
    if account.invoice_event_at is not None and at < account.invoice_event_at:
        return False
    was_delinquent = account.delinquent
    account.invoice_event_at = at
    account.last_invoice_id = invoice_id or account.last_invoice_id
    account.delinquent = not paid
    account.payment_failed_at = None if paid else at
    if not paid:
        emit_event(
            account.tenant_id, "billing.payment_failed", {"invoice": invoice_id}, severity="warning"
        )
    elif was_delinquent:
        emit_event(account.tenant_id, "billing.payment_recovered", {"invoice": invoice_id})
    return True
