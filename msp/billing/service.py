"""Billing: Stripe customers and subscriptions for tenants, usage metering, webhook intake,
entitlement checks. Callers (API, CLI, jobs) pass :class:`BillingSettings`; nothing commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from msp.auth.audit import audit
from msp.billing import accounts, entitlements, usage, webhooks
from msp.billing.entitlements import Entitlements, Standing
from msp.billing.errors import BillingNotConfigured
from msp.billing.gateway import GatewayConfig, StripeGateway
from msp.billing.models import BillingAccount, UsageReport
from msp.db import utcnow
from msp.errors import Conflict, Forbidden, ValidationFailed
from msp.extensions import db
from msp.tenancy.models import Tenant


@dataclass(frozen=True)
class BillingSettings:
    gateway: GatewayConfig
    prices: Mapping[str, str] = field(default_factory=dict)
    meter_event: str | None = None
    meter_metric: str = "domains"

    @property
    def enabled(self) -> bool:
        return bool(self.gateway.api_key)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> BillingSettings:
        return cls(
            gateway=GatewayConfig.from_settings(config),
            prices=dict(config.get("MSP_STRIPE_PRICES") or {}),
            meter_event=config.get("MSP_STRIPE_METER_EVENT") or None,
            meter_metric=config.get("MSP_STRIPE_METER_METRIC") or "domains",
        )


def current_settings() -> BillingSettings:
    return BillingSettings.from_config(current_app.config)


@dataclass(frozen=True)
class BillingOverview:
    """What a tenant's billing looks like: subscription, standing, allowances, usage."""

    tenant_id: int
    billing_enabled: bool
    status: str
    plan: str | None
    standing: Standing
    delinquent: bool
    payment_failed_at: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    stripe_customer_id: str | None
    stripe_subscription_id: str | None
    entitlements: Entitlements
    usage: usage.Usage


# --- entitlements ----------------------------------------------------------------------------


def standing_of(account: BillingAccount | None) -> Standing:
    if account is None:
        return Standing.GOOD
    return entitlements.standing_of(account.status, account.delinquent)


def entitlements_of(tenant: Tenant, settings: BillingSettings) -> Entitlements:
    account = accounts.account_of(tenant.id)
    plan = (account.plan if account and account.plan else None) or tenant.plan
    return entitlements.entitlements_for(plan, billing_enabled=settings.enabled)


def check_domain_quota(tenant: Tenant, settings: BillingSettings | None = None) -> None:
    """Raise if ``tenant`` may not add one more domain (Forbidden: billing; Conflict: limit).

    Locks the tenant row (PostgreSQL) so two concurrent adds cannot both take the last slot.
    """
    settings = settings or current_settings()
    if not settings.enabled:
        return
    db.session.execute(select(Tenant.id).where(Tenant.id == tenant.id).with_for_update())
    decision = entitlements.decide_domain_quota(
        entitlements_of(tenant, settings),
        usage.domains_in_use(tenant.id),
        standing_of(accounts.account_of(tenant.id)),
    )
    if decision.reason == "standing":
        raise Forbidden(decision.detail)
    if not decision.allowed:
        raise Conflict(decision.detail, errors={"domains": [decision.detail]})


def overview(tenant: Tenant, settings: BillingSettings, today: date) -> BillingOverview:
    """The tenant's billing, with usage from the first of ``today``'s month to ``today``."""
    account = accounts.account_of(tenant.id)
    return BillingOverview(
        tenant_id=tenant.id,
        billing_enabled=settings.enabled,
        status=account.status if account else "none",
        plan=(account.plan if account else None) or tenant.plan,
        standing=standing_of(account),
        delinquent=bool(account and account.delinquent),
        payment_failed_at=account.payment_failed_at if account else None,
        current_period_end=account.current_period_end if account else None,
        cancel_at_period_end=bool(account and account.cancel_at_period_end),
        stripe_customer_id=account.stripe_customer_id if account else None,
        stripe_subscription_id=account.stripe_subscription_id if account else None,
        entitlements=entitlements_of(tenant, settings),
        usage=usage.usage_for(tenant.id, today.replace(day=1), today),
    )


