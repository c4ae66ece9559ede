"""The per-domain summaries the pages read (``report_domain_day``, ``report_domain_latest``) are
written by the same ingestion as the roll-ups and agree with them, whatever path a report takes
(streamed in chunks on PostgreSQL, one day or several); the unknown-sender count follows the
enrichment and the tenant's verdicts; sender history comes from the sender summary."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import func, select, update

from msp.extensions import db
from msp.reports import batch, enrichment, service, sink, summaries
from msp.reports.models import (
    IpInfo,
    ReportDaily,
    ReportDomainDay,
    ReportDomainLatest,
    ReportSenderDay,
    Sender,
)
from msp.reports.queries import coverage, sender_page
from msp.tenancy.models import Tenant
from tests.factories import make_domain
from tests.reports.test_write_path import THREE_DAYS, big_report


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sink, "CHUNK_ROWS", 7)
    monkeypatch.setattr(sink, "CHUNK_TOTALS", 5)


def summary(domain_id: int) -> dict[date, tuple[int, int, int]]:
    rows = db.session.execute(
        select(
            ReportDomainDay.day,
            ReportDomainDay.messages,
            ReportDomainDay.passed,
            ReportDomainDay.unknown,
        ).where(ReportDomainDay.domain_id == domain_id)
    )
    return {day: (int(m), int(p), int(u)) for day, m, p, u in rows}


def from_roll_up(domain_id: int) -> dict[date, tuple[int, int]]:
    passed = ReportDaily.spf_aligned | ReportDaily.dkim_aligned
    rows = db.session.execute(
        select(ReportDaily.day, ReportDaily.messages, passed).where(
            ReportDaily.domain_id == domain_id
        )
    )
    totals: Counter[date] = Counter()
    passes: Counter[date] = Counter()
    for day, messages, ok in rows:
        totals[day] += messages
        passes[day] += messages if ok else 0
    return {day: (totals[day], passes[day]) for day in totals}


def last_day(domain_id: int) -> date | None:
    return db.session.scalar(
        select(ReportDomainLatest.last_day).where(ReportDomainLatest.domain_id == domain_id)
    )


def test_streamed_and_multi_day_reports_keep_the_day_summary_equal_to_the_roll_up(
    domain: Any, small_chunks: None
) -> None:
    big = big_report(domain.name, 300, pad=batch.SMALL_BYTES)  # streamed, many chunks
    [(_raw, [one_day])] = service.ingest_files([("big.xml", big)], source="cli")
    service.ingest_now(
        big_report(domain.name, 200, report_id="wp-2", span=THREE_DAYS),
        source="cli",
        filename="three.xml",
    )
    assert one_day.status == "ingested"
    expected = from_roll_up(domain.id)
    assert set(expected) == {date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3)}
    # Nothing is named before the enrichment: every message is from an unknown sender.
    assert summary(domain.id) == {day: (m, p, m) for day, (m, p) in expected.items()}
    assert last_day(domain.id) == date(2025, 1, 3)

    # The same report again is a duplicate: the summary does not move.
    service.ingest_files([("again.xml", big)], source="cli")
    assert summary(domain.id) == {day: (m, p, m) for day, (m, p) in expected.items()}
    cov = coverage(domain.id, date(2025, 1, 1), date(2025, 1, 31))
    assert (cov.days_with_reports, cov.messages) == (3, sum(m for m, _ in expected.values()))
    assert cov.reporters == 1


def test_a_verdict_and_the_enrichment_recount_the_unknown_sender_messages(
    domain: Any, app: Any
) -> None:
    data = big_report(domain.name, 60)
    [(_raw, [outcome])] = service.ingest_files([("r.xml", data)], source="cli")
    assert outcome.report_pk is not None
    enrichment.enrich_reports([outcome.report_pk], enrichment.identifier_from_config(), 5.0)
    day = date(2025, 1, 1)
    messages, _passed, unknown = summary(domain.id)[day]
    assert unknown == messages  # named now, but nobody has approved anyone yet

    page = sender_page(domain.id, day, day, limit=50)
    busiest = page.items[0]
    service.set_sender_status(domain, busiest.key, "approved")
    assert summary(domain.id)[day][2] == messages - busiest.messages
    service.set_sender_status(domain, busiest.key, "unknown")
    assert summary(domain.id)[day][2] == messages

    # The same again after a second enrichment (safe to run twice): still exact.
    service.set_sender_status(domain, busiest.key, "abuse")
    enrichment.enrich_reports([outcome.report_pk], enrichment.identifier_from_config(), 5.0)
    assert summary(domain.id)[day][2] == messages - busiest.messages


def test_sender_history_comes_from_the_sender_summary(domain: Any) -> None:
    data = big_report(domain.name, 40)
    [(_raw, [outcome])] = service.ingest_files([("r.xml", data)], source="cli")
    assert outcome.report_pk is not None
    enrichment.enrich_reports([outcome.report_pk], enrichment.identifier_from_config(), 5.0)
    day = date(2025, 1, 1)
    first = sender_page(domain.id, day, day, limit=50)
    assert first.total == len(first.items) > 0 and all(s.is_new for s in first.items)
    key = first.items[0].key
    # The summary says the sender was seen long before this window: not new, first seen then.
    db.session.execute(
        update(Sender)
        .where(Sender.domain_id == domain.id, Sender.key == key)
        .values(first_seen=date(2024, 6, 1))
    )
    again = {s.key: s for s in sender_page(domain.id, day, day, limit=50).items}
    assert again[key].first_seen == date(2024, 6, 1) and not again[key].is_new
    # A page past the end is empty but still says how many senders there are.
    past = sender_page(domain.id, day, day, limit=1, offset=len(first.items))
    assert (past.total, past.items) == (first.total, [])
    total = db.session.scalar(
        select(func.count()).select_from(Sender).where(Sender.domain_id == domain.id)
    )
    assert total == first.total


def _senders(domain_id: int, since: date, until: date) -> list[tuple[Any, ...]]:
    page = sender_page(domain_id, since, until, limit=500)
    return [
        (s.key, s.display_name, s.messages, s.dmarc_pass, s.spf_aligned_pass, s.first_seen)
        for s in page.items
    ] + [("total", page.total)]


def test_the_per_sender_day_summary_answers_like_the_roll_up(domain: Any) -> None:
    first = big_report(domain.name, 80, report_id="s-1", span=THREE_DAYS)
    [(_raw, [one])] = service.ingest_files([("one.xml", first)], source="cli")
    assert one.report_pk is not None
    since, until = date(2024, 12, 25), date(2025, 1, 10)
    from_roll_up = _senders(domain.id, since, until)  # nothing named or summarised yet
    enrichment.enrich_reports([one.report_pk], enrichment.identifier_from_config(), 5.0)
    current = db.session.scalars(
        select(ReportDomainDay.day).where(
            ReportDomainDay.domain_id == domain.id, ReportDomainDay.senders_current.is_(True)
        )
    )
    assert sorted(current) == [date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3)]
    named = _senders(domain.id, since, until)
    assert sum(row[2] for row in named[:-1]) == sum(row[2] for row in from_roll_up[:-1])
    # Forget the summary's verdict on being current: the roll-up gives the same answer.
    db.session.execute(update(ReportDomainDay).values(senders_current=False))
    assert _senders(domain.id, since, until) == named

    # A new report on a summarised day makes that day stale until its enrichment: its senders
    # count at once, and the same after the rebuild.
    db.session.execute(update(ReportDomainDay).values(senders_current=True))
    second = big_report(domain.name, 30, report_id="s-2", org="other.test", start=500)
    [(_raw, [two])] = service.ingest_files([("two.xml", second)], source="cli")
    assert two.report_pk is not None
    before = _senders(domain.id, since, until)
    assert sum(row[2] for row in before[:-1]) == sum(row[2] for row in named[:-1]) + two.messages
    enrichment.enrich_reports([two.report_pk], enrichment.identifier_from_config(), 5.0)
    assert _senders(domain.id, since, until) == before


def _at(day: date, hour: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def test_the_spans_of_a_batch_are_merged_per_domain_with_a_day_either_side() -> None:
    d1, d3, d5, d20 = date(2025, 1, 1), date(2025, 1, 3), date(2025, 1, 5), date(2025, 1, 20)
    reports = [
        (1, 10, _at(d1), _at(d1, 23)),  # one day: its midpoint's
        (1, 10, _at(d3), _at(d5)),  # 1-3 and 1-4, 1-2 .. 1-5 once widened: meets the first
        (1, 10, _at(date(2025, 1, 7)), _at(date(2025, 1, 7), 23)),  # 1-6 .. 1-8: adjacent
        (1, 10, _at(d20), _at(d20, 23)),  # far off: a span of its own
        (1, 11, _at(d1), _at(d1, 23)),  # another domain, same days
    ]
    assert sorted(summaries.merged_spans(reports)) == [
        summaries.Span(1, 10, date(2024, 12, 31), date(2025, 1, 8)),
        summaries.Span(1, 10, date(2025, 1, 19), date(2025, 1, 21)),
        summaries.Span(1, 11, date(2024, 12, 31), date(2025, 1, 2)),
    ]


def _counted_alone(domain_ids: list[int]) -> tuple[dict[Any, int], list[tuple[Any, ...]]]:
    """Each day's unknown messages and each sender day, summed here from the roll-up, the IP
    names and the verdicts: what one domain-day at a time would give."""
    judged = {
        (d, k)
        for d, k, status in db.session.execute(select(Sender.domain_id, Sender.key, Sender.status))
        if status != "unknown"
    }
    names = dict(db.session.execute(select(IpInfo.ip, IpInfo.sender_key)).all())
    labels = dict(db.session.execute(select(IpInfo.ip, IpInfo.sender_name)).all())
    unknown: Counter[Any] = Counter()
    days: dict[Any, list[Any]] = {}
    rows = db.session.execute(
        select(
            ReportDaily.domain_id,
            ReportDaily.day,
            ReportDaily.source_ip,
            ReportDaily.messages,
            ReportDaily.spf_aligned,
            ReportDaily.dkim_aligned,
        ).where(ReportDaily.domain_id.in_(domain_ids))
    )
    for domain_id, day, ip, messages, spf, dkim in rows:
        key = names.get(ip) or f"ip:{ip}"
        unknown[(domain_id, day)] += 0 if (domain_id, key) in judged else messages
        row = days.setdefault((domain_id, day, key), [labels.get(ip) or ip, 0, 0, 0, 0])
        row[0] = max(row[0], labels.get(ip) or ip)
        row[1] += messages
        row[2] += messages if spf or dkim else 0
        row[3] += messages if spf else 0
        row[4] += messages if dkim else 0
    return dict(unknown), sorted((*k, *v) for k, v in days.items())


def _as_written(domain_ids: list[int]) -> tuple[dict[Any, int], list[tuple[Any, ...]]]:
    unknown = {
        (d, day): int(u)
        for d, day, u in db.session.execute(
            select(ReportDomainDay.domain_id, ReportDomainDay.day, ReportDomainDay.unknown).where(
                ReportDomainDay.domain_id.in_(domain_ids)
            )
        )
    }
    s = ReportSenderDay
    days = db.session.execute(
        select(s.domain_id, s.day, s.key, s.name, s.messages, s.passed, s.spf, s.dkim).where(
            s.domain_id.in_(domain_ids)
        )
    )
    return unknown, sorted(tuple(row) for row in days)


def test_one_recount_for_many_domains_and_days_equals_each_day_counted_alone(
    domain: Any,
) -> None:
    other = make_domain(db.session.get_one(Tenant, domain.tenant_id), "other-reports.example")
    ids = []
    for n, (name, span, start) in enumerate(
        [
            (domain.name, (1735689600, 1735775999), 0),  # 2025-01-01
            (domain.name, (1737331200, 1737417599), 40),  # 2025-01-20: a span of its own
            (other.name, THREE_DAYS, 0),
            (other.name, (1735689600, 1735775999), 70),  # inside the other's span
        ]
    ):
        data = big_report(name, 45, report_id=f"many-{n}", span=span, start=start)
        [(_raw, [outcome])] = service.ingest_files([(f"m{n}.xml", data)], source="cli")
        assert outcome.report_pk is not None
        ids.append(outcome.report_pk)
    # Verdicts before the enrichment names the IPs: those senders' messages are not unknown.
    enrichment.enrich_reports(ids[:1], enrichment.identifier_from_config(), 5.0)
    for row in db.session.execute(select(Sender).where(Sender.domain_id == domain.id)).scalars():
        row.status = "approved" if row.id % 2 else "forwarder"
    db.session.flush()
    enrichment.enrich_reports(ids, enrichment.identifier_from_config(), 5.0)  # one batch

    domains = [domain.id, other.id]
    unknown, sender_days = _as_written(domains)
    expected_unknown, expected_days = _counted_alone(domains)
    assert unknown == {k: expected_unknown.get(k, 0) for k in unknown}
    assert set(expected_unknown) <= set(unknown)
    assert sum(unknown.values()) < sum(m for m, *_ in (r[4:] for r in sender_days))
    assert sender_days == expected_days
    # A verdict on the other domain recounts every one of its days, the first domain's untouched.
    busiest = max((r for r in sender_days if r[0] == other.id), key=lambda r: r[4])
    service.set_sender_status(other, busiest[2], "approved")
    again, _ = _as_written(domains)
    expected_again, _ = _counted_alone(domains)
    assert again == {k: expected_again.get(k, 0) for k in again}
    assert again[(other.id, busiest[1])] < unknown[(other.id, busiest[1])]
    assert {k: v for k, v in again.items() if k[0] == domain.id} == {
        k: v for k, v in unknown.items() if k[0] == domain.id
    }
