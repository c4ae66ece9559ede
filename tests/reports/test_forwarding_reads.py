"""The reports area's read of failing records (msp.reports.forwarding_reads): only the domain's
own aggregate records of the window that failed both alignments, with what they carried, and
never more than the cap."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from msp.db import utcnow
from msp.errors import NotFound
from msp.reports import service as reports
from msp.reports.forwarding_reads import FailingRecord, failing_records
from tests.factories import make_domain, make_tenant

LIST_DKIM = "<dkim><domain>{d}</domain><selector>s1</selector><result>fail</result></dkim>"


def _report(domain: str, day: datetime, tag: str) -> bytes:
    begin, end = int(day.timestamp()), int((day + timedelta(days=1)).timestamp()) - 1
    rows = [  # (source IP, count, DKIM alignment, SPF alignment, auth results)
        ("198.51.100.21", 9, "fail", "fail", LIST_DKIM.format(d=domain), "lists.example.org"),
        ("192.0.2.10", 120, "pass", "fail", "", domain),  # aligned by DKIM: not failing
        ("203.0.113.66", 40, "fail", "fail", "", "spoof.example.net"),
    ]
    records = "".join(
        f"<record><row><source_ip>{ip}</source_ip><count>{n}</count><policy_evaluated>"
        f"<disposition>none</disposition><dkim>{d}</dkim><spf>{s}</spf>"
        "<reason><type>mailing_list</type></reason></policy_evaluated>"
        f"</row><identifiers><header_from>{domain}</header_from></identifiers>"
        f"<auth_results>{dkim}<spf><domain>{spf}</domain><result>pass</result></spf>"
        "</auth_results></record>"
        for ip, n, d, s, dkim, spf in rows
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><feedback><report_metadata>'
        "<org_name>receiver.test</org_name><email>noreply@receiver.test</email>"
        f"<report_id>{tag}-{begin}</report_id><date_range><begin>{begin}</begin>"
        f"<end>{end}</end></date_range></report_metadata><policy_published>"
        f"<domain>{domain}</domain><p>none</p></policy_published>{records}</feedback>"
    ).encode()


def _ingest(tenant_id: int, data: bytes) -> None:
    raw = reports.receive(data, source="upload", filename="r.xml", tenant_id=tenant_id)
    reports.process_raw(raw.id)


def _day(days_ago: int) -> datetime:
    now = utcnow()
    return datetime.combine(now.date() - timedelta(days=days_ago), datetime.min.time(), now.tzinfo)


def test_only_the_domains_failing_records_of_the_window_are_read(db_session: Any) -> None:
    domain = make_domain(make_tenant(), "fwd-reads.test")
    other = make_domain(make_tenant(), "fwd-reads.test.example")
    _ingest(domain.tenant_id, _report(domain.name, _day(1), "in"))
    _ingest(domain.tenant_id, _report(domain.name, _day(30), "old"))  # outside the window
    _ingest(other.tenant_id, _report(other.name, _day(1), "other"))  # another tenant's domain
    today = utcnow().date()

    found = failing_records(domain.id, today - timedelta(days=7), today)

    assert found.domain == "fwd-reads.test"
    by_ip = {r.sender.removeprefix("ip:"): r for r in found.records}
    assert set(by_ip) == {"198.51.100.21", "203.0.113.66"}
    listed = by_ip["198.51.100.21"]
    assert isinstance(listed, FailingRecord)
    assert listed.dkim == (("fwd-reads.test", "s1", "fail"),)
    assert (listed.spf_domain, listed.spf_result) == ("lists.example.org", "pass")
    assert listed.header_from == "fwd-reads.test"
    assert any("mailing_list" in reason for reason in listed.reasons)
    assert by_ip["203.0.113.66"].dkim == ()


def test_the_read_is_capped_and_an_unknown_domain_is_not_found(db_session: Any) -> None:
    domain = make_domain(make_tenant(), "fwd-cap.test")
    _ingest(domain.tenant_id, _report(domain.name, _day(1), "cap"))
    today = utcnow().date()
    assert len(failing_records(domain.id, today - timedelta(days=7), today, limit=1).records) == 1
    with pytest.raises(NotFound):
        failing_records(2**31 - 1, date(2026, 1, 1), today)
