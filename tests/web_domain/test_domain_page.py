"""The domain page through the Flask test client as each role: records and fixes in the
domain's real values, advice a parked domain can use, sender verdicts one by one and in bulk
(and undone), a junk key refused, a viewer who sees no write control and whose forged POST is
refused, a capped sender list, and a GET that writes nothing."""

from __future__ import annotations

import html
import re

from flask.testing import FlaskClient
from sqlalchemy import func, select

from msp.auth.models import AuditLog
from msp.events import Event
from msp.extensions import db
from msp.policy.models import PolicyPlan, PolicyTimelineEntry
from msp.reports.models import Sender
from msp.reports.service import ingest_now
from tests.web_domain.conftest import World, csrf, login


def _page(client: FlaskClient, world: World, query: str = "") -> str:
    response = client.get(f"/domains/{world.domain.id}{query}")
    assert response.status_code == 200, response.get_data(True)[:2000]
    return html.unescape(response.get_data(True))


def _verdict(client: FlaskClient, world: World, **form: object) -> str:
    data = {"csrf_token": csrf(client, f"/domains/{world.domain.id}"), **form}
    response = client.post(f"/domains/{world.domain.id}/senders", data=data)
    assert response.status_code == 302
    return _page(client, world)


def _row(page: str, key: str) -> str:
    rows = re.findall(r"<tr class=\"status-[a-z]+\" id=\"sender-\d+\">.*?</tr>", page, re.S)
    found = [r for r in rows if f"<small>{key}</small>" in r]
    assert len(found) == 1, key
    return found[0]


def test_fixes_use_the_tenant_report_address_and_the_senders_seen(
    client: FlaskClient, world: World
) -> None:
    login(client, world.admin)
    page = _page(client, world)
    rua = f"mailto:{world.tenant.report_token}@"
    fixes = page.split('id="findings"')[1].split("</ul>")[0]
    assert "_dmarc.acme-web.test" in fixes and f"rua={rua}" in fixes
    assert f"v=TLSRPTv1; rua={rua}" in fixes
    assert "<your senders>" not in page and "<reports address>" not in page
    assert "MSP_REPORTS_DOMAIN is not set" in page, "the fallback address is flagged"
    _verdict(client, world, one="approved sendgrid.net")
    page = _verdict(client, world, one="approved ip:203.0.113.30")
    spf = re.search(r'id="spf-suggested">([^<]+)<', page)
    assert spf is not None
    assert spf.group(1) == (
        "v=spf1 ip4:192.0.2.10 ip4:192.0.2.11 include:sendgrid.net ip4:203.0.113.30 -all"
    )
    assert "?all" not in spf.group(1)


def test_each_sender_shows_network_authentication_domains_and_trend(
    client: FlaskClient, world: World
) -> None:
    login(client, world.admin)
    page = _page(client, world)
    newsletter = _row(page, "sendgrid.net")
    assert "SendGrid" in newsletter and "AS11377 SENDGRID" in newsletter and "US" in newsletter
    assert "1 address" in newsletter and "SPF domain: bounce.mailer.example" in newsletter
    assert "To align:" in newsletter and "d=acme-web.test" in newsletter
    workspace = _row(page, "ip:192.0.2.10")
    assert "AS64500 EXAMPLE-NET" in workspace and "NL" in workspace
    assert "DKIM: acme-web.test (google, passes)" in workspace
    assert "SPF domain: acme-web.test" in workspace and "To align:" not in workspace
    assert re.search(r"<small>(steady|up \d+%|down \d+%)</small>", workspace)
    crm = _row(page, "ip:203.0.113.30")
    assert "new in this period" in crm


def test_a_parked_domain_is_told_only_the_parked_records(client: FlaskClient, world: World) -> None:
    login(client, world.admin)
    page = html.unescape(client.get(f"/domains/{world.parked.id}").get_data(True))
    findings = page.split('id="findings"')[1].split("</ul>")[0]
    codes = set(re.findall(r"<code>([a-z_]+)</code>", findings))
    assert codes and all(c.startswith(("parked_", "spf_", "dmarc_", "mx_")) for c in codes), codes
    assert "v=spf1 -all" in findings and "p=reject" in findings
    for word in ("dkim_", "mta_sts", "tlsrpt", "DKIM", "MTA-STS", "TLS-RPT"):
        assert word not in page.split('id="records"')[1].split("</section>")[0], word


