"""The console's last gaps, through the Flask test client: HTML error pages for a fault (500)
and an unreachable database (503) on web routes while the API keeps problem+json; every
destructive action asked on a server-drawn page and done by that page's form (what a browser
without JavaScript does), refused to a viewer; times in the domain timeline in the tenant's
zone; the domain page reading the stored evaluation instead of evaluating on every visit."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError
from werkzeug.test import TestResponse

from msp.auth.models import ApiToken, AuditLog, Invitation, Membership
from msp.extensions import db
from msp.notifications.models import NotificationEndpoint
from msp.policy import timeline
from msp.policy.models import PolicyChange
from msp.reports.models import ReportMailbox
from msp.tenancy.models import Tenant
from tests.factories import make_domain, make_tenant, make_user
from tests.web.support import csrf_token, login


@pytest.fixture
def faults_answered(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Let a fault reach the error handlers as in production (the test app re-raises it)."""
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)


def _broken(exc: Exception) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return fail


# --- error pages -------------------------------------------------------------------------------


@pytest.mark.usefixtures("faults_answered")
def test_a_fault_on_a_web_page_is_an_html_500_and_on_the_api_problem_json(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make_tenant()
    login(client, make_user("msp_admin").email)
    monkeypatch.setattr("msp.web.views.tenant_dashboard", _broken(RuntimeError("boom")))
    monkeypatch.setattr("msp.api.tenants.page_of", _broken(RuntimeError("boom")))

    page = client.get(f"/tenants/{tenant.id}")
    api = client.get("/api/v1/tenants")

    assert page.status_code == 500 and page.mimetype == "text/html"
    body = page.get_data(True)
    assert "Something went wrong on our side" in body and 'class="skip-link"' in body
    assert "boom" not in body and "Traceback" not in body, "no internals shown"
    assert 'aria-label="Main"' in body, "the navigation stays, so the way on is one click"
    reference = page.headers.get("X-Request-Id")
    assert reference and f"Reference for support: <code>{reference}</code>" in body
    assert api.status_code == 500 and api.mimetype == "application/problem+json"
    assert api.get_json()["status"] == 500


@pytest.mark.usefixtures("faults_answered")
def test_a_database_outage_on_a_web_page_is_an_html_503_with_retry_after(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make_tenant()
    login(client, make_user("msp_admin").email)
    outage = OperationalError("SELECT 1", {}, Exception("server closed the connection"))
    monkeypatch.setattr("msp.web.views.tenant_dashboard", _broken(outage))

    page = client.get(f"/tenants/{tenant.id}")

    assert page.status_code == 503 and page.mimetype == "text/html"
    assert page.headers["Retry-After"] == "5"
    assert "briefly unavailable" in page.get_data(True)


def test_a_wrong_method_and_an_unknown_page_stay_html(client: FlaskClient) -> None:
    wrong = client.put("/login")
    assert wrong.status_code == 405 and wrong.mimetype == "text/html"
    assert "Allow" in wrong.headers, "the error's own headers are kept"
    assert client.get("/nowhere").mimetype == "text/html"
    assert client.put("/api/v1/tenants").mimetype == "application/problem+json"


# --- confirmations without JavaScript ----------------------------------------------------------


def _link(page: str, label: str) -> str:
    """The href of the link whose text starts with ``label`` (a destructive action)."""
    for href, text in re.findall(r'<a class="button danger[^"]*" href="([^"]+)">([^<]+)</a>', page):
        if html.unescape(text).startswith(label):
            return html.unescape(href)
    raise AssertionError(f"no link {label!r} on the page")


def _confirm(client: FlaskClient, list_path: str, label: str) -> tuple[str, TestResponse]:
    """Follow the action's link, read the question, send the page's own form as a browser
    without JavaScript would; (the question page, the answer to the form)."""
    question = client.get(_link(client.get(list_path).get_data(True), label))
    assert question.status_code == 200, question.get_data(True)[:500]
    page = html.unescape(question.get_data(True))
    assert f'href="{list_path}' in page, "Cancel goes back where the person came from"
    form = (
        page.split('id="confirm-form"')[0].rsplit("<form", 1)[1]
        + page.split('id="confirm-form"')[1].split("</form>")[0]
    )
    action = re.search(r'action="([^"]+)"', form)
    assert action is not None
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form))
    return page, client.post(action.group(1), data=fields)


