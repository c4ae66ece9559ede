"""The pipeline against PostgreSQL: roll-ups, per-day split, senders named through a real DNS
server (knot), what the policy engine reads, TLS and failure reports, bad files kept."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from msp.extensions import db
from msp.reports import enrichment, parsing, reverse_dns, service
from msp.reports.models import FailureReportRow, RawReport, ReportDaily, Sender, TlsResult
from msp.reports.senders import SenderIdentifier
from tests.factories import make_domain, make_tenant
from tests.reports.corpus import CORPUS
from tests.reports.hostile import build_report, gzip_bomb, report_xml, row, zip_of
from tests.support.dns_server import KnotServer, zone

PTR_ZONE = zone(
    "2.0.192.in-addr.arpa",
    [
        "10 IN PTR o1.ptr.sendgrid.net.",
        "11 IN PTR o2.ptr.sendgrid.net.",
        "20 IN PTR mail-ot1.google.com.",
    ],
)


@pytest.fixture(scope="module")
def ptr_server() -> Iterator[KnotServer]:
    with KnotServer({"2.0.192.in-addr.arpa": PTR_ZONE}) as server:
        yield server


def identifier(server: KnotServer) -> SenderIdentifier:
    return SenderIdentifier(
        catalogue=parsing.service_catalogue(),
        network=parsing.IpDatabase().lookup,
        base_domain=parsing.base_domain,
        ptr=reverse_dns.ptr_resolver(["127.0.0.1"], server.port, timeout=1.0),
    )


def ingest(data: bytes, name: str = "r.xml") -> list[service.Outcome]:
    return service.ingest_now(data, source="cli", filename=name)[1]


def test_senders_are_named_by_reverse_dns_and_feed_the_policy_reads(
    domain: Any, ptr_server: KnotServer
) -> None:
    first = build_report(
        domain.name,
        [
            row("192.0.2.10", 40, selector="s1"),
            row("192.0.2.11", 10, spf=False, selector="s2"),
            row("192.0.2.20", 5, selector="google"),
            row("198.51.100.9", 3, dkim=False, spf=False),
        ],
        report_id="a-1",
        org="google.com",
    )
    second = build_report(domain.name, [row("192.0.2.10", 7)], report_id="b-1", org="yahoo.com")
    reports = [o.report_pk for o in ingest(first) + ingest(second)]
    ident = identifier(ptr_server)
    results = [enrichment.enrich_report(pk, ident, budget_seconds=10) for pk in reports if pk]
    assert results[0].incomplete == 0
    assert set(results[0].new_senders) == {"sendgrid.net", "google.com", "ip:198.51.100.9"}
    stats = {s.key: s for s in service.sender_stats(domain.id, date(2025, 1, 1), date(2025, 1, 1))}
    sendgrid = stats["sendgrid.net"]
    assert sendgrid.display_name == "Twilio SendGrid"
    assert (sendgrid.messages, sendgrid.dmarc_pass, sendgrid.spf_aligned_pass) == (57, 57, 47)
    assert sendgrid.dkim_selectors == frozenset({"s1", "s2"}) and sendgrid.is_new
    assert stats["ip:198.51.100.9"].dmarc_pass == 0
    cover = service.coverage(domain.id, date(2025, 1, 1), date(2025, 1, 31))
    assert (cover.reporters, cover.days_with_reports, cover.messages) == (2, 1, 65)
    rows = list(service.daily_rows(domain.id, date(2025, 1, 1), date(2025, 1, 31)))
    assert sum(r.count for r in rows) == 65
    assert {r.sender_key for r in rows} == set(stats)
    assert service.learnt_dkim_selectors(domain.id) == {"s1", "s2", "google"}
    events = db.session.scalar(select(func.count()).select_from(Sender))
    assert events == 3


def test_a_multi_day_report_is_split_per_day_with_an_exact_total(domain: Any) -> None:
    data = build_report(domain.name, [row("192.0.2.10", 7)], begin=1735732800, end=1735948800)
    ingest(data)
    days = dict(
        db.session.execute(
            select(ReportDaily.day, ReportDaily.messages).where(ReportDaily.domain_id == domain.id)
        ).all()
    )
    assert sum(days.values()) == 7
    assert sorted(days) == [date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3)]


def test_the_same_report_twice_is_counted_once(domain: Any) -> None:
    data = report_xml(domain=domain.name, records=4)
    assert [o.status for o in ingest(data)] == ["ingested"]
    assert [o.status for o in ingest(gzip.compress(data), "again.xml.gz")] == ["duplicate"]
    total = db.session.scalar(
        select(func.sum(ReportDaily.messages)).where(ReportDaily.domain_id == domain.id)
    )
    assert total == 20


def test_one_broken_report_in_a_zip_leaves_the_others_ingested(domain: Any) -> None:
    archive = zip_of(
        {
            "good.xml": report_xml(domain=domain.name, report_id="z-1"),
            "broken.xml": report_xml(domain=domain.name, report_id="z-2").replace(b"<count>", b""),
            "other.xml": report_xml(domain=domain.name, report_id="z-3"),
        }
    )
    raw, outcomes = service.ingest_now(archive, source="cli", filename="three.zip")
    assert [o.status for o in outcomes] == ["ingested", "rejected", "ingested"]
    assert raw.status == "ingested" and "count" in (raw.error or "")


def test_a_bomb_is_rejected_kept_and_can_be_reprocessed(domain: Any, reports_config: Any) -> None:
    reports_config["MSP_REPORTS_MAX_UNPACKED_BYTES"] = 16 * 1024 * 1024
    raw, _outcomes = service.ingest_now(
        gzip_bomb(64 * 1024 * 1024), source="cli", filename="bomb.xml.gz"
    )
    assert raw.status == "rejected" and "bomb" in (raw.error or "")
    kept = db.session.get(RawReport, raw.id)
    assert kept is not None and kept.content and len(kept.content) == raw.size
    service.reprocess(kept)
    assert kept.status == "pending"


def test_tls_report_gives_totals_and_failures_per_receiving_mx(
    db_session: Any, reports_config: Any
) -> None:
    make_domain(make_tenant("tls"), "company-y.example")
    [outcome] = ingest((CORPUS / "smtp_tls" / "rfc8460.json").read_bytes(), "tls.json")
    assert outcome.status == "ingested" and outcome.kind == "smtp_tls"
    rows = db.session.scalars(select(TlsResult).where(TlsResult.report_id == outcome.report_pk))
    by_mx = {r.mx_host: (r.successful, r.failed, r.failure_types) for r in rows}
    assert by_mx[None] == (
        5326,
        303,
        {"certificate-expired": 100, "starttls-not-supported": 200, "validation-failure": 3},
    )
    assert by_mx["mx2.mail.company-y.example"] == (0, 200, {"starttls-not-supported": 200})
    domain_id = outcome.domain_id
    assert domain_id is not None
    summary = {
        s.mx_host: s for s in service.tls_summary(domain_id, date(2016, 4, 1), date(2016, 4, 1))
    }
    assert summary[None].successful == 5326 and summary[None].failed == 303
    assert summary["mx1.mail.company-y.example"].failure_types == {"certificate-expired": 100}


FAILURE = CORPUS / "forensic" / "dmarc_ruf_report_linkedin.eml"


@pytest.mark.parametrize("keep", [False, True])
def test_failure_reports_are_redacted_unless_the_tenant_keeps_them(
    db_session: Any, reports_config: Any, keep: bool
) -> None:
    settings = {"failure_reports_redacted": False} if keep else {}
    make_domain(make_tenant("ruf", settings=settings), "example.com")
    [outcome] = ingest(FAILURE.read_bytes(), "ruf.eml")
    stored = db.session.scalars(select(FailureReportRow)).one()
    assert outcome.kind == "failure" and stored.redacted is not keep
    if keep:
        assert stored.subject and stored.header_from == "sender@example.com"
    else:
        assert stored.subject is None and stored.sample_headers is None
        assert stored.header_from == "***@example.com"
    assert json.dumps(stored.auth_failure) == '["dmarc"]'


def test_raw_bytes_can_live_in_a_filesystem_store(
    domain: Any, reports_config: Any, tmp_path: Path
) -> None:
    reports_config["MSP_REPORTS_STORE"] = str(tmp_path)
    raw, outcomes = service.ingest_now(
        report_xml(domain=domain.name), source="cli", filename="fs.xml"
    )
    assert outcomes[0].status == "ingested"
    assert raw.content is None and raw.storage_key
    assert len(list(tmp_path.rglob("*.gzip"))) == 1
