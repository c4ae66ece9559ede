"""The reports API end to end: upload, jobs on a real RQ worker, routing, senders, mailboxes."""

from __future__ import annotations

import gzip
import io
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from msp.events import Event
from msp.extensions import db
from msp.reports.models import RawReport, ReportMailbox
from tests.factories import make_domain, make_tenant, token_caller
from tests.reports.hostile import report_email, report_xml


def upload(client: FlaskClient, headers: dict[str, str], files: dict[str, bytes]) -> Any:
    data = {name: (io.BytesIO(body), name) for name, body in files.items()}
    return client.post(
        "/api/v1/reports", headers=headers, data=data, content_type="multipart/form-data"
    )


def test_multipart_upload_ingests_good_files_and_keeps_bad_ones_rejected(
    client: FlaskClient, run_jobs: Any, reports_config: Any, failed_jobs: Any
) -> None:
    tenant = make_tenant("upl")
    domain = make_domain(tenant, "upl.example")
    admin = token_caller("tenant_admin", tenant)
    db.session.commit()
    good = gzip.compress(report_xml(domain=domain.name, records=3))
    response = upload(client, admin.headers, {"good.xml.gz": good, "bad.xml": b"<feedback>"})
    assert response.status_code == 202, response.get_json()
    assert [r["status"] for r in response.get_json()] == ["pending", "pending"]
    run_jobs()
    assert failed_jobs() == {}
    raws = {r.filename: r for r in db.session.scalars(select(RawReport))}
    assert raws["good.xml.gz"].status == "ingested"
    assert raws["bad.xml"].status == "rejected" and "report_metadata" in (
        raws["bad.xml"].error or ""
    )
    listed = client.get("/api/v1/reports", headers=admin.headers).get_json()
    assert [(r["policy_domain"], r["records"], r["messages"]) for r in listed] == [
        ("upl.example", 3, 15)
    ]
    kinds = set(db.session.scalars(select(Event.kind).where(Event.tenant_id == tenant.id)))
    assert {"report.rejected", "sender.new"} <= kinds


def test_a_tenant_cannot_push_reports_into_another_tenants_domain(
    client: FlaskClient, run_jobs: Any, reports_config: Any
) -> None:
    mine, other = make_tenant("mine"), make_tenant("other")
    make_domain(other, "other.example")
    admin = token_caller("tenant_admin", mine)
    db.session.commit()
    response = client.post(
        "/api/v1/reports",
        headers=admin.headers,
        data=report_xml(domain="other.example"),
        content_type="application/xml",
    )
    assert response.status_code == 202
    run_jobs()
    raw = db.session.scalars(select(RawReport)).one()
    assert raw.status == "rejected" and "does not belong" in (raw.error or "")


def test_report_address_token_only_routes_to_its_own_tenant(
    client: FlaskClient, run_jobs: Any, reports_config: Any
) -> None:
    reports_config["MSP_REPORTS_DOMAIN"] = "reports.msp.test"
    a, b = make_tenant("tok-a"), make_tenant("tok-b")
    make_domain(a, "a-tok.example")
    make_domain(b, "b-tok.example")
    staff = token_caller("msp_admin")
    db.session.commit()
    to_a = f"{a.report_token}@reports.msp.test"
    for name, xml in (
        ("ok", report_xml(domain="a-tok.example")),
        ("bad", report_xml(domain="b-tok.example", report_id="r2")),
    ):
        eml = report_email(gzip.compress(xml), f"{name}.xml.gz", to=to_a)
        client.post(
            "/api/v1/reports",
            headers={**staff.headers, "X-Filename": name},
            data=eml,
            content_type="message/rfc822",
        )
    run_jobs()
    statuses = {r.filename: (r.status, r.tenant_id) for r in db.session.scalars(select(RawReport))}
    assert statuses["ok"] == ("ingested", a.id)
    assert statuses["bad"][0] == "rejected"