# --- customers and subscriptions -------------------------------------------------------------


def ensure_customer(tenant: Tenant, gateway: StripeGateway) -> BillingAccount:
    """The tenant's account with a Stripe customer (created once; the key makes retries safe)."""
    account = accounts.ensure_account(tenant)
    if account.stripe_customer_id is None:
        customer = gateway.create_customer(
            name=tenant.name,
            metadata={"tenant_id": str(tenant.id), "tenant_slug": tenant.slug},
            idempotency_key=f"msp-tenant-{tenant.id}-customer",
        )
        account.stripe_customer_id = customer.id
        db.session.flush()
    return account


def portal_url(
    tenant: Tenant,
    return_url: str,
    settings: BillingSettings,
    gateway: StripeGateway | None = None,
) -> str:
    """A Stripe customer portal session for the tenant (its customer is created first if
    missing), audited: the address the person is sent to."""
    if not settings.enabled:
        raise BillingNotConfigured("billing through Stripe is not switched on here")
    gateway = gateway or StripeGateway(settings.gateway)
    account = ensure_customer(tenant, gateway)
    assert account.stripe_customer_id is not None
    url = gateway.create_portal_session(
        customer_id=account.stripe_customer_id, return_url=return_url
    )
    audit(
        "billing.portal",
        "tenant",
        tenant.id,
        tenant_id=tenant.id,
        changes={"customer": account.stripe_customer_id},
    )
    return url


def link_customer(
    tenant: Tenant, customer_id: str, subscription_id: str | None = None
) -> BillingAccount:
    """Attach an existing Stripe customer (and subscription) to a tenant, e.g. when an MSP
    moves customers it already bills in Stripe; a sync then fills in the subscription."""
    for column, value in (
        (BillingAccount.stripe_customer_id, customer_id),
        (BillingAccount.stripe_subscription_id, subscription_id),
    ):
        if value is None:
            continue
        owner = db.session.scalar(select(BillingAccount.tenant_id).where(column == value))
        if owner is not None and owner != tenant.id:
            raise Conflict(f"{value} belongs to another tenant")
    account = accounts.ensure_account(tenant)
    account.stripe_customer_id = customer_id
    if subscription_id is not None:
        account.stripe_subscription_id = subscription_id
    db.session.flush()
    audit(
        "billing.link",
        "tenant",
        tenant.id,
        tenant_id=tenant.id,
        changes={"customer": customer_id, "subscription": subscription_id},
    )
    return account


def subscribe(
    tenant: Tenant, plan: str, settings: BillingSettings, gateway: StripeGateway | None = None
) -> BillingAccount:
    """Start the subscription to ``plan``'s price; Conflict if one is live already."""
    price_id = settings.prices.get(plan)
    if price_id is None:
        known = ", ".join(sorted(settings.prices)) or "none configured"
        raise ValidationFailed(
            f"no Stripe price for plan {plan!r} (plans: {known})",
            errors={"plan": [f"unknown plan (plans: {known})"]},
        )
    gateway = gateway or StripeGateway(settings.gateway)
    account = accounts.ensure_account(tenant)
    if account.stripe_subscription_id and account.status not in accounts.ENDED_STATUSES:
        raise Conflict(
            f"tenant {tenant.slug} has a subscription already "
            f"(status {account.status}); change it in Stripe"
        )
    account = ensure_customer(tenant, gateway)
    assert account.stripe_customer_id is not None
    previous = account.stripe_subscription_id or "none"
    snap = gateway.create_subscription(
        customer_id=account.stripe_customer_id,
        price_id=price_id,
        metadata={"tenant_id": str(tenant.id), "plan": plan},
        idempotency_key=f"msp-tenant-{tenant.id}-subscribe-{price_id}-after-{previous}",
    )
    accounts.apply_subscription(account, snap, settings.prices, None)
    audit(
        "billing.subscribe",
        "tenant",
        tenant.id,
        tenant_id=tenant.id,
        changes={"plan": plan, "subscription": snap.id, "status": snap.status},
    )
    return account


