"""The road on the real neighbours: knot serves the zone, the DNS checker checks it, report
ingestion parses an aggregate report, and the policy engine reads both through its adapters
(no stand-in evidence source)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from msp.db import utcnow
from msp.dns.service import check_domain_now
from msp.dns.settings import checker_options
from msp.events import Event
from msp.extensions import db
from msp.policy import service
from msp.policy.models import PolicyChange
from msp.reports import service as reports
from tests.factories import make_domain, make_tenant
from tests.support.dns_server import KnotServer, txt, zone

DOMAIN = "road-e2e.test"
SPF = "v=spf1 ip4:192.0.2.0/24 -all"


def aggregate(day: datetime) -> bytes:
    begin, end = int(day.timestamp()), int((day + timedelta(days=1)).timestamp()) - 1
    rows = [("192.0.2.10", 120, "pass", "pass"), ("203.0.113.5", 60, "fail", "fail")]
    records = "".join(
        f"<record><row><source_ip>{ip}</source_ip><count>{n}</count><policy_evaluated>"
        f"<disposition>none</disposition><dkim>{d}</dkim><spf>{s}</spf></policy_evaluated>"
        f"</row><identifiers><header_from>{DOMAIN}</header_from></identifiers>"
        f"<auth_results><spf><domain>{DOMAIN}</domain><result>{s}</result></spf>"
        f"</auth_results></record>"
        for ip, n, d, s in rows
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><feedback><report_metadata>'
        "<org_name>receiver.test</org_name><email>noreply@receiver.test</email>"
        f"<report_id>e2e-{begin}</report_id><date_range><begin>{begin}</begin>"
        f"<end>{end}</end></date_range></report_metadata><policy_published>"
        f"<domain>{DOMAIN}</domain><adkim>r</adkim><aspf>r</aspf><p>none</p><sp>none</sp>"
        f"<pct>100</pct></policy_published>{records}</feedback>"
    ).encode()


@pytest.fixture
def knot() -> Iterator[KnotServer]:
    with KnotServer({DOMAIN: zone(DOMAIN, [f"@ TXT {txt(SPF)}"])}) as server:
        yield server


def _check(knot: KnotServer, domain_id: int, at: datetime) -> None:
    options = checker_options(
        {
            "MSP_DNS_NAMESERVERS": [knot.nameserver],
            "MSP_DNS_TIMEOUT": 1.0,
            "MSP_DNS_RETRIES": 0,
            "MSP_DNS_PROBE_SELECTORS": False,
        }
    )
    check_domain_now(domain_id, options=options, now=at)


def test_issue_publish_check_verify_then_gates_read_real_reports(
    db_session: Any, knot: KnotServer
) -> None:
    domain = make_domain(make_tenant(), DOMAIN)
    now = utcnow()
    _check(knot, domain.id, now - timedelta(minutes=5))
    service.evaluate_domain(domain.id, now)
    change = db.session.scalars(select(PolicyChange)).one()
    assert change.to_stage == "monitor"
    service.approve(change, now)
    service.schedule(change, now)
    assert service.advance_change(change.id, now) == "published"
    issued = db.session.scalars(select(Event).where(Event.kind == "policy.published")).one()
    record = issued.payload["records"][0]
    # the customer publishes exactly what was issued
    knot.set_zone(
        DOMAIN,
        zone(DOMAIN, [f"@ TXT {txt(SPF)}", f"_dmarc TXT {txt(record['value'])}"], serial=2),
    )
    knot.reload()
    _check(knot, domain.id, now + timedelta(minutes=30))
    assert service.advance_change(change.id, now + timedelta(minutes=31)) == "verified"

    yesterday = datetime.combine(now.date() - timedelta(days=1), datetime.min.time(), now.tzinfo)
    raw = reports.receive(
        aggregate(yesterday), source="upload", filename="r.xml", tenant_id=domain.tenant_id
    )
    reports.process_raw(raw.id)
    view = service.plan_view(domain, now + timedelta(hours=1)).as_dict()
    gates = {g["gate"]: g for g in view["gates"]}
    assert view["stage"] == "monitor"
    assert gates["record"]["status"] == "passed"
    assert gates["spf"]["status"] == "passed"
    assert gates["coverage"]["reasons"][0] == "reports from 1 receivers, 2 needed"
    assert "203.0.113.5" in gates["senders"]["reason"]
    assert "unclassified sender" in gates["senders"]["reason"]


def test_parked_fast_path_is_verified_on_the_real_zone(db_session: Any, knot: KnotServer) -> None:
    domain = make_domain(make_tenant(), DOMAIN, parked=True)
    now = utcnow()
    _check(knot, domain.id, now - timedelta(minutes=5))
    service.evaluate_domain(domain.id, now)
    change = db.session.scalars(select(PolicyChange)).one()
    service.approve(change, now)
    service.schedule(change, now)
    assert service.advance_change(change.id, now) == "published"
    owners = {f"_dmarc.{DOMAIN}": "_dmarc", DOMAIN: "@"}
    lines = [
        f"{owners[r['name']]} {r['type']} {txt(r['value']) if r['type'] == 'TXT' else r['value']}"
        for r in change.records
    ]
    knot.set_zone(DOMAIN, zone(DOMAIN, [lines[0], lines[2]], serial=2))  # SPF forgotten
    knot.reload()
    _check(knot, domain.id, now + timedelta(minutes=30))
    assert service.advance_change(change.id, now + timedelta(minutes=31)) == "wait"
    knot.set_zone(DOMAIN, zone(DOMAIN, lines, serial=3))
    knot.reload()
    _check(knot, domain.id, now + timedelta(minutes=40))
    assert service.advance_change(change.id, now + timedelta(minutes=41)) == "verified"


def test_a_domain_already_at_reject_is_adopted_never_proposed_a_downgrade(
    db_session: Any, knot: KnotServer
) -> None:
    domain = make_domain(make_tenant(), DOMAIN)
    live = "v=DMARC1; p=reject; rua=mailto:dmarc@road-e2e.test"
    knot.set_zone(DOMAIN, zone(DOMAIN, [f"@ TXT {txt(SPF)}", f"_dmarc TXT {txt(live)}"], serial=2))
    knot.reload()
    now = utcnow()
    result = service.evaluate_domain(domain.id, now)  # before any DNS check: hold
    assert result is not None and result.reasons == ("no DNS check yet",)
    _check(knot, domain.id, now + timedelta(minutes=1))
    view = service.plan_view(domain, now + timedelta(minutes=2)).as_dict()
    assert (view["stage"], view["next_stage"], view["action"]) == ("reject", None, "hold")
    assert db.session.scalars(select(PolicyChange)).first() is None


def forwarded_report(day: datetime) -> bytes:
    """A list re-sends the domain's mail: its own DKIM signature broken, SPF passing for the
    list's domain; a spoofer's mail carries no such mark."""
    begin, end = int(day.timestamp()), int((day + timedelta(days=1)).timestamp()) - 1
    rows = [
        (
            "198.51.100.21",
            9,
            f"<dkim><domain>{DOMAIN}</domain><selector>s1</selector><result>fail</result></dkim>",
            "lists.example.org",
        ),
        ("203.0.113.66", 40, "", "spoof.example.net"),
    ]
    records = "".join(
        f"<record><row><source_ip>{ip}</source_ip><count>{n}</count><policy_evaluated>"
        "<disposition>none</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated>"
        f"</row><identifiers><header_from>{DOMAIN}</header_from></identifiers>"
        f"<auth_results>{dkim}<spf><domain>{spf}</domain><result>pass</result></spf>"
        "</auth_results></record>"
        for ip, n, dkim, spf in rows
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><feedback><report_metadata>'
        "<org_name>receiver.test</org_name><email>noreply@receiver.test</email>"
        f"<report_id>fwd-{begin}</report_id><date_range><begin>{begin}</begin>"
        f"<end>{end}</end></date_range></report_metadata><policy_published>"
        f"<domain>{DOMAIN}</domain><p>none</p></policy_published>{records}</feedback>"
    ).encode()


def test_forwarded_mail_is_read_from_real_reports_and_shown_as_one_line(
    db_session: Any, knot: KnotServer
) -> None:
    domain = make_domain(make_tenant(), DOMAIN)
    now = utcnow()
    yesterday = datetime.combine(now.date() - timedelta(days=1), datetime.min.time(), now.tzinfo)
    raw = reports.receive(
        forwarded_report(yesterday), source="upload", filename="f.xml", tenant_id=domain.tenant_id
    )
    reports.process_raw(raw.id)
    view = service.plan_view(domain, now).as_dict()
    assert view["forwarded"]["sources"] == 1 and view["forwarded"]["messages"] == 9
    what_if = service.simulate_domain(domain, "v=DMARC1; p=reject", now=now)
    assert what_if["totals"]["forwarded"]["rejected"] == 9
    assert what_if["totals"]["unknown"]["rejected"] == 40


def test_a_timed_out_name_server_changes_nothing_on_the_road(
    db_session: Any, knot: KnotServer
) -> None:
    """Issue 13/15: the real checker against a silent server, the real loader: unknown, never
    "missing"; the open proposal is not withdrawn and the plan says DNS could not be reached."""
    from tests.support.net import silent_udp_port

    domain = make_domain(make_tenant(), DOMAIN)
    now = utcnow()
    _check(knot, domain.id, now - timedelta(minutes=5))
    service.evaluate_domain(domain.id, now)
    change = db.session.scalars(select(PolicyChange)).one()
    with silent_udp_port() as port:
        options = checker_options(
            {
                "MSP_DNS_NAMESERVERS": [f"127.0.0.1:{port}"],
                "MSP_DNS_TIMEOUT": 0.2,
                "MSP_DNS_RETRIES": 0,
                "MSP_DNS_PROBE_SELECTORS": False,
            }
        )
        check_domain_now(domain.id, options=options, now=now + timedelta(minutes=10))
    result = service.evaluate_domain(domain.id, now + timedelta(minutes=11), force=True)
    assert result is not None and result.action.value == "hold"
    assert result.reasons[0].startswith("the last DNS check could not reach DNS for")
    db.session.refresh(change)
    assert change.status == "proposed"
    gates = service.plan_view(domain, now + timedelta(minutes=12)).as_dict()["gates"]
    assert [g["status"] for g in gates] == ["unknown"]