def test_unrouted_report_is_routed_when_its_domain_is_added(
    client: FlaskClient, run_jobs: Any, reports_config: Any
) -> None:
    tenant = make_tenant("late")
    staff = token_caller("msp_admin")
    admin = token_caller("tenant_admin", tenant)
    db.session.commit()
    client.post(
        "/api/v1/reports",
        headers=staff.headers,
        data=report_xml(domain="mail.late.example"),
        content_type="application/xml",
    )
    run_jobs()
    unrouted = client.get("/api/v1/reports/unrouted", headers=staff.headers).get_json()
    assert [r["domain"] for r in unrouted] == ["mail.late.example"]
    assert client.get("/api/v1/reports/unrouted", headers=admin.headers).status_code == 403
    response = client.post(
        f"/api/v1/tenants/{tenant.id}/domains", headers=admin.headers, json={"name": "late.example"}
    )
    assert response.status_code == 201
    run_jobs()
    raw = db.session.scalars(select(RawReport)).one()
    assert raw.status == "unrouted", "a tenant's domain gets reports once control is shown"
    domain_id = response.get_json()["id"]
    vouched = client.post(f"/api/v1/domains/{domain_id}/mark-verified", headers=staff.headers)
    assert vouched.status_code == 200
    run_jobs()
    db.session.refresh(raw)
    assert (raw.status, raw.tenant_id) == ("ingested", tenant.id)
    assert client.get("/api/v1/reports/unrouted", headers=staff.headers).get_json() == []


def test_senders_are_listed_and_take_the_tenants_verdict(
    client: FlaskClient, run_jobs: Any, reports_config: Any, failed_jobs: Any
) -> None:
    tenant = make_tenant("snd")
    domain = make_domain(tenant, "snd.example")
    admin = token_caller("tenant_admin", tenant)
    db.session.commit()
    client.post(
        "/api/v1/reports",
        headers=admin.headers,
        data=report_xml(domain=domain.name, records=2, begin=1735689600, end=1735775999),
        content_type="application/xml",
    )
    run_jobs()
    assert failed_jobs() == {}
    url = f"/api/v1/domains/{domain.id}/senders?since=2025-01-01&until=2025-01-31"
    senders = client.get(url, headers=admin.headers).get_json()
    assert len(senders) == 2 and all(s["is_new"] and s["status"] == "unknown" for s in senders)
    assert sum(s["messages"] for s in senders) == 10
    key = senders[0]["key"]
    verdict = client.put(
        f"/api/v1/domains/{domain.id}/senders/{key}",
        headers=admin.headers,
        json={"status": "approved", "note": "our CRM"},
    )
    assert verdict.status_code == 200 and verdict.get_json()["status"] == "approved"
    again = client.get(url, headers=admin.headers).get_json()
    assert {s["key"]: s["status"] for s in again}[key] == "approved"


def test_mailbox_password_is_write_only_and_stored_encrypted(
    client: FlaskClient, reports_config: Any
) -> None:
    tenant = make_tenant("mbx")
    admin = token_caller("tenant_admin", tenant)
    viewer = token_caller("tenant_viewer", tenant)
    db.session.commit()
    body = {
        "tenant_id": tenant.id,
        "name": "rua",
        "host": "imap.mbx.example",
        "username": "rua@mbx.example",
        "password": "s3cret-pass",
    }
    assert (
        client.post("/api/v1/report-mailboxes", headers=viewer.headers, json=body).status_code
        == 403
    )
    response = client.post("/api/v1/report-mailboxes", headers=admin.headers, json=body)
    assert response.status_code == 201, response.get_json()
    assert "password" not in response.get_json()
    stored = db.session.get(ReportMailbox, response.get_json()["id"])
    assert stored is not None and "s3cret-pass" not in stored.password_encrypted
    msp_wide = {**body, "tenant_id": None}
    assert (
        client.post("/api/v1/report-mailboxes", headers=admin.headers, json=msp_wide).status_code
        == 403
    )