def sync_account(
    tenant_id: int, settings: BillingSettings, gateway: StripeGateway | None = None
) -> BillingAccount | None:
    """Refresh the account from Stripe's subscription; None if there is nothing to sync."""
    account = accounts.account_of(tenant_id)
    if account is None or account.stripe_subscription_id is None:
        return None
    gateway = gateway or StripeGateway(settings.gateway)
    snap = gateway.retrieve_subscription(account.stripe_subscription_id)
    accounts.apply_subscription(account, snap, settings.prices, None)
    account.last_synced_at = utcnow()
    return account


def tenants_to_sync() -> list[int]:
    stmt = (
        select(BillingAccount.tenant_id)
        .where(BillingAccount.stripe_subscription_id.is_not(None))
        .order_by(BillingAccount.tenant_id)
    )
    return list(db.session.scalars(stmt))


# --- metered usage ---------------------------------------------------------------------------

METERED_STATUSES = ("active", "trialing", "past_due")


def tenants_to_meter() -> list[int]:
    stmt = (
        select(BillingAccount.tenant_id)
        .where(
            BillingAccount.stripe_customer_id.is_not(None),
            BillingAccount.status.in_(METERED_STATUSES),
        )
        .order_by(BillingAccount.tenant_id)
    )
    return list(db.session.scalars(stmt))


def _quantity(tenant_id: int, day: date, metric: str) -> int | None:
    if metric == "messages":
        return usage.messages_reported(tenant_id, day, day)
    return usage.domains_in_use(tenant_id)


def report_usage(
    tenant_id: int, day: date, settings: BillingSettings, gateway: StripeGateway | None = None
) -> UsageReport | None:
    """Send ``day``'s meter event once; None when metering is off or there is nothing to send.

    Stripe is called before the row is written: if the commit fails, the re-run sends the
    same ``identifier`` again, which Stripe's meter drops as a duplicate.
    """
    if not settings.meter_event:
        return None
    done = db.session.scalar(
        select(UsageReport).where(UsageReport.tenant_id == tenant_id, UsageReport.day == day)
    )
    if done is not None:
        return done
    account = accounts.account_of(tenant_id)
    quantity = _quantity(tenant_id, day, settings.meter_metric)
    if account is None or account.stripe_customer_id is None or quantity is None:
        return None
    identifier = f"msp-{tenant_id}-{day.isoformat()}-{settings.meter_metric}"
    at = min(datetime.combine(day, time(23, 59, 59), UTC), utcnow())
    gateway = gateway or StripeGateway(settings.gateway)
    gateway.report_meter_event(
        event_name=settings.meter_event,
        customer_id=account.stripe_customer_id,
        value=quantity,
        identifier=identifier,
        at=at,
    )
    row = UsageReport(
        tenant_id=tenant_id,
        day=day,
        metric=settings.meter_metric,
        quantity=quantity,
        identifier=identifier,
    )
    db.session.add(row)
    db.session.flush()
    return row


def yesterday(now: datetime) -> date:
    return (now.astimezone(UTC) - timedelta(days=1)).date()


# --- webhooks --------------------------------------------------------------------------------


def receive_webhook(
    payload: bytes,
    signature: str | None,
    settings: BillingSettings,
    gateway: StripeGateway | None = None,
) -> webhooks.WebhookResult:
    """Verify the raw body against ``Stripe-Signature`` and apply the event once."""
    gateway = gateway or StripeGateway(settings.gateway)
    event = gateway.verify_webhook(payload, signature)
    fetch = gateway.retrieve_subscription if gateway.enabled else None
    return webhooks.handle_event(event, settings.prices, fetch)
