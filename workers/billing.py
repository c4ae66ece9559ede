"""Billing jobs: sync a tenant's subscription from Stripe, report a day's metered usage, and
the daily sweeps that fan them out (one job per tenant, deterministic job ids)."""

from __future__ import annotations

from datetime import date

from msp.billing import service
from msp.db import utcnow
from msp.queues import DEFAULT, enqueue
from workers.runtime import CronEntry, job


@job
def sync_account(tenant_id: int) -> str:
    """Refresh one tenant's billing account from Stripe."""
    account = service.sync_account(tenant_id, service.current_settings())
    return account.status if account else "nothing to sync"


@job
def report_usage(tenant_id: int, day: str) -> int | None:
    """Send one tenant's meter event for ``day`` (ISO date) once; the quantity sent."""
    row = service.report_usage(tenant_id, date.fromisoformat(day), service.current_settings())
    return row.quantity if row else None


@job
def sweep_sync() -> int:
    """Enqueue a sync of every subscribed tenant (daily)."""
    if not service.current_settings().enabled:
        return 0
    today = utcnow().date().isoformat()
    tenant_ids = service.tenants_to_sync()
    for tenant_id in tenant_ids:
        enqueue(
            "workers.billing.sync_account",
            queue=DEFAULT,
            job_id=f"billing-sync-{tenant_id}-{today}",
            tenant_id=tenant_id,
        )
    return len(tenant_ids)


@job
def sweep_usage() -> int:
    """Enqueue yesterday's usage report of every metered tenant (daily)."""
    settings = service.current_settings()
    if not (settings.enabled and settings.meter_event):
        return 0
    day = service.yesterday(utcnow()).isoformat()
    tenant_ids = service.tenants_to_meter()
    for tenant_id in tenant_ids:
        enqueue(
            "workers.billing.report_usage",
            queue=DEFAULT,
            job_id=f"billing-usage-{tenant_id}-{day}",
            tenant_id=tenant_id,
            day=day,
        )
    return len(tenant_ids)


CRON: list[CronEntry] = [
    CronEntry(sweep_usage, DEFAULT, cron="15 1 * * *"),
    CronEntry(sweep_sync, DEFAULT, cron="30 3 * * *"),
]