def _audited(tenant_id: int | None, action: str) -> bool:
    query = db.session.query(AuditLog).filter_by(action=action)
    return query.filter_by(tenant_id=tenant_id).count() == 1 if tenant_id else query.count() >= 1


def _endpoint(client: FlaskClient, tenant: Tenant) -> NotificationEndpoint:
    from tests.web.test_settings import _setup_endpoint

    return _setup_endpoint(client, tenant)


def test_removing_an_endpoint_asks_first_then_removes_it(client: FlaskClient) -> None:
    tenant = make_tenant()
    login(client, make_user("tenant_admin", tenant).email)
    endpoint = _endpoint(client, tenant)
    base = f"/tenants/{tenant.id}/settings/notifications"

    question, answer = _confirm(client, base, f"Remove {endpoint.name}")

    assert '<h1 id="confirm-title">Remove Desk hook?</h1>' in question
    assert "will no longer receive" in question and ">Remove Desk hook</button>" in question
    assert answer.status_code == 302
    assert db.session.query(NotificationEndpoint).filter_by(tenant_id=tenant.id).count() == 0


def test_asking_changes_nothing_and_a_viewer_is_refused_the_question(
    client: FlaskClient,
) -> None:
    tenant = make_tenant()
    admin = make_user("tenant_admin", tenant)
    viewer = make_user("tenant_viewer", tenant)
    login(client, admin.email)
    endpoint = _endpoint(client, tenant)
    url = f"/tenants/{tenant.id}/settings/notifications/endpoints/{endpoint.id}/delete"
    assert client.get(url).status_code == 200
    assert db.session.get(NotificationEndpoint, endpoint.id) is not None, "a GET only asks"

    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    login(client, viewer.email)
    page = client.get(f"/tenants/{tenant.id}/settings/notifications").get_data(True)
    assert "/delete" not in page and "Remove Desk hook" not in page
    refused = client.get(url)
    assert refused.status_code == 403 and refused.mimetype == "text/html"


def test_removing_a_rule_and_restoring_the_built_in_rules_are_asked(
    client: FlaskClient,
) -> None:
    tenant = make_tenant()
    login(client, make_user("tenant_admin", tenant).email)
    _endpoint(client, tenant)
    base = f"/tenants/{tenant.id}/settings/notifications"
    token = csrf_token(client, base)
    client.post(
        f"{base}/rules",
        data={"csrf_token": token, "action": "add", "team": "it_desk", "kinds": "dns.*"},
    )
    page = client.get(base).get_data(True)
    own = page.count("Remove rule ")

    question, answer = _confirm(client, base, f"Remove rule {own} (dns.* to it_desk)")

    assert "Remove rule" in question and "team it_desk" in question and answer.status_code == 302
    assert "dns.* to it_desk" not in client.get(base).get_data(True)
    question, answer = _confirm(client, base, "Restore the built-in rules")
    assert "are replaced by the built-in ones" in question and answer.status_code == 302
    assert "built-in rules are in force" in client.get(base).get_data(True)
    assert client.get(f"{base}/rules/99/remove").status_code == 404


def test_removing_a_mailbox_is_asked(client: FlaskClient) -> None:
    login(client, make_user("msp_admin").email)
    mailbox = ReportMailbox(
        name="dmarc inbox", host="imap.example.test", username="dmarc", password_encrypted="x"
    )
    db.session.add(mailbox)
    db.session.flush()

    question, answer = _confirm(client, "/settings/mailboxes", "Remove mailbox dmarc inbox")

    assert "will no longer be collected" in question and answer.status_code == 302
    assert db.session.query(ReportMailbox).filter_by(id=mailbox.id).count() == 0
    assert _audited(None, "mailbox.delete")


