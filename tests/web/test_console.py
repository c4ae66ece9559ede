"""The console's shell, portfolio and tenant dashboard through the Flask test client, as each
kind of user: HTML error pages, navigation, the attention queue, filters and paging, a query
count that does not grow with the number of tenants, and the read-only "view as client"."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Flask
from flask.testing import FlaskClient

from msp.auth.models import AuditLog
from msp.auth.users import add_membership
from msp.db import utcnow
from msp.dns.models import PostureFinding
from msp.domains.models import Domain
from msp.extensions import db
from msp.policy.models import PolicyChange, PolicyPlan
from msp.reports.models import Sender
from msp.reports.sink import add_daily_rows
from msp.reports.summaries import recount_unknown
from msp.tenancy.models import Tenant
from tests.factories import make_domain, make_tenant, make_user
from tests.web.support import count_statements, csrf_token, login, uncached


def _traffic(domain: Domain, day: date, messages: int, passed: bool, ip: str = "192.0.2.1") -> None:
    # Through the ingestion's roll-up writer, so the per-domain summaries the pages read agree.
    row = (domain.tenant_id, domain.id, day, ip, domain.name, "none", passed, False, messages)
    add_daily_rows([row])


def _finding(domain: Domain, severity: str = "error", message: str = "SPF record missing") -> None:
    db.session.add(
        PostureFinding(
            tenant_id=domain.tenant_id,
            domain_id=domain.id,
            key=f"k{severity}",
            code="spf.missing",
            severity=severity,
            message=message,
            remediation="",
            detail="",
        )
    )


def _client_with_data(name: str, today: date) -> tuple[Tenant, Domain]:
    tenant = make_tenant(name=name)
    domain = make_domain(tenant)
    make_domain(tenant)
    db.session.add(
        PolicyPlan(
            tenant_id=tenant.id,
            domain_id=domain.id,
            stage="monitor",
            readiness=40,
            last_evaluation={},
        )
    )
    _traffic(domain, today - timedelta(days=1), 90, True)
    _traffic(domain, today - timedelta(days=1), 10, False, "198.51.100.9")
    _finding(domain)
    db.session.flush()
    return tenant, domain


def test_unknown_web_page_is_html_and_unknown_api_path_stays_problem_json(
    client: FlaskClient,
) -> None:
    page = client.get("/no-such-page")
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "Page not found" in page.get_data(True) and 'class="skip-link"' in page.get_data(True)
    api = client.get("/api/v1/no-such-resource")
    assert api.status_code == 404 and api.mimetype == "application/problem+json"


def test_csrf_failure_on_a_web_form_is_an_html_page(client: FlaskClient) -> None:
    login(client, make_user("msp_admin").email)
    response = client.post("/logout", data={})
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert "The form had expired" in response.get_data(True)


def test_another_tenants_page_is_an_html_404_for_a_client(client: FlaskClient) -> None:
    own, other = make_tenant(), make_tenant()
    login(client, make_user("tenant_admin", own).email)
    response = client.get(f"/tenants/{other.id}")
    assert response.status_code == 404 and "Page not found" in response.get_data(True)


def test_portfolio_shows_attention_queue_and_tenant_lines(client: FlaskClient) -> None:
    today = utcnow().date()
    tenant, domain = _client_with_data("Acme Dental", today)
    quiet = make_domain(tenant, "quiet.acme.example")
    _traffic(quiet, today - timedelta(days=9), 5, True)
    _traffic(domain, today - timedelta(days=2), 25, False, "203.0.113.5")
    _traffic(domain, today - timedelta(days=2), 30, False, "198.51.100.50")
    db.session.add(
        Sender(
            tenant_id=tenant.id,
            domain_id=domain.id,
            key="ip:198.51.100.50",
            name="198.51.100.50",
            status="approved",
        )
    )
    db.session.flush()
    recount_unknown(tenant.id, domain.id)  # what a verdict given through the service does
    db.session.add(
        PolicyChange(
            tenant_id=tenant.id,
            domain_id=domain.id,
            kind="escalate",
            from_stage="monitor",
            to_stage="quarantine_test",
        )
    )
    db.session.flush()
    login(client, make_user("msp_admin").email)
    page = client.get("/dashboard").get_data(True)
    attention = page[page.index('id="attention"') : page.index('id="clients"')]
    assert "waiting for your approval" in attention and domain.name in attention
    assert "1 broken record: SPF record missing" in attention
    assert "No reports since" in attention and "quiet.acme.example" in attention
    # Per domain: 90 + 10 + 25 messages from senders without a verdict (not the approved
    # sender's 30; the quiet domain's 5 are below the threshold).
    assert "125 messages in 14 days came from senders nobody has approved" in attention
    assert attention.count("came from senders nobody has approved") == 1
    row = page[page.index("Acme Dental</a>") :]
    row = row[: row.index("</tr>")]
    # 3 domains: one monitored, two not evaluated yet; the stage counts add up to 3
    assert "monitoring (p=none): 1" in row and "not evaluated yet: 2" in row
    assert "59.4%" in row, "95 of 160 messages passed"


def test_portfolio_filters_sort_and_pages(client: FlaskClient) -> None:
    today = utcnow().date()
    _client_with_data("Broken Co", today)
    clean = make_tenant(name="Clean Co", plan="premium")
    make_domain(clean)
    login(client, make_user("msp_admin").email)

    def clients(query: str) -> str:
        page = client.get(f"/dashboard?{query}").get_data(True)
        return page[page.index('id="clients"') :]

    only_errors = clients("severity=error")
    assert "Broken Co" in only_errors and "Clean Co" not in only_errors
    premium = clients("plan=premium")
    assert "Clean Co" in premium and "Broken Co" not in premium
    searched = clients("q=clean")
    assert "Clean Co" in searched and "Broken Co" not in searched
    by_problems = clients("sort=problems&dir=desc")
    assert by_problems.index("Broken Co") < by_problems.index("Clean Co")
    for n in range(26):
        make_tenant(name=f"Zeta {n:02d}")
    first = clients("per_page=25")
    assert "Page 1 of 2" in first and "Zeta 25" not in first and "Next page" in first
    second = clients("per_page=25&page=2")
    assert "Zeta 25" in second and "Broken Co" not in second


def test_portfolio_query_count_does_not_grow_with_tenants(app: Flask, client: FlaskClient) -> None:
    today = utcnow().date()
    for n in range(3):
        _client_with_data(f"Small {n}", today)
    login(client, make_user("msp_admin").email)
    client.get("/dashboard")  # warm-up: first-request work is not the page's
    with uncached(app), count_statements(app) as few:
        assert client.get("/dashboard").status_code == 200
    for n in range(20):
        _client_with_data(f"More {n}", today)
    with uncached(app), count_statements(app) as many:
        page = client.get("/dashboard")
    assert page.status_code == 200 and "More 19" in page.get_data(True)
    assert len(many) == len(few), (len(few), len(many))
    assert len(many) <= 25


def test_restricted_staff_see_only_assigned_clients(client: FlaskClient) -> None:
    mine, theirs = make_tenant(name="Assigned Ltd"), make_tenant(name="Elsewhere Ltd")
    _finding(make_domain(theirs))
    staff = make_user("msp_staff", restricted=True)
    add_membership(mine.id, staff, "staff")
    login(client, staff.email)
    page = client.get("/dashboard").get_data(True)
    assert "Assigned Ltd" in page and "Elsewhere Ltd" not in page
    assert "Add a client" not in page, "restricted staff cannot create clients"
    assert client.get("/onboard").status_code == 403
    assert client.get(f"/tenants/{theirs.id}").status_code == 404


def test_tenant_dashboard_next_steps_chart_and_freshness(client: FlaskClient) -> None:
    today = utcnow().date()
    tenant, domain = _client_with_data("Chart Co", today)
    plan = db.session.query(PolicyPlan).filter_by(domain_id=domain.id).one()
    plan.last_evaluation = {
        "next_stage": "quarantine_test",
        "gates": [
            {
                "gate": "soak",
                "status": "blocked",
                "reason": "3 of 14 days",
                "evidence": {"needed": 14},
            },
        ],
    }
    plan.stage_since = utcnow() - timedelta(days=3)
    db.session.flush()
    login(client, make_user("tenant_viewer", tenant).email)
    page = client.get(f"/tenants/{tenant.id}").get_data(True)
    expected = (plan.stage_since + timedelta(days=14)).strftime("%d %b %Y")
    assert f"after the waiting time in this stage <strong>(expected {expected})" in page
    assert "Not evaluated yet" in page
    assert "<svg" in page and 'role="img"' in page and 'id="compliance-table"' in page
    assert "90.0%</span> of 100 messages" in page
    assert tenant.report_token in page
    assert "MSP_REPORTS_DOMAIN is not set" in page
    assert "View Chart Co as the client" not in page, "a client's user has no staff actions"


def test_view_as_client_is_audited_read_only_and_refuses_writes(client: FlaskClient) -> None:
    tenant, domain = _client_with_data("Viewed Co", utcnow().date())
    login(client, make_user("msp_admin").email)
    token = csrf_token(client, f"/tenants/{tenant.id}")
    response = client.post(f"/tenants/{tenant.id}/view-as", data={"csrf_token": token})
    assert response.status_code == 302
    assert db.session.query(AuditLog).filter_by(action="tenant.view_as").count() == 1
    page = client.get(f"/tenants/{tenant.id}").get_data(True)
    assert "Leave the client view" in page and "View Viewed Co as the client" not in page
    assert "Portfolio</a>" not in page
    assert client.get("/dashboard").location.endswith(f"/tenants/{tenant.id}")
    forged = client.post(
        f"/domains/{domain.id}/senders",
        data={"key": "ip:192.0.2.1", "status": "approved", "csrf_token": token},
    )
    assert forged.status_code == 403
    client.post("/view-as/stop", data={"csrf_token": token})
    assert "Leave the client view" not in client.get(f"/tenants/{tenant.id}").get_data(True)


def test_navigation_names_only_registered_pages(app: Flask, client: FlaskClient) -> None:
    login(client, make_user("msp_admin").email)
    page = client.get("/dashboard").get_data(True)
    nav = page[page.index('<nav aria-label="Main">') : page.index("</nav>")]
    assert "Portfolio" in nav
    for endpoint, label in (("web.reports", "Reports"), ("web.account", "Account")):
        assert (label in nav) == (endpoint in app.view_functions)


def test_every_sort_and_filter_renders(client: FlaskClient) -> None:
    _client_with_data("Sorted Co", utcnow().date())
    login(client, make_user("msp_admin").email)
    for sort in ("name", "domains", "pass_rate", "unknown", "problems", "last_report"):
        for direction in ("asc", "desc"):
            response = client.get(f"/dashboard?sort={sort}&dir={direction}&stage=not+evaluated")
            assert response.status_code == 200 and "Sorted Co" in response.get_data(True)
    odd = client.get("/dashboard?sort=drop+table&page=-1&per_page=9999999&staff=x&stage=zzz")
    assert odd.status_code == 200


def test_signed_out_pages_send_to_login_and_forbidden_is_an_html_page(
    client: FlaskClient,
) -> None:
    for path in ("/dashboard", "/settings", "/onboard", "/settings/audit"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.location, path
    tenant = make_tenant()
    login(client, make_user("tenant_viewer", tenant).email)
    response = client.get("/onboard")
    assert response.status_code == 403 and response.mimetype == "text/html"
    assert "Not allowed" in response.get_data(True)
