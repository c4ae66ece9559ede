"""The aggregate-report write path on PostgreSQL: records, daily roll-ups and DKIM sightings
written in chunks (streaming, COPY on a helper thread) or per batch agree with the records;
duplicates count once; a failed write leaves nothing; staging tables are reused cleanly; and
after migration 0010 the record tables still go with their domain and tenant."""

from __future__ import annotations

import gzip
import io
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from msp.domains.service import remove_domain
from msp.extensions import db
from msp.reports import batch, bulk, pipeline, service, sink
from msp.reports.aggregate import AggregateParser
from msp.reports.models import DkimSelectorSeen, Report, ReportDaily, ReportRecord
from msp.reports.rollup import report_days
from msp.reports.routing import route
from msp.tenancy.service import delete_tenant
from tests.factories import make_domain, make_tenant
from tests.reports.hostile import zip_of

ONE_DAY = (1735689600, 1735775999)  # 2025-01-01
THREE_DAYS = (1735732800, 1735948800)  # 2025-01-01 12:00 .. 2025-01-04 00:00
RECORD_TABLES = ("report_record", "report_daily", "report_dkim_selector")


def record_xml(i: int, domain: str) -> str:
    """A varied record: repeated IPs and outcomes (so keys repeat across chunks), own, sub- and
    foreign-domain signatures, passing and failing selectors."""
    ip = f"192.0.2.{i % 17}" if i % 5 else f"2001:db8::{i % 7:x}"
    dkim = "pass" if i % 3 else "fail"
    spf = "pass" if i % 4 else "fail"
    disposition = ("none", "quarantine", "reject")[i % 7 % 3]
    signers = [
        (domain, f"s{i % 4}", dkim),
        (f"mail.{domain}", "sub", "pass" if i % 2 else "fail"),
        ("esp.test", "esp", "pass"),  # not the domain's: no sighting
        (f"not{domain}", "lookalike", "pass"),  # a suffix but not a subdomain: no sighting
    ][: 1 + i % 4]
    auth = "".join(
        f"<dkim><domain>{d}</domain><selector>{s}</selector><result>{r}</result></dkim>"
        for d, s, r in signers
    )
    header_from = domain if i % 6 else f"news.{domain}"
    return (
        f"<record><row><source_ip>{ip}</source_ip><count>{1 + i % 9}</count>"
        f"<policy_evaluated><disposition>{disposition}</disposition><dkim>{dkim}</dkim>"
        f"<spf>{spf}</spf></policy_evaluated></row><identifiers><header_from>{header_from}"
        f"</header_from></identifiers><auth_results>{auth}<spf><domain>{domain}</domain>"
        f"<result>{spf}</result></spf></auth_results></record>"
    )


def big_report(
    domain: str,
    records: int,
    *,
    report_id: str = "wp-1",
    org: str = "receiver.test",
    span: tuple[int, int] = ONE_DAY,
    start: int = 0,
    pad: int = 0,
) -> bytes:
    body = "".join(record_xml(i, domain) for i in range(start, start + records))
    return (
        f'<?xml version="1.0"?><feedback><report_metadata><org_name>{org}</org_name>'
        f"<email>d@{org}</email><report_id>{report_id}</report_id><date_range><begin>{span[0]}"
        f"</begin><end>{span[1]}</end></date_range></report_metadata><policy_published>"
        f"<domain>{domain}</domain><p>none</p></policy_published>{body}"
        f"<!--{' ' * pad}--></feedback>"
    ).encode()


