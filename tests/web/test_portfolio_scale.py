"""The portfolio (with its attention queue) and the tenant page issue the same SQL statements
whatever the number of tenants or domains: no query per row. Counted with an SQLAlchemy event
listener for 5 and for 50 tenants (every sort of the portfolio), and for a tenant with 2 and
with 20 domains, each with traffic, posture runs, findings, plans and reports."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from msp.db import utcnow
from msp.dns.models import PostureFinding, PostureRun
from msp.domains.models import Domain
from msp.extensions import db
from msp.policy.models import PolicyPlan
from msp.reports.models import Report
from msp.reports.sink import add_daily_rows
from msp.tenancy.models import Tenant
from msp.web.portfolio import SORTS
from tests.factories import make_domain, make_tenant, make_user
from tests.web.support import count_statements, login, uncached


def _domain_with_data(tenant: Tenant, now: datetime, n: int) -> Domain:
    domain = make_domain(tenant)
    today = now.date()
    # Unknown senders above the threshold on some, reports that stopped on others.
    last = today - timedelta(days=1 if n % 3 else 9)
    add_daily_rows(
        [
            (tenant.id, domain.id, last, "192.0.2.1", domain.name, "none", True, False, 80),
            (tenant.id, domain.id, last, "198.51.100.7", domain.name, "none", False, False, 30),
        ]
    )
    db.session.add(
        Report(
            tenant_id=tenant.id,
            domain_id=domain.id,
            kind="aggregate",
            org_name="receiver.test",
            external_id=f"r-{domain.id}",
            policy_domain=domain.name,
            begin=datetime.combine(last, time(), tzinfo=UTC),
            end=datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC),
            policy={},
        )
    )
    for age in (3, 2, 1):
        db.session.add(
            PostureRun(
                tenant_id=tenant.id,
                domain_id=domain.id,
                checked_at=now - timedelta(days=age),
                grade="BCD"[age - 1],
                spf_status="valid",
                dmarc_status="valid",
                result={},
            )
        )
    db.session.add(
        PostureFinding(
            tenant_id=tenant.id,
            domain_id=domain.id,
            key="spf",
            code="spf.missing",
            severity="error" if n % 2 else "warning",
            message="SPF record missing",
            remediation="",
            detail="",
        )
    )
    if n % 2:
        db.session.add(
            PolicyPlan(
                tenant_id=tenant.id,
                domain_id=domain.id,
                stage="monitor",
                readiness=40,
                last_evaluation={},
            )
        )
    return domain


def _tenants(count: int, now: datetime, domains: int = 2) -> list[Tenant]:
    tenants = []
    for _ in range(count):
        tenant = make_tenant()
        for n in range(domains):
            _domain_with_data(tenant, now, n)
        tenants.append(tenant)
    db.session.flush()
    return tenants


def _statements(app: Flask, client: FlaskClient, url: str) -> list[str]:
    client.get(url)  # warm-up: first-request work is not the page's
    with uncached(app), count_statements(app) as statements:
        response = client.get(url)
    assert response.status_code == 200, url
    return statements


def test_the_portfolio_costs_the_same_statements_for_5_and_50_tenants(
    app: Flask, client: FlaskClient
) -> None:
    now = utcnow()
    _tenants(5, now)
    login(client, make_user("msp_admin").email)
    urls = [f"/dashboard?sort={sort}&dir=desc" for sort in SORTS]
    few = [len(_statements(app, client, url)) for url in urls]
    _tenants(45, now)
    many = [len(_statements(app, client, url)) for url in urls]
    assert many == few, dict(zip(SORTS, zip(few, many, strict=True), strict=True))
    page = client.get("/dashboard").get_data(True)
    # The attention queue found every kind of report trouble among the 50 tenants.
    assert "came from senders nobody has approved" in page and "No reports since" in page
    assert "broken record" in page


def test_the_tenant_page_costs_the_same_statements_for_2_and_20_domains(
    app: Flask, client: FlaskClient
) -> None:
    now = utcnow()
    [small] = _tenants(1, now, domains=2)
    [large] = _tenants(1, now, domains=20)
    login(client, make_user("msp_admin").email)
    few = _statements(app, client, f"/tenants/{small.id}")
    many = _statements(app, client, f"/tenants/{large.id}")
    assert len(many) == len(few), (len(few), len(many))
    page = client.get(f"/tenants/{large.id}").get_data(True)
    assert page.count("covering mail up to") == 20  # each domain's freshness, from one query
    yesterday = (now.date() - timedelta(days=1)).strftime("%d %b")
    assert f"covering mail up to {yesterday}" in page
    assert _latest_grades(large) == {"B"}, "the latest run of each domain, not an older one"


def _latest_grades(tenant: Tenant) -> set[str]:
    from msp.web.tenant_dashboard import tenant_dashboard

    board = tenant_dashboard(tenant, date.today())
    return {line.grade or "" for line in board.lines}


def test_the_attention_thresholds_are_deployment_settings(app: Flask, db_session: Any) -> None:
    from msp.auth.principal import Principal
    from msp.config import load_config
    from msp.errors import ConfigError
    from msp.web.attention import attention_queue

    now = utcnow()
    _tenants(1, now, domains=3)  # 110 unknown messages per domain; one domain silent 9 days
    staff = Principal("user", 0, "staff", msp_role="msp_admin", all_tenants=True)
    keys = ("MSP_REPORTS_ATTENTION_UNKNOWN_MESSAGES", "MSP_REPORTS_ATTENTION_STOPPED_DAYS")
    saved = {k: app.config[k] for k in keys}
    try:
        counts = attention_queue(staff, now)[1]
        assert (counts["unknown_sender"], counts["reports_stopped"]) == (3, 1)
        app.config.update(dict(zip(keys, (111, 10), strict=True)))
        counts = attention_queue(staff, now)[1]
        assert (counts["unknown_sender"], counts["reports_stopped"]) == (0, 0)
    finally:
        app.config.update(saved)
    with pytest.raises(ConfigError):
        load_config({"MSP_REPORTS_ATTENTION_UNKNOWN_DAYS": "0"})