def test_removing_a_person_and_revoking_an_invitation_are_asked(client: FlaskClient) -> None:
    tenant = make_tenant(name="Acme")
    admin = make_user("tenant_admin", tenant)
    login(client, admin.email)
    member = make_user("tenant_viewer", tenant, email="boss@acme.test")
    people = f"/tenants/{tenant.id}/people"
    assert f"Remove {admin.email}" not in client.get(people).get_data(True), "not oneself"
    client.post(
        f"{people}/invite",
        data={
            "csrf_token": csrf_token(client, people),
            "email": "new@acme.test",
            "role": "tenant_viewer",
        },
    )

    question, answer = _confirm(client, people, "Remove boss@acme.test")
    assert "boss@acme.test will no longer see Acme" in question and answer.status_code == 302
    assert db.session.query(Membership).filter_by(user_id=member.id).count() == 0

    question, answer = _confirm(client, people, "Revoke the invitation to new@acme.test")
    assert "stops working" in question and answer.status_code == 302
    invitation = db.session.query(Invitation).filter_by(email="new@acme.test").one()
    db.session.refresh(invitation)
    assert invitation.revoked_at is not None


def test_revoking_a_token_is_asked_and_only_ones_own(client: FlaskClient) -> None:
    tenant = make_tenant()
    login(client, make_user("tenant_admin", tenant).email)
    client.post(
        "/account/tokens",
        data={
            "csrf_token": csrf_token(client, "/account/tokens"),
            "action": "create",
            "name": "backup script",
            "tenant_id": str(tenant.id),
            "role": "tenant_viewer",
            "days": "30",
        },
    )
    token = db.session.query(ApiToken).filter_by(name="backup script").one()

    question, answer = _confirm(client, "/account/tokens", "Revoke token backup script")

    assert "is refused from now on" in question and answer.status_code == 200
    db.session.refresh(token)
    assert token.revoked_at is not None
    login(client, make_user("tenant_admin", tenant).email)
    assert client.get(f"/account/tokens/{token.id}/revoke").status_code == 404, "not theirs"


def _open_change(tenant: Tenant) -> tuple[int, PolicyChange]:
    domain = make_domain(tenant)
    change = PolicyChange(
        tenant_id=tenant.id,
        domain_id=domain.id,
        kind="escalate",
        from_stage="none",
        to_stage="monitor",
        status="proposed",
    )
    db.session.add(change)
    db.session.flush()
    return domain.id, change


def test_rejecting_an_escalation_is_asked_with_its_reason(client: FlaskClient) -> None:
    tenant = make_tenant()
    login(client, make_user("tenant_admin", tenant).email)
    domain_id, change = _open_change(tenant)
    page = f"/domains/{domain_id}"
    link = _link(client.get(page).get_data(True), "Reject move to monitor")
    question = html.unescape(client.get(link).get_data(True))
    assert "The domain stays at No DMARC record" in question and 'name="note"' in question

    answer = client.post(
        f"{page}/escalations/{change.id}/reject",
        data={"csrf_token": csrf_token(client, link), "note": "wait for the CRM"},
    )

    assert answer.status_code == 302
    db.session.refresh(change)
    assert change.status == "rejected" and change.note == "wait for the CRM"
    assert client.get(link).status_code == 404, "a closed change is not asked about again"


def test_a_viewer_sees_no_reject_link_and_is_refused_the_question(client: FlaskClient) -> None:
    tenant = make_tenant()
    login(client, make_user("tenant_viewer", tenant).email)
    domain_id, change = _open_change(tenant)
    assert "Reject move to" not in client.get(f"/domains/{domain_id}").get_data(True)
    assert client.get(f"/domains/{domain_id}/escalations/{change.id}/reject").status_code == 403


