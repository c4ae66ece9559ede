"""``msp billing status|sync|subscribe|link``: billing from the command line (each commits once)."""

from __future__ import annotations

import json
from typing import Any

import click
from flask.cli import with_appcontext

from msp.billing.service import BillingOverview


def _row(view: BillingOverview, slug: str) -> dict[str, Any]:
    ent = view.entitlements
    return {
        "tenant": slug,
        "tenant_id": view.tenant_id,
        "status": view.status,
        "plan": view.plan,
        "standing": str(view.standing),
        "delinquent": view.delinquent,
        "current_period_end": (
            view.current_period_end.isoformat() if view.current_period_end else None
        ),
        "stripe_customer_id": view.stripe_customer_id,
        "stripe_subscription_id": view.stripe_subscription_id,
        "max_domains": ent.max_domains,
        "domains": view.usage.domains,
        "messages_month_to_date": view.usage.messages,
    }


def _tenant(slug: str) -> Any:
    from msp.tenancy.service import tenant_by_slug

    tenant = tenant_by_slug(slug)
    if tenant is None:
        raise click.ClickException(f"no tenant {slug!r}")
    return tenant


def _commit() -> None:
    from msp.extensions import db

    db.session.commit()


@click.group("billing")
def billing() -> None:
    """Stripe billing: status, sync from Stripe, subscribe or link a tenant."""


@billing.command("status")
@click.option("--tenant", "slug", help="only this tenant")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def status(slug: str | None, as_json: bool) -> None:
    """Each tenant's billing status, standing and usage."""
    from sqlalchemy import select

    from msp.billing import service
    from msp.db import utcnow
    from msp.extensions import db
    from msp.tenancy.models import Tenant

    settings = service.current_settings()
    tenants = (
        [_tenant(slug)] if slug else list(db.session.scalars(select(Tenant).order_by(Tenant.slug)))
    )
    rows = [_row(service.overview(t, settings, utcnow().date()), t.slug) for t in tenants]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(
            f"{row['tenant']}  {row['status']}  {row['plan'] or '-'}  {row['standing']}"
            f"  domains {row['domains']}/{row['max_domains'] or 'unlimited'}"
        )


@billing.command("sync")
@click.option("--tenant", "slug", required=True, help="tenant slug")
@with_appcontext
def sync(slug: str) -> None:
    """Refresh a tenant's subscription from Stripe."""
    from msp.billing import service
    from msp.errors import AppError

    tenant = _tenant(slug)
    try:
        account = service.sync_account(tenant.id, service.current_settings())
    except AppError as exc:
        raise click.ClickException(exc.detail) from exc
    _commit()
    if account is None:
        click.echo(f"{slug}: no subscription to sync")
    else:
        click.echo(f"{slug}: {account.status} ({account.plan or account.price_id})")


@billing.command("subscribe")
@click.option("--tenant", "slug", required=True, help="tenant slug")
@click.option("--plan", required=True, help="a plan of MSP_STRIPE_PRICES")
@with_appcontext
def subscribe(slug: str, plan: str) -> None:
    """Create the Stripe customer (once) and subscribe the tenant to PLAN."""
    from msp.billing import service
    from msp.errors import AppError

    tenant = _tenant(slug)
    try:
        account = service.subscribe(tenant, plan, service.current_settings())
    except AppError as exc:
        raise click.ClickException(exc.detail) from exc
    _commit()
    click.echo(f"{slug}: {account.stripe_subscription_id} {account.status}")


@billing.command("link")
@click.option("--tenant", "slug", required=True, help="tenant slug")
@click.option("--customer", required=True, help="existing Stripe customer id (cus_...)")
@click.option("--subscription", help="its subscription id (sub_...); then synced from Stripe")
@with_appcontext
def link(slug: str, customer: str, subscription: str | None) -> None:
    """Attach an existing Stripe customer (and subscription) to a tenant."""
    from msp.billing import service
    from msp.errors import AppError

    tenant = _tenant(slug)
    try:
        service.link_customer(tenant, customer, subscription)
        account = service.sync_account(tenant.id, service.current_settings())
    except AppError as exc:
        raise click.ClickException(exc.detail) from exc
    _commit()
    status = account.status if account else "no subscription"
    click.echo(f"{slug}: linked to {customer} ({status})")


COMMANDS: list[click.Command] = [billing]