def test_admin_approves_a_sender_and_undoes_it(client: FlaskClient, world: World) -> None:
    login(client, world.admin)
    page = _page(client, world)
    assert "Approve sender 203.0.113.30" in _row(page, "ip:203.0.113.30")
    page = _verdict(client, world, one="approved ip:203.0.113.30")
    row = _row(page, "ip:203.0.113.30")
    assert "Approve sender 203.0.113.30" not in row and "Undo verdict on 203.0.113.30" in row
    assert ">approved<" in row
    assert "203.0.113.30 marked approved." in page
    page = _verdict(client, world, one="unknown ip:203.0.113.30")
    row = _row(page, "ip:203.0.113.30")
    assert "Approve sender 203.0.113.30" in row and "Undo verdict" not in row
    actions = db.session.scalars(
        select(AuditLog.changes).where(AuditLog.action == "sender.verdict")
    ).all()
    assert [a["status"] for a in actions] == ["approved", "unknown"]


def test_bulk_verdict_applies_to_every_checked_sender(client: FlaskClient, world: World) -> None:
    login(client, world.admin)
    keys = ["ip:198.51.100.77", "ip:203.0.113.30"]
    page = _verdict(client, world, keys=keys, status="forwarder", bulk="1")
    assert "2 senders marked a forwarder." in page
    for key in keys:
        assert ">a forwarder<" in _row(page, key)


def test_a_verdict_on_junk_or_an_unseen_sender_is_refused(
    client: FlaskClient, world: World
) -> None:
    login(client, world.admin)
    for key in ("x" * 5000, "ip:192.0.2.99", "<script>"):
        page = _verdict(client, world, key=key, status="approved")
        assert "Nothing was changed:" in page
    page = _verdict(client, world, key="ip:192.0.2.10", status="trusted")
    assert "Nothing was changed: status must be one of" in page
    assert db.session.scalar(select(func.count()).select_from(Sender)) == 0


def test_viewer_sees_no_write_control_and_a_forged_post_is_refused(
    client: FlaskClient, world: World
) -> None:
    login(client, world.viewer)
    page = _page(client, world)
    forms = re.findall(r'<form method="post" action="([^"]+)"', page)
    assert forms == ["/logout"], forms
    for label in ("Approve sender", "Mark ", "Undo verdict", "Propose move", "Apply verdict"):
        assert label not in page, label
    token = csrf(client, f"/domains/{world.domain.id}")
    forged = {"one": "approved ip:203.0.113.30", "csrf_token": token}
    response = client.post(f"/domains/{world.domain.id}/senders", data=forged)
    assert response.status_code == 403
    response = client.post(f"/domains/{world.domain.id}/escalations", data={"csrf_token": token})
    assert response.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(Sender)) == 0


def test_opening_the_page_writes_nothing(client: FlaskClient, world: World) -> None:
    login(client, world.admin)

    def counts() -> tuple[int | None, ...]:
        return tuple(
            db.session.scalar(select(func.count()).select_from(model))
            for model in (PolicyPlan, PolicyTimelineEntry, Event, AuditLog)
        )

    before = counts()
    _page(client, world)
    client.get(f"/domains/{world.parked.id}")
    assert counts() == before


def test_many_senders_render_one_page_and_say_how_many_more(
    client: FlaskClient, world: World
) -> None:
    records = "".join(
        f"<record><row><source_ip>10.{i // 250}.{i % 250}.1</source_ip><count>1</count>"
        "<policy_evaluated><disposition>none</disposition><dkim>fail</dkim><spf>fail</spf>"
        "</policy_evaluated></row><identifiers><header_from>acme-web.test</header_from>"
        "</identifiers><auth_results><spf><domain>x.example</domain><result>fail</result>"
        "</spf></auth_results></record>"
        for i in range(600)
    )
    xml = (
        "<feedback><report_metadata><org_name>big</org_name><email>a@big.example</email>"
        "<report_id>big-1</report_id><date_range><begin>{b}</begin><end>{e}</end></date_range>"
        "</report_metadata><policy_published><domain>acme-web.test</domain><p>none</p>"
        "</policy_published>{r}</feedback>"
    )
    from msp.db import utcnow

    begin = int(utcnow().timestamp()) - 3 * 86400
    ingest_now(
        xml.format(b=begin, e=begin + 86399, r=records).encode(),
        source="upload",
        tenant_id=world.tenant.id,
    )
    login(client, world.admin)
    page = _page(client, world)
    rows = re.findall(r'id="sender-\d+"', page)
    assert len(rows) == 25
    assert "Page 1 of 25, and 580 more senders" in page
    page = _page(client, world, "?page=25")
    assert len(re.findall(r'id="sender-\d+"', page)) == 5


def test_a_domain_with_a_stored_evaluation_shows_it(client: FlaskClient, world: World) -> None:
    from msp.policy import service as policy_service

    login(client, world.admin)
    assert 'id="stored-evaluation"' not in _page(client, world), "no stored plan yet: live"
    policy_service.evaluate_domain(world.domain.id)
    page = _page(client, world)
    assert 'id="stored-evaluation"' in page and "Evaluate now" in page
    assert "Monitoring only (p=none)" in page.split('id="plan"')[1], "the stored next stage"
    assert 'id="stored-evaluation"' not in _page(client, world, "?live=1")
