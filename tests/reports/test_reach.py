"""Writes apply the same reach as reads (issue 13, hole 3): MSP staff restricted to assigned
tenants cannot upload reports into, or add an MSP-wide mailbox feeding, tenants they do not
reach; unrestricted staff still upload without naming a tenant."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from msp.auth.service import issue_token, principal_for_user
from msp.auth.users import add_membership
from msp.db import utcnow
from msp.extensions import db
from msp.reports.models import RawReport, Report
from msp.tenancy.models import Tenant
from tests.factories import make_domain, make_tenant, make_user, token_caller
from tests.reports.hostile import report_xml


def _restricted_staff(*tenants: Tenant) -> dict[str, str]:
    staff = make_user("msp_staff", restricted=True)
    for tenant in tenants:
        add_membership(tenant.id, staff, "staff")
    db.session.flush()
    issued = issue_token(
        principal_for_user(staff),
        name="staff",
        tenant_id=None,
        role="msp_staff",
        days=1,
        now=utcnow(),
    )
    return {"Authorization": f"Bearer {issued.secret}"}


def _upload(client: FlaskClient, headers: dict[str, str], domain: str, rid: str) -> Any:
    return client.post(
        "/api/v1/reports",
        headers={**headers, "X-Filename": f"{rid}.xml"},
        data=report_xml(domain=domain, report_id=rid),
        content_type="application/xml",
    )


def test_restricted_staff_cannot_upload_into_a_tenant_they_do_not_reach(
    client: FlaskClient, run_jobs: Any, reports_config: Any, failed_jobs: Any
) -> None:
    mine, other = make_tenant("reach-mine"), make_tenant("reach-other")
    make_domain(mine, "mine-reach.example")
    make_domain(other, "other-reach.example")
    headers = _restricted_staff(mine)
    db.session.commit()
    assert _upload(client, headers, "other-reach.example", "theirs").status_code == 202
    assert _upload(client, headers, "mine-reach.example", "ours").status_code == 202
    run_jobs()
    assert failed_jobs() == {}
    raws = {r.filename: r for r in db.session.scalars(select(RawReport))}
    assert raws["theirs.xml"].status == "rejected"
    assert "does not belong" in (raws["theirs.xml"].error or "")
    assert raws["ours.xml"].status == "ingested" and raws["ours.xml"].tenant_id == mine.id
    written = {r.external_id: r.tenant_id for r in db.session.scalars(select(Report))}
    assert written == {"ours": mine.id}


def test_restricted_staff_of_several_tenants_must_name_one(
    client: FlaskClient, reports_config: Any
) -> None:
    one, two = make_tenant("reach-one"), make_tenant("reach-two")
    headers = _restricted_staff(one, two)
    db.session.commit()
    response = _upload(client, headers, "x.example", "x")
    assert response.status_code == 400 and "tenant_id" in str(response.get_json())
    named = client.post(
        f"/api/v1/reports?tenant_id={two.id}",
        headers=headers,
        data=report_xml(domain="x.example"),
        content_type="application/xml",
    )
    assert named.status_code == 202
    assert db.session.scalars(select(RawReport.tenant_id)).all() == [two.id]


def test_unrestricted_staff_upload_without_a_tenant(
    client: FlaskClient, reports_config: Any
) -> None:
    staff = token_caller("msp_staff")
    db.session.commit()
    assert _upload(client, staff.headers, "any.example", "any").status_code == 202
    assert db.session.scalars(select(RawReport.tenant_id)).all() == [None]


def test_only_staff_who_reach_every_tenant_add_msp_wide_mailboxes(
    client: FlaskClient, reports_config: Any
) -> None:
    mine = make_tenant("reach-box")
    restricted = _restricted_staff(mine)
    admin = token_caller("msp_admin")
    db.session.commit()
    body = {"name": "all", "host": "imap.example.com", "username": "u", "password": "p"}
    refused = client.post("/api/v1/report-mailboxes", headers=restricted, json=body)
    assert refused.status_code == 403
    own = client.post(
        "/api/v1/report-mailboxes", headers=restricted, json={**body, "tenant_id": mine.id}
    )
    assert own.status_code == 201, own.get_json()
    assert client.post(
        "/api/v1/report-mailboxes", headers=admin.headers, json=body
    ).status_code == (201)