def parsed(data: bytes) -> list[Any]:
    return list(AggregateParser(lambda: io.BytesIO(data)).records())


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many chunks (and many queued writes) for a report of a few hundred records."""
    monkeypatch.setattr(sink, "CHUNK_ROWS", 7)
    monkeypatch.setattr(sink, "CHUNK_TOTALS", 5)


def streamed_in(data: bytes, name: str = "big.xml") -> service.Outcome:
    [outcome] = service.ingest_now(data, source="cli", filename=name)[1]
    return outcome


def record_rows(domain_id: int) -> list[Any]:
    return list(db.session.execute(select(ReportRecord).where(ReportRecord.domain_id == domain_id)))


def daily(domain_id: int) -> dict[tuple[Any, ...], int]:
    rows = db.session.execute(
        select(
            ReportDaily.day,
            ReportDaily.source_ip,
            ReportDaily.header_from,
            ReportDaily.disposition,
            ReportDaily.spf_aligned,
            ReportDaily.dkim_aligned,
            ReportDaily.messages,
        ).where(ReportDaily.domain_id == domain_id)
    )
    return {tuple(r[:-1]): r[-1] for r in rows}


def selectors(domain_id: int) -> dict[tuple[str, str, str], tuple[bool, date, date]]:
    rows = db.session.execute(
        select(
            DkimSelectorSeen.source_ip,
            DkimSelectorSeen.signing_domain,
            DkimSelectorSeen.selector,
            DkimSelectorSeen.passed,
            DkimSelectorSeen.first_seen,
            DkimSelectorSeen.last_seen,
        ).where(DkimSelectorSeen.domain_id == domain_id)
    )
    return {(r[0], r[1], r[2]): (r[3], r[4], r[5]) for r in rows}


def group_key(rec: Any) -> tuple[Any, ...]:
    return (rec.source_ip, rec.header_from, rec.disposition, rec.spf_aligned, rec.dkim_aligned)


def expected_selectors(
    records: list[Any], policy_domain: str, first: date, last: date
) -> dict[tuple[str, str, str], tuple[bool, date, date]]:
    passed: dict[tuple[str, str, str], bool] = {}
    for rec in records:
        for sig in rec.dkim:
            if sig.domain == policy_domain or sig.domain.endswith("." + policy_domain):
                key = (rec.source_ip, sig.domain, sig.selector)
                passed[key] = passed.get(key, False) or sig.result == "pass"
    return {key: (p, first, last) for key, p in passed.items()}


def test_a_large_streamed_report_writes_every_record_roll_up_and_sighting(
    domain: Any, small_chunks: None
) -> None:
    data = big_report(domain.name, 400, pad=batch.SMALL_BYTES)
    assert len(data) > batch.SMALL_BYTES
    records = parsed(data)
    messages = sum(r.count for r in records)
    # Through a batch, too: a report over SMALL_BYTES leaves the batch for the streaming path.
    [(raw, [outcome])] = service.ingest_files([("big.xml", data)], source="cli")
    assert (raw.status, outcome.status) == ("ingested", "ingested")
    assert (outcome.records, outcome.messages) == (400, messages)
    report = db.session.get(Report, outcome.report_pk)
    assert report is not None and (report.records, report.messages) == (400, messages)

    rows = record_rows(domain.id)
    assert len(rows) == 400
    assert Counter((r.source_ip, r.count) for (r,) in rows) == Counter(
        (r.source_ip, r.count) for r in records
    )
    sums: Counter[tuple[Any, ...]] = Counter()
    for (row,) in rows:
        key = (row.source_ip, row.header_from, row.disposition, row.spf_aligned, row.dkim_aligned)
        sums[(date(2025, 1, 1), *key)] += row.count
    assert daily(domain.id) == dict(sums)
    assert sum(sums.values()) == messages
    assert selectors(domain.id) == expected_selectors(
        records, domain.name, date(2025, 1, 1), date(2025, 1, 1)
    )
    assert ("192.0.2.1", "esp.test", "esp") not in selectors(domain.id)


def test_a_multi_day_report_spreads_each_groups_count_exactly_over_its_days(
    domain: Any, small_chunks: None
) -> None:
    data = big_report(domain.name, 300, span=THREE_DAYS)
    records = parsed(data)
    outcome = streamed_in(data)
    assert (outcome.status, outcome.records) == ("ingested", 300)
    assert len(record_rows(domain.id)) == 300
    days = [d for d, _share in report_days(*(datetime.fromtimestamp(t, UTC) for t in THREE_DAYS))]
    assert days == [date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3)]
    groups: Counter[tuple[Any, ...]] = Counter()
    for rec in records:
        groups[group_key(rec)] += rec.count
    spread: Counter[tuple[Any, ...]] = Counter()
    per_day: Counter[date] = Counter()
    for (day, *key), messages in daily(domain.id).items():
        assert day in days and messages > 0
        spread[tuple(key)] += messages
        per_day[day] += messages
    assert spread == groups
    assert set(per_day) == set(days)
    assert selectors(domain.id) == expected_selectors(records, domain.name, days[0], days[-1])


def snapshot(domain_id: int) -> tuple[dict[Any, int], dict[Any, Any], int]:
    return daily(domain_id), selectors(domain_id), len(record_rows(domain_id))


def ingest_both_ways(
    files: list[tuple[str, bytes]], domain_id: int, monkeypatch: pytest.MonkeyPatch, chunked: bool
) -> tuple[Any, Any]:
    """The database contents after a batch of the files, then (instead) after each streamed."""
    savepoint = db.session.begin_nested()
    done = service.ingest_files(files, source="cli")
    assert [o.status for _raw, outs in done for o in outs] == ["ingested"] * len(files)
    batched = snapshot(domain_id)
    savepoint.rollback()
    if chunked:
        monkeypatch.setattr(sink, "CHUNK_ROWS", 7)
        monkeypatch.setattr(sink, "CHUNK_TOTALS", 5)
    savepoint = db.session.begin_nested()
    for name, data in files:
        assert streamed_in(data, name).status == "ingested"
    one_by_one = snapshot(domain_id)
    savepoint.rollback()
    return batched, one_by_one


# Streamed in small chunks, or (the last) with the default chunk sizes: one chunk per report.
CONTENTS: dict[str, Callable[[str], list[tuple[str, bytes]]]] = {
    "one-day reports, small chunks": lambda name: [
        ("a.xml", big_report(name, 150, report_id="a")),
        ("b.xml", big_report(name, 90, report_id="b", org="other.test", start=40)),
    ],
    "a multi-day report, small chunks": lambda name: [
        ("m.xml", big_report(name, 150, report_id="m", span=THREE_DAYS)),
    ],
    "two multi-day reports of the same days, one chunk each": lambda name: [
        ("m1.xml", big_report(name, 30, report_id="m1", span=THREE_DAYS)),
        ("m2.xml", big_report(name, 30, report_id="m2", org="other.test", span=THREE_DAYS)),
    ],
}


@pytest.mark.parametrize("content", sorted(CONTENTS))
def test_batch_and_streaming_paths_write_identical_roll_ups_and_sightings(
    domain: Any, monkeypatch: pytest.MonkeyPatch, content: str
) -> None:
    files = CONTENTS[content](domain.name)
    assert all(len(data) <= batch.SMALL_BYTES for _n, data in files)  # the batch defers them
    chunked = content.endswith("small chunks")
    batched, one_by_one = ingest_both_ways(files, domain.id, monkeypatch, chunked)
    assert batched[2] == one_by_one[2] == sum(len(parsed(d)) for _n, d in files)
    assert batched[1] == one_by_one[1]
    assert batched[0] == one_by_one[0]


def test_a_report_twice_in_a_batch_and_again_later_is_counted_once(domain: Any) -> None:
    data = big_report(domain.name, 25, report_id="twice")
    messages = sum(r.count for r in parsed(data))
    first = service.ingest_files([("a.xml", data), ("a.xml.gz", gzip.compress(data))], source="cli")
    assert [o.status for _raw, outs in first for o in outs] == ["ingested", "duplicate"]
    assert [raw.status for raw, _outs in first] == ["ingested", "duplicate"]
    later = service.ingest_files([("a.zip", zip_of({"a.xml": data}))], source="cli")
    assert [o.status for _raw, outs in later for o in outs] == ["duplicate"]
    assert streamed_in(data, "again.xml").status == "duplicate"
    count = db.session.scalar(
        select(func.count()).select_from(Report).where(Report.domain_id == domain.id)
    )
    assert count == 1
    assert len(record_rows(domain.id)) == 25
    assert sum(daily(domain.id).values()) == messages


def no_trace(domain_id: int) -> None:
    assert db.session.scalar(select(func.count()).where(Report.domain_id == domain_id)) == 0
    assert record_rows(domain_id) == []
    assert daily(domain_id) == {} and selectors(domain_id) == {}


def claim(domain: Any, report_id: str) -> tuple[int, sink.Target]:
    """A report row claimed as ingest_aggregate claims it, and where its records go."""
    header = AggregateParser(lambda: io.BytesIO(big_report(domain.name, 1))).header
    fields = pipeline.report_fields(header, 0) | {"raw_id": None}
    pk = pipeline.claim_report(
        "aggregate", "receiver.test", report_id, domain.name, route(domain.name), **fields
    )
    assert pk is not None
    return pk, sink.target(domain.tenant_id, domain.id, pk, domain.name, header.begin, header.end)


def boom(_conn: Any, *_args: Any) -> None:
    raise RuntimeError("write failed")


def copy_into_missing_table(conn: Any, *_args: Any) -> None:
    bulk.copy_rows(conn, "no_such_table", ("a",), [(1,)])


@pytest.mark.parametrize(
    ("failing", "error"),
    [(boom, RuntimeError), (copy_into_missing_table, bulk.BulkWriteError)],
    ids=["raising-function", "copy-into-missing-table"],
)
def test_a_failed_background_write_surfaces_and_its_savepoint_leaves_nothing(
    domain: Any, small_chunks: None, failing: Callable[..., None], error: type[Exception]
) -> None:
    records = parsed(big_report(domain.name, 60))
    with pytest.raises(error), db.session.begin_nested():
        _pk, to = claim(domain, "fails")
        with bulk.BackgroundWriter(bulk.connection()) as writer:
            out = sink.RecordSink(writer, postgresql=True)
            for rec in records[:30]:
                out.add(rec, to)  # several chunks already queued or written
            writer.submit(failing)
            for rec in records[30:]:
                out.add(rec, to)
            out.close()
    no_trace(domain.id)
    assert db.session.execute(sa.text("SELECT 1")).scalar_one() == 1
    assert streamed_in(big_report(domain.name, 60, report_id="after")).status == "ingested"
    assert len(record_rows(domain.id)) == 60


def test_the_callers_error_wins_and_pending_writes_finish_before_the_rollback(
    domain: Any,
) -> None:
    records = parsed(big_report(domain.name, 20))
    with pytest.raises(KeyError), db.session.begin_nested():
        _pk, to = claim(domain, "caller-fails")
        with bulk.BackgroundWriter(bulk.connection()) as writer:
            out = sink.RecordSink(writer, postgresql=True)
            for rec in records:
                out.add(rec, to)
            out.close()
            raise KeyError("parse failed")
    no_trace(domain.id)
    assert db.session.execute(sa.text("SELECT 1")).scalar_one() == 1


def test_a_failing_chunk_during_ingest_leaves_nothing_of_that_report(
    domain: Any, small_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = Counter[str]()

    def fail_on_second_daily(conn: Any, rows: Any) -> None:
        calls["daily"] += 1
        if calls["daily"] == 2:
            raise RuntimeError("roll-up write failed")
        sink_write_daily(conn, rows)

    sink_write_daily = sink.write_daily
    monkeypatch.setattr(sink, "write_daily", fail_on_second_daily)
    raw, outcomes = service.ingest_now(big_report(domain.name, 120), source="cli", filename="x.xml")
    assert [o.status for o in outcomes] == ["rejected"] and raw.status == "rejected"
    assert raw.error == "unexpected error while reading the file (RuntimeError)"
    assert calls["daily"] >= 2
    no_trace(domain.id)
    monkeypatch.setattr(sink, "write_daily", sink_write_daily)
    assert streamed_in(big_report(domain.name, 120, report_id="ok")).status == "ingested"
    assert len(record_rows(domain.id)) == 120


def daily_rows(domain: Any, n: int, offset: int) -> list[tuple[Any, ...]]:
    """``n`` roll-up rows of one message each, for distinct addresses from ``offset`` on."""
    return [
        (
            domain.tenant_id,
            domain.id,
            date(2025, 2, 1),
            f"10.{(offset + i) // 65536 % 256}.{(offset + i) // 256 % 256}.{(offset + i) % 256}",
            domain.name,
            "none",
            True,
            True,
            1,
        )
        for i in range(n)
    ]


def upsert_daily(domain: Any, n: int, offset: int) -> set[str]:
    """The additive roll-up upsert, through copy_upsert; the addresses it touched."""
    touched = bulk.copy_upsert(
        bulk.connection(),
        "report_daily",
        (*sink.DAILY_KEY, "messages"),
        daily_rows(domain, n, offset),
        conflict=sink.DAILY_KEY,
        set_sql="UPDATE SET messages = t.messages + EXCLUDED.messages",
        returning="t.source_ip",
    )
    return {ip for (ip,) in touched}


def addresses(domain: Any, n: int, offset: int) -> set[str]:
    return {row[3] for row in daily_rows(domain, n, offset)}


@pytest.mark.parametrize(
    ("first", "second"),
    [(10, 10), (2500, 2500), (2500, 10), (10, 2500)],
    ids=["small-small", "large-large", "large-small", "small-large"],
)
def test_copy_upsert_twice_in_a_transaction_sees_no_leftovers(
    domain: Any, first: int, second: int
) -> None:
    assert upsert_daily(domain, first, 0) == addresses(domain, first, 0)
    # Other keys: a row left in the staging table would be upserted (and returned) again.
    assert upsert_daily(domain, second, 100_000) == addresses(domain, second, 100_000)
    got = daily(domain.id)
    assert len(got) == first + second and set(got.values()) == {1}
    assert upsert_daily(domain, first, 0) == addresses(domain, first, 0)  # same keys add up
    assert sum(daily(domain.id).values()) == 2 * first + second
    sink.write_daily(bulk.connection(), daily_rows(domain, 3, 200_000))  # the sink's own call
    assert sum(daily(domain.id).values()) == 2 * first + second + 3


def test_copy_upsert_after_a_rolled_back_savepoint_that_created_its_staging_table(
    domain: Any,
) -> None:
    total = 0
    for round_ in range(8):  # past psycopg's prepare threshold (5) too
        size = 2500 if round_ % 2 else 10
        savepoint = db.session.begin_nested()
        upsert_daily(domain, size, 0)
        savepoint.rollback()  # the first round's takes the staging table made in it away
        assert sum(daily(domain.id).values()) == total
        offset = 500_000 + round_ * 3000
        assert upsert_daily(domain, size, offset) == addresses(domain, size, offset)
        total += size
    got = daily(domain.id)
    assert len(got) == total == 4 * 2500 + 4 * 10 and set(got.values()) == {1}


def test_a_failed_copy_upsert_leaves_nothing_for_the_next_one(domain: Any) -> None:
    rows = daily_rows(domain, 5, 0)
    with pytest.raises(bulk.BulkWriteError) as failed, db.session.begin_nested():
        # the same key twice: PostgreSQL refuses to update a row twice, after the COPY
        sink.write_daily(bulk.connection(), rows + rows[:1])
    assert isinstance(failed.value.__cause__, psycopg.errors.CardinalityViolation)
    assert upsert_daily(domain, 5, 1000) == addresses(domain, 5, 1000)
    assert sum(daily(domain.id).values()) == 5


def test_batch_claims_return_only_new_reports_when_run_twice(domain: Any) -> None:
    files = [(f"r{i}.xml", big_report(domain.name, 3, report_id=f"c{i}")) for i in range(5)]
    service.ingest_files(files[:3], source="cli")
    done = service.ingest_files(files, source="cli")
    statuses = [o.status for _raw, outs in done for o in outs]
    assert statuses == ["duplicate"] * 3 + ["ingested"] * 2
    assert len(record_rows(domain.id)) == 15


# --- migration 0010 --------------------------------------------------------------------------


def test_record_tables_have_no_foreign_keys_and_delete_triggers_cascade_instead(
    db_session: Any,
) -> None:
    inspector = sa.inspect(db.session.connection())
    for table in RECORD_TABLES:
        assert inspector.get_foreign_keys(table) == [], table
        assert "tenant_id" in {c["name"] for c in inspector.get_columns(table)}
    triggers = db.session.execute(
        sa.text(
            "SELECT event_object_table, action_timing, event_manipulation"
            " FROM information_schema.triggers WHERE trigger_name LIKE '%delete_report_rows'"
        )
    ).all()
    assert sorted(triggers) == [("domain", "AFTER", "DELETE"), ("report", "AFTER", "DELETE")]


def counts(domain_id: int) -> tuple[int, int, int]:
    return len(record_rows(domain_id)), len(daily(domain_id)), len(selectors(domain_id))


def test_deleting_a_domain_or_a_tenant_removes_its_records_roll_ups_and_sightings(
    db_session: Any, reports_config: Any
) -> None:
    tenant, other = make_tenant("goes-away"), make_tenant("stays")
    gone, kept, elsewhere = (
        make_domain(tenant, "gone.example"),
        make_domain(tenant, "kept.example"),
        make_domain(other, "else.example"),
    )
    for d in (gone, kept, elsewhere):
        assert streamed_in(big_report(d.name, 12, report_id=d.name)).status == "ingested"
        assert min(counts(d.id)) > 0
    remove_domain(gone)
    db.session.flush()
    assert counts(gone.id) == (0, 0, 0)
    assert min(counts(kept.id)) > 0
    kept_id, tenant_id = kept.id, tenant.id
    delete_tenant(tenant)
    db.session.flush()
    assert counts(kept_id) == (0, 0, 0)
    for model in (ReportRecord, ReportDaily, DkimSelectorSeen):
        left = select(func.count()).select_from(model).where(model.tenant_id == tenant_id)
        assert db.session.scalar(left) == 0, model
    assert min(counts(elsewhere.id)) > 0


@pytest.fixture
def raw_sql_cascade(db_session: Any, reports_config: Any) -> Iterator[tuple[Any, Any]]:
    tenant = make_tenant("sql-delete")
    d = make_domain(tenant, "sql.example")
    assert streamed_in(big_report(d.name, 8, report_id="sql")).status == "ingested"
    yield tenant, d


def test_a_plain_sql_delete_of_the_tenant_cascades_to_the_record_tables(
    raw_sql_cascade: tuple[Any, Any],
) -> None:
    tenant, d = raw_sql_cascade
    domain_id = d.id
    db.session.execute(sa.text("DELETE FROM tenant WHERE id = :id"), {"id": tenant.id})
    db.session.expunge_all()
    assert counts(domain_id) == (0, 0, 0)


# --- fallbacks and process-wide settings ------------------------------------------------------


def test_a_batch_whose_bulk_write_fails_is_processed_file_by_file(
    domain: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A driver error in the batch's COPY is an SQLAlchemy error: the batch rolls back to its
    savepoint and every file is processed on its own, so a transient failure loses nothing."""
    real = sink.write_daily
    calls = Counter[str]()

    def fails_once(conn: Any, rows: Any) -> None:
        calls["daily"] += 1
        if calls["daily"] == 1:
            bulk.copy_rows(conn, "no_such_table", ("a",), [(1,)])
        real(conn, rows)

    monkeypatch.setattr(sink, "write_daily", fails_once)
    files = [(f"f{i}.xml", big_report(domain.name, 4, report_id=f"fb{i}")) for i in range(3)]
    done = service.ingest_files(files, source="cli")
    assert [raw.status for raw, _ in done] == ["ingested"] * 3
    assert calls["daily"] == 1 + 3  # the failed batch, then one write per file
    assert db.session.scalar(select(func.count()).select_from(Report)) == 3
    assert sum(daily(domain.id).values()) == sum(
        r.count for data in (f[1] for f in files) for r in parsed(data)
    )


def test_gc_relaxation_nested_in_threads_restores_the_thresholds() -> None:
    import gc
    import threading

    before = gc.get_threshold()
    inside = threading.Event()
    release = threading.Event()

    def other_thread() -> None:
        with pipeline.fewer_gc_passes():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other_thread)
    with pipeline.fewer_gc_passes():
        thread.start()
        assert inside.wait(5)
        assert gc.get_threshold()[0] >= 50_000
    assert gc.get_threshold()[0] >= 50_000  # the other thread still ingests
    release.set()
    thread.join(5)
    assert gc.get_threshold() == before
