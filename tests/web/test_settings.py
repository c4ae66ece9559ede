"""Settings pages through the Flask test client: notification teams, endpoints (secrets never
shown back, a test message queued), rules; report mailboxes for MSP staff; billing; the audit
log with filters and tenant scoping. A viewer sees no write control and is refused a forged
POST; every write leaves an audit row."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from msp.auth.models import AuditLog
from msp.extensions import db
from msp.notifications.models import Delivery, NotificationEndpoint, NotificationTeam
from msp.reports.models import ReportMailbox
from msp.tenancy.models import Tenant
from tests.factories import make_tenant, make_user
from tests.web.support import csrf_token, login

SECRET = "s3cret-webhook-key-0123456789abcdef"


def _setup_endpoint(client: FlaskClient, tenant: Tenant) -> NotificationEndpoint:
    base = f"/tenants/{tenant.id}/settings/notifications"
    token = csrf_token(client, base)
    client.post(f"{base}/teams", data={"csrf_token": token, "name": "it_desk", "label": "IT desk"})
    team_id = db.session.execute(
        db.select(db.text("id"))
        .select_from(db.text("notification_team"))
        .where(db.text("name = 'it_desk'"))
    ).scalar_one()
    response = client.post(
        f"{base}/endpoints",
        data={
            "csrf_token": token,
            "team_id": str(team_id),
            "kind": "webhook",
            "name": "Desk hook",
            "webhook-url": "https://hooks.example.test/in",
            "webhook-secret": SECRET,
        },
    )
    assert response.status_code == 302
    return db.session.query(NotificationEndpoint).filter_by(tenant_id=tenant.id).one()


def test_tenant_admin_adds_team_and_endpoint_whose_secret_is_never_shown(
    client: FlaskClient,
) -> None:
    tenant = make_tenant()
    login(client, make_user("tenant_admin", tenant).email)
    endpoint = _setup_endpoint(client, tenant)
    assert endpoint.config == {"url": "https://hooks.example.test/in"}
    page = client.get(f"/tenants/{tenant.id}/settings/notifications").get_data(True)
    assert "Desk hook" in page and "hooks.example.test" in page
    assert SECRET not in page and "never shown" in page
    token = csrf_token(client, f"/tenants/{tenant.id}/settings/notifications")
    test = client.post(
        f"/tenants/{tenant.id}/settings/notifications/endpoints/{endpoint.id}/test",
        data={"csrf_token": token},
    )
    assert test.status_code == 302
    assert db.session.query(Delivery).filter_by(endpoint_id=endpoint.id).count() == 1
    actions = {a for (a,) in db.session.query(AuditLog.action).filter_by(tenant_id=tenant.id)}
    assert {"notification_team.create", "notification_endpoint.create"} <= actions


def test_rules_can_be_added_removed_and_restored(client: FlaskClient) -> None:
    tenant = make_tenant()
    login(client, make_user("tenant_admin", tenant).email)
    _setup_endpoint(client, tenant)
    base = f"/tenants/{tenant.id}/settings/notifications"
    token = csrf_token(client, base)
    page = client.get(base).get_data(True)
    assert "built-in rules are in force" in page and "Remove rule " not in page
    client.post(
        f"{base}/rules",
        data={
            "csrf_token": token,
            "action": "add",
            "team": "it_desk",
            "kinds": "dns.*",
            "code": "*",
            "min_severity": "error",
        },
    )
    page = client.get(base).get_data(True)
    own = page.count("Remove rule ")
    assert "own rules are in force" in page and own > 1, "the built-in rules plus the new one"
    assert f"Remove rule {own} (dns.* to it_desk)" in page
    bad = client.post(
        f"{base}/rules", data={"csrf_token": token, "action": "add", "team": "nobody", "kinds": "*"}
    )
    assert bad.status_code == 302
    assert "unknown team" in client.get(base).get_data(True)
    client.post(
        f"{base}/rules", data={"csrf_token": token, "action": "remove", "index": str(own - 1)}
    )
    page = client.get(base).get_data(True)
    assert page.count("Remove rule ") == own - 1 and "dns.* to it_desk" not in page
    client.post(f"{base}/rules", data={"csrf_token": token, "action": "defaults"})
    assert "built-in rules are in force" in client.get(base).get_data(True)


def test_viewer_sees_settings_without_controls_and_forged_posts_fail(
    client: FlaskClient,
) -> None:
    tenant = make_tenant()
    viewer = make_user("tenant_viewer", tenant)
    login(client, viewer.email)
    base = f"/tenants/{tenant.id}/settings/notifications"
    page = client.get(base).get_data(True)
    assert "Add a team" not in page and "Send a test" not in page and "Add the rule" not in page
    token = csrf_token(client, base)
    for path, data in (
        (f"{base}/teams", {"name": "x"}),
        (f"{base}/rules", {"action": "defaults"}),
        ("/settings/mailboxes", {"name": "m"}),
        (f"/tenants/{tenant.id}/settings/digest", {"hour": "3"}),
    ):
        assert client.post(path, data={**data, "csrf_token": token}).status_code == 403, path
    assert client.get("/settings/mailboxes").status_code == 403


def test_msp_admin_adds_a_report_mailbox_and_sees_its_error(client: FlaskClient) -> None:
    login(client, make_user("msp_admin").email)
    token = csrf_token(client, "/settings/mailboxes")
    response = client.post(
        "/settings/mailboxes",
        data={
            "csrf_token": token,
            "name": "dmarc inbox",
            "host": "imap.example.test",
            "port": "993",
            "tls": "tls",
            "username": "dmarc@example.test",
            "password": "pw-not-shown",
            "folder": "INBOX",
        },
    )
    assert response.status_code == 302
    box = db.session.query(ReportMailbox).filter_by(name="dmarc inbox").one()
    box.last_error, box.consecutive_failures = "authentication failed", 3
    db.session.flush()
    page = client.get("/settings/mailboxes").get_data(True)
    assert "imap.example.test:993" in page and "authentication failed" in page
    assert "pw-not-shown" not in page and "3 failures in a row" in page
    portfolio = client.get("/dashboard").get_data(True)
    assert "Report mailbox dmarc inbox fails (3 tries in a row)" in portfolio


def test_billing_page_shows_plan_limit_and_usage(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make_tenant(plan="trial")
    login(client, make_user("tenant_viewer", tenant).email)
    page = client.get(f"/tenants/{tenant.id}/settings/billing").get_data(True)
    assert "Billing through Stripe is not switched on" in page
    monkeypatch.setitem(app.config, "MSP_STRIPE_API_KEY", "sk_test_x")
    page = client.get(f"/tenants/{tenant.id}/settings/billing").get_data(True)
    assert "trial" in page and "0 of 3" in page and "not switched on" not in page


def test_audit_log_filters_and_scoping(client: FlaskClient) -> None:
    own = make_tenant(name="Own Audit")
    make_tenant(name="Other Audit")
    admin = make_user("tenant_admin", own)
    login(client, admin.email)
    page = client.get("/settings/audit").get_data(True)
    assert "Own Audit" in page and "Other Audit" not in page
    filtered = client.get("/settings/audit?action=membership.").get_data(True)
    assert "membership.create" in filtered and "tenant.create" not in filtered
    future = client.get("/settings/audit?since=2999-01-01").get_data(True)
    assert "No change matches." in future


def test_standard_teams_are_created_for_the_built_in_rules(client: FlaskClient) -> None:
    tenant = make_tenant()
    login(client, make_user("tenant_admin", tenant).email)
    base = f"/tenants/{tenant.id}/settings/notifications"
    page = client.get(base).get_data(True)
    assert "Create the standard teams" in page
    client.post(f"{base}/standard-teams", data={"csrf_token": csrf_token(client, base)})
    page = client.get(base).get_data(True)
    assert "Create the standard teams" not in page
    for name in ("sysadmins", "security", "network", "service_desk"):
        assert f"({name})</span></h3>" in page, name


def test_weekly_email_settings_saved_and_previewed(client: FlaskClient) -> None:
    tenant = make_tenant(name="Digest Co", timezone="Europe/Berlin")
    login(client, make_user("tenant_admin", tenant).email)
    base = f"/tenants/{tenant.id}/settings/digest"
    response = client.post(
        base,
        data={
            "csrf_token": csrf_token(client, base),
            "enabled": "on",
            "weekday": "4",
            "hour": "7",
            "addresses": "ceo@digest.example\nit@digest.example",
        },
    )
    assert response.status_code == 302
    page = client.get(base).get_data(True)
    assert "Friday at 07:00</strong> (Europe/Berlin)" in page
    assert "ceo@digest.example\nit@digest.example" in page
    bad = client.post(
        base,
        data={
            "csrf_token": csrf_token(client, base),
            "enabled": "on",
            "addresses": "not-an-address",
        },
    )
    assert bad.status_code == 302 and "not an e-mail address" in client.get(base).get_data(True)
    preview = client.get(f"{base}?preview=1").get_data(True)
    assert 'id="digest-subject"' in preview and "Digest Co" in preview
    assert db.session.query(AuditLog).filter_by(action="digest_settings.update").count() == 1


def test_team_quiet_hours_and_summary_mode(client: FlaskClient) -> None:
    tenant = make_tenant()
    login(client, make_user("tenant_admin", tenant).email)
    _setup_endpoint(client, tenant)
    base = f"/tenants/{tenant.id}/settings/notifications"
    team = db.session.query(NotificationTeam).filter_by(tenant_id=tenant.id).one()
    token = csrf_token(client, base)
    form = {
        "csrf_token": token,
        "label": "IT desk",
        "quiet_start": "22",
        "quiet_end": "7",
        "summary_mode": "on",
        "summary_hour": "9",
    }
    assert client.post(f"{base}/teams/{team.id}", data=form).status_code == 302
    page = client.get(base).get_data(True)
    assert "Quiet from 22:00 to 07:00" in page and "One summary a day at 09:00" in page
    half = {**form, "quiet_end": ""}
    client.post(f"{base}/teams/{team.id}", data=half)
    assert "quiet hours need a start and an end" in client.get(base).get_data(True)
