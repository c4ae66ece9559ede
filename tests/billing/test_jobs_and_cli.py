"""Billing jobs on a real RQ worker (sync sweep, daily usage), the quota check, usage, the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import func, select

from msp.billing import service, usage
from msp.billing.cli import billing
from msp.billing.models import BillingAccount, UsageReport
from msp.db import utcnow
from msp.errors import Conflict
from msp.extensions import db
from msp.queues import DEFAULT
from msp.tenancy.models import Tenant
from tests.billing.conftest import METER_EVENT
from tests.billing.stripe_standin import StripeStandin
from tests.factories import make_domain, make_tenant
from workers import billing as jobs


def _subscribed(plan: str = "standard", slug: str | None = None) -> Tenant:
    tenant = make_tenant(slug)
    service.subscribe(tenant, plan, service.current_settings())
    db.session.commit()
    return tenant


def _account(tenant: Tenant) -> BillingAccount:
    db.session.expire_all()
    return db.session.scalars(
        select(BillingAccount).where(BillingAccount.tenant_id == tenant.id)
    ).one()


def _queue(connection: Redis) -> Queue:
    return Queue(DEFAULT, connection=connection, serializer=JSONSerializer)


def test_sync_sweep_fans_out_and_worker_refreshes_from_stripe(
    db_session: Any, stripe_standin: StripeStandin, redis_conn: Redis, run_jobs: Callable[..., Any]
) -> None:
    a, b = _subscribed(), _subscribed("pro")
    make_tenant()  # no subscription: not swept
    for sub in stripe_standin.state.subscriptions.values():
        if sub["customer"] == _account(a).stripe_customer_id:
            sub["status"] = "past_due"
    assert jobs.sweep_sync() == 2
    assert jobs.sweep_sync() == 2  # same job ids while pending: nothing doubled
    assert sorted(_queue(redis_conn).job_ids) == [
        f"billing-sync-{a.id}-{utcnow().date()}",
        f"billing-sync-{b.id}-{utcnow().date()}",
    ]
    run_jobs()
    assert _queue(redis_conn).count == 0
    assert (_account(a).status, _account(b).status) == ("past_due", "active")
    assert _account(a).last_synced_at is not None
    assert _account(b).plan == "pro"


def test_usage_sweep_reports_each_tenant_once_a_day(
    db_session: Any, stripe_standin: StripeStandin, run_jobs: Callable[..., Any]
) -> None:
    tenant = _subscribed()
    for _ in range(3):
        make_domain(tenant)
    db.session.commit()
    assert jobs.sweep_usage() == 1
    run_jobs()
    day = service.yesterday(utcnow())
    [sent] = stripe_standin.state.meter_events
    assert sent["event_name"] == METER_EVENT
    assert sent["payload"] == {
        "stripe_customer_id": _account(tenant).stripe_customer_id,
        "value": "3",
    }
    assert sent["identifier"] == f"msp-{tenant.id}-{day.isoformat()}-domains"
    assert jobs.report_usage(tenant_id=tenant.id, day=day.isoformat()) == 3  # already done
    assert len(stripe_standin.state.meter_events) == 1
    assert (
        db.session.scalar(
            select(func.count()).select_from(UsageReport).where(UsageReport.tenant_id == tenant.id)
        )
        == 1
    )


def test_usage_is_not_reported_without_a_meter(
    app: Flask, db_session: Any, stripe_standin: StripeStandin
) -> None:
    tenant = _subscribed()
    settings = service.BillingSettings.from_config({**app.config, "MSP_STRIPE_METER_EVENT": None})
    assert service.report_usage(tenant.id, date.today(), settings) is None
    assert stripe_standin.state.meter_events == []


def test_quota_counts_domains_against_the_plan(app: Flask, db_session: Any) -> None:
    tenant = make_tenant(plan="trial")
    settings = service.current_settings()
    for _ in range(3):
        service.check_domain_quota(tenant, settings)
        make_domain(tenant)
    with pytest.raises(Conflict, match="allows 3 domains"):
        service.check_domain_quota(tenant, settings)
    off = service.BillingSettings.from_config({**app.config, "MSP_STRIPE_API_KEY": None})
    service.check_domain_quota(tenant, off)  # a deployment that does not bill has no limits


def test_quota_follows_the_subscribed_plan(db_session: Any) -> None:
    tenant = _subscribed("pro")
    for _ in range(30):
        make_domain(tenant)
    service.check_domain_quota(tenant, service.current_settings())


def test_messages_usage_reads_daily_rollups(db_session: Any) -> None:
    from msp.reports.models import ReportDaily

    tenant, other = make_tenant(), make_tenant()
    today = date(2026, 11, 20)
    for t, day, messages in [
        (tenant, today, 40),
        (tenant, today - timedelta(days=1), 2),
        (tenant, today - timedelta(days=30), 1000),
        (other, today, 7),
    ]:
        domain = make_domain(t)
        db.session.add(
            ReportDaily(
                tenant_id=t.id,
                domain_id=domain.id,
                day=day,
                source_ip="192.0.2.1",
                header_from=domain.name,
                disposition="none",
                spf_aligned=True,
                dkim_aligned=True,
                messages=messages,
            )
        )
    db.session.flush()
    assert usage.messages_reported(tenant.id, today - timedelta(days=7), today) == 42
    assert usage.usage_for(tenant.id, today, today).messages == 40
    assert usage.usage_for(tenant.id, today, today).domains == 3


def test_cli_status_json_and_sync(
    app: Flask, db_session: Any, stripe_standin: StripeStandin
) -> None:
    tenant = _subscribed(slug="cli-acme")
    runner = app.test_cli_runner()
    result = runner.invoke(billing, ["status", "--tenant", "cli-acme", "--json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert (row["tenant"], row["status"], row["plan"], row["standing"]) == (
        "cli-acme",
        "active",
        "standard",
        "good",
    )
    for sub in stripe_standin.state.subscriptions.values():
        sub["status"] = "unpaid"
    result = runner.invoke(billing, ["sync", "--tenant", "cli-acme"])
    assert result.exit_code == 0, result.output
    assert "unpaid" in result.output
    assert _account(tenant).status == "unpaid"
    result = runner.invoke(billing, ["sync", "--tenant", "no-such-tenant"])
    assert result.exit_code != 0


def test_cli_subscribe_reports_stripe_errors(
    app: Flask, db_session: Any, stripe_standin: StripeStandin
) -> None:
    make_tenant("cli-broke")
    stripe_standin.state.failures.append(
        (500, {"error": {"type": "api_error", "message": "stripe is down"}})
    )
    result = app.test_cli_runner().invoke(
        billing, ["subscribe", "--tenant", "cli-broke", "--plan", "standard"]
    )
    assert result.exit_code == 1
    assert "Stripe" in result.output


def test_cron_entries_are_daily_sweeps() -> None:
    assert {(e.func.__name__, e.cron) for e in jobs.CRON} == {
        ("sweep_usage", "15 1 * * *"),
        ("sweep_sync", "30 3 * * *"),
    }


def test_usage_metered_by_messages_sends_the_days_rollup(
    app: Flask, db_session: Any, stripe_standin: StripeStandin
) -> None:
    from msp.reports.models import ReportDaily

    tenant = _subscribed()
    domain = make_domain(tenant)
    day = date(2026, 11, 27)
    for ip, messages in (("192.0.2.1", 1200), ("192.0.2.2", 34)):
        db.session.add(
            ReportDaily(
                tenant_id=tenant.id,
                domain_id=domain.id,
                day=day,
                source_ip=ip,
                header_from=domain.name,
                disposition="none",
                spf_aligned=True,
                dkim_aligned=False,
                messages=messages,
            )
        )
    db.session.flush()
    settings = service.BillingSettings.from_config(
        {**app.config, "MSP_STRIPE_METER_METRIC": "messages"}
    )
    row = service.report_usage(tenant.id, day, settings)
    assert row is not None
    assert (row.metric, row.quantity) == ("messages", 1234)
    assert stripe_standin.state.meter_events[0]["payload"]["value"] == "1234"


def test_cli_links_an_existing_stripe_customer_and_syncs(
    app: Flask, db_session: Any, stripe_standin: StripeStandin
) -> None:
    elsewhere = _subscribed(slug="billed-before")
    account = _account(elsewhere)
    customer, subscription = account.stripe_customer_id, account.stripe_subscription_id
    db.session.delete(account)  # as if the customer had been billed outside the platform
    make_tenant("moved-in")
    db.session.flush()
    result = app.test_cli_runner().invoke(
        billing,
        [
            "link",
            "--tenant",
            "moved-in",
            "--customer",
            str(customer),
            "--subscription",
            str(subscription),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "active" in result.output
    moved = db.session.scalars(select(Tenant).where(Tenant.slug == "moved-in")).one()
    linked = _account(moved)
    assert (linked.stripe_customer_id, linked.status, linked.plan) == (
        customer,
        "active",
        "standard",
    )
    other = make_tenant("someone-else")
    with pytest.raises(Conflict):
        service.link_customer(other, str(customer))


def test_billing_commands_and_sweeps_are_registered(app: Flask, db_session: Any) -> None:
    from msp.cli import cli
    from workers.schedule import entries

    result = app.test_cli_runner().invoke(cli, ["billing", "status", "--json"])
    assert result.exit_code == 0, result.output
    assert isinstance(json.loads(result.output), list)
    names = {f"{e.func.__module__}.{e.func.__name__}" for e in entries()}
    assert {"workers.billing.sweep_usage", "workers.billing.sweep_sync"} <= names
