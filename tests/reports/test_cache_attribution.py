"""The report jobs say whose data they write (msp.generation.attributed): a tenant's kept pages
are drawn again after its reports are parsed and enriched, another tenant's stay kept."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from msp.extensions import db
from msp.reports import service
from msp.reports.models import Report
from tests.factories import make_domain, make_tenant, make_user
from tests.reports.hostile import report_xml
from tests.web.support import login
from tests.web.test_response_cache import drawn
from workers import reports as jobs


def test_the_report_jobs_attribute_their_writes_to_the_tenants_they_reach(
    app: Flask, client: FlaskClient, reports_config: dict[str, Any]
) -> None:
    a, b = make_tenant(), make_tenant()
    domain_a, domain_b = make_domain(a, "quiet-a.example"), make_domain(b, "busy-b.example")
    raw = service.receive(
        report_xml(domain=domain_b.name, report_id="attributed-1", records=3),
        source="cli",
        filename="b.xml",
    )
    db.session.commit()
    login(client, make_user("msp_admin").email)
    mine, theirs = f"/domains/{domain_a.id}", f"/domains/{domain_b.id}"
    for url in (mine, theirs):
        client.get(url)

    jobs.parse_raws.__wrapped__(raw.id, raw.id)  # type: ignore[attr-defined]  # the job's body
    db.session.commit()
    assert (drawn(app, client, mine), drawn(app, client, theirs)) == (False, True)

    report_ids = list(db.session.scalars(select(Report.id).where(Report.domain_id == domain_b.id)))
    assert report_ids
    jobs.enrich_reports.__wrapped__(report_ids)  # type: ignore[attr-defined]
    db.session.commit()
    assert (drawn(app, client, mine), drawn(app, client, theirs)) == (False, True)