# --- the domain page: times in words, the stored evaluation ------------------------------------


def test_timeline_times_are_in_the_tenant_zone_in_words(client: FlaskClient) -> None:
    tenant = make_tenant(timezone="Europe/Berlin")
    domain = make_domain(tenant)
    timeline.record(
        tenant_id=tenant.id,
        domain_id=domain.id,
        kind="scheduled",
        stage="monitor",
        summary="to be issued at 2026-12-05T06:00:00+00:00",
        evidence={},
        at=datetime(2026, 12, 4, 9, 30, tzinfo=UTC),
    )
    login(client, make_user("tenant_viewer", tenant).email)

    road = client.get(f"/domains/{domain.id}").get_data(True).split('id="timeline"')[1]

    assert "to be issued at 05 Dec 2026 07:00 (Europe/Berlin)" in road
    assert "2026-12-05T06:00" not in road.split("</ol>")[0].replace('datetime="', "")


def test_the_domain_page_reads_the_stored_evaluation_without_evaluating(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from msp.policy import service as policy_service

    tenant = make_tenant()
    domain = make_domain(tenant)
    policy_service.evaluate_domain(domain.id, force=True)
    login(client, make_user("tenant_viewer", tenant).email)
    monkeypatch.setattr(policy_service, "plan_view", _broken(AssertionError("evaluated live")))

    page = client.get(f"/domains/{domain.id}")

    assert page.status_code == 200
    assert 'id="stored-evaluation"' in page.get_data(True)


def test_the_audit_log_says_what_happened_in_words_in_the_client_zone(
    client: FlaskClient,
) -> None:
    tenant = make_tenant(timezone="America/New_York")
    db.session.add(
        AuditLog(
            tenant_id=tenant.id,
            actor_type="user",
            actor_label="it@acme.test",
            action="notification_endpoint.delete",
            object_type="notification_endpoint",
            object_id="7",
            at=datetime(2026, 12, 4, 15, 0, tzinfo=UTC),
        )
    )
    db.session.flush()
    login(client, make_user("tenant_viewer", tenant).email)

    page = html.unescape(client.get("/settings/audit").get_data(True))

    assert "04 Dec 2026 10:00 (America/New_York)" in page
    assert "removed a notification endpoint" in page
    assert "<code>notification_endpoint.delete</code>" in page, "the code stays beside it"


def test_no_question_is_asked_while_viewing_as_the_client(client: FlaskClient) -> None:
    tenant = make_tenant()
    login(client, make_user("msp_admin").email)
    domain_id, change = _open_change(tenant)
    client.post(
        f"/tenants/{tenant.id}/view-as", data={"csrf_token": csrf_token(client, "/account")}
    )
    page = client.get(f"/domains/{domain_id}").get_data(True)
    assert "Reject move to" not in page
    asked = client.get(f"/domains/{domain_id}/escalations/{change.id}/reject")
    assert asked.status_code == 403 and "viewing as the client" in asked.get_data(True)


def test_a_verdict_after_the_stored_evaluation_makes_the_page_evaluate_again(
    client: FlaskClient,
) -> None:
    from msp.db import utcnow
    from msp.policy import service as policy_service

    tenant = make_tenant()
    domain = make_domain(tenant)
    policy_service.evaluate_domain(domain.id, force=True)
    login(client, make_user("tenant_viewer", tenant).email)
    assert 'id="stored-evaluation"' in client.get(f"/domains/{domain.id}").get_data(True)
    db.session.add(
        AuditLog(
            tenant_id=tenant.id,
            actor_type="user",
            action="sender.verdict",
            object_type="sender",
            object_id="ip:192.0.2.1",
            changes={"domain": domain.name, "status": "approved"},
            at=utcnow(),
        )
    )
    db.session.flush()

    page = client.get(f"/domains/{domain.id}").get_data(True)

    assert 'id="stored-evaluation"' not in page, "its gates would read stale: evaluated live"
