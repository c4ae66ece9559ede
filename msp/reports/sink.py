"""Where parsed aggregate records go: report_record rows, daily roll-ups, the per-domain day
summary and DKIM selectors.

A :class:`RecordSink` takes records one at a time (with the report they belong to), turns each
into a ``report_record`` row, adds its messages to the daily roll-up (and, summed per domain
and day, to ``report_domain_day``, the summary the pages read) and its signatures to the
selector sightings, and hands full chunks to a writer. Roll-ups and sightings are summed in
memory and upserted additively (messages add up; passed/first/last widen), so writing them in
several chunks gives the same result as writing them once. A report spanning several days has
each of its groups spread over its days once, when the sink closes (``rollup.split_count``:
exact totals, the same rounding as splitting the report on its own).

On PostgreSQL the chunks go through COPY, on a :class:`~msp.reports.bulk.BackgroundWriter` when
the caller streams a large report; elsewhere (SQLite) through SQLAlchemy statements.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

from sqlalchemy import func, insert

from msp.extensions import db
from msp.reports import bulk, rollup
from msp.reports.models import (
    DkimSelectorSeen,
    ReportDaily,
    ReportDomainDay,
    ReportDomainLatest,
    ReportRecord,
)
from msp.reports.records import Record

RECORD_COLUMNS = (
    "tenant_id",
    "report_id",
    "domain_id",
    "source_ip",
    "count",
    "disposition",
    "dkim_aligned",
    "spf_aligned",
    "header_from",
    "envelope_from",
    "envelope_to",
    "spf_domain",
    "spf_result",
    "dkim",
    "reasons",
)
DAILY_KEY = tuple(c.name for c in ReportDaily.__table__.primary_key)
DOMAIN_DAY_KEY = ("tenant_id", "domain_id", "day")
DOMAIN_DAY_COLUMNS = (*DOMAIN_DAY_KEY, "messages", "passed", "unknown", "senders_current")
SELECTOR_COLUMNS = (
    *(c.name for c in DkimSelectorSeen.__table__.primary_key),
    "passed",
    "first_seen",
    "last_seen",
)
CHUNK_ROWS = 10_000
CHUNK_TOTALS = 25_000

Days = tuple[tuple[date, float], ...]


@dataclass(frozen=True, slots=True)
class Target:
    """The report records belong to: ids, its own domain and the days it covers."""

    tenant_id: int
    domain_id: int
    report_pk: int
    policy_domain: str
    days: Days
    first_day: date
    last_day: date


def target(
    tenant_id: int, domain_id: int, report_pk: int, policy_domain: str, begin: Any, end: Any
) -> Target:
    days = tuple(rollup.report_days(begin, end))
    return Target(tenant_id, domain_id, report_pk, policy_domain, days, days[0][0], days[-1][0])


class RecordSink:
    """Collects rows, roll-ups and sightings; writes them in chunks through ``writer``."""

    def __init__(self, writer: Any, *, postgresql: bool) -> None:
        self._writer = writer
        self._pg = postgresql
        self._rows: list[tuple[Any, ...]] = []
        self._totals: dict[tuple[Any, ...], int] = {}
        # Multi-day reports: held until the end (a report's group is split over its days as a
        # whole, as a one-statement roll-up would; splitting chunk by chunk rounds differently).
        self._spread: dict[tuple[Any, ...], int] = {}
        self._selectors: dict[tuple[Any, ...], list[Any]] = {}
        self._json: dict[tuple[Any, ...], str] = {(): "[]"}
        self.records = 0
        self.messages = 0

    def add(self, rec: Record, to: Target) -> None:
        source_ip, count, disposition, dkim_eval, spf_eval, reasons, header_from = rec[:7]
        envelope_from, envelope_to, dkim, spf = rec[7:]
        self.records += 1
        self.messages += count
        if len(disposition) > 16 or len(header_from) > 253:
            disposition, header_from = disposition[:16], header_from[:253]
        dkim_aligned = dkim_eval == "pass"
        spf_aligned = spf_eval == "pass"
        last_spf = spf[-1] if spf else None
        dkim_json = self._json.get(dkim)
        if dkim_json is None:
            dkim_json = self._as_json(dkim)
        self._rows.append(
            (
                to.tenant_id,
                to.report_pk,
                to.domain_id,
                source_ip,
                count,
                disposition,
                dkim_aligned,
                spf_aligned,
                header_from,
                envelope_from[:253] if envelope_from else None,
                envelope_to[:253] if envelope_to else None,
                last_spf.domain[:253] if last_spf else None,
                last_spf.result[:16] if last_spf else None,
                dkim_json,
                self._as_json(reasons) if reasons else "[]",
            )
        )
        if to.first_day == to.last_day:  # nearly every report: one day, counts just add up
            day_key: tuple[Any, ...] = (to.tenant_id, to.domain_id, to.first_day, source_ip)
            day_key += (header_from, disposition, spf_aligned, dkim_aligned)
            self._totals[day_key] = self._totals.get(day_key, 0) + count
        else:  # spread over its days once per report and group, when the report is complete
            key: tuple[Any, ...] = (to.report_pk, to.days, to.tenant_id, to.domain_id)
            key += (source_ip, header_from, disposition, spf_aligned, dkim_aligned)
            self._spread[key] = self._spread.get(key, 0) + count
        own = to.policy_domain
        for sig in dkim:
            if sig.domain == own or sig.domain.endswith("." + own):
                self._sighting(source_ip, sig.domain, sig.selector, sig.result == "pass", to)
        if len(self._rows) >= CHUNK_ROWS:
            self._write_rows()
        if len(self._totals) >= CHUNK_TOTALS or len(self._selectors) >= CHUNK_TOTALS:
            self._write_totals()

    def close(self) -> None:
        """Hand over everything still held (the writer still has to be closed)."""
        self._write_rows()  # records first: nothing reads them back, but keep the order plain
        for key, total in self._spread.items():
            report_days, group = key[1], key[2:]
            for day, count in rollup.split_count(total, list(report_days)):
                day_key = (*group[:2], day, *group[2:])
                self._totals[day_key] = self._totals.get(day_key, 0) + count
        self._spread = {}
        self._write_totals()

    def _as_json(self, value: tuple[Any, ...]) -> str:
        """JSON of DKIM results (at most 20) or reasons (at most 10), remembered per value."""
        text = self._json.get(value)
        if text is None:
            text = _json_array(value)
            if len(self._json) < 10_000:
                self._json[value] = text
        return text

    def _sighting(self, ip: str, domain: str, selector: str, passed: bool, to: Target) -> None:
        key = (to.tenant_id, to.domain_id, ip, domain[:253], selector[:255])
        seen = self._selectors.get(key)
        if seen is None:
            self._selectors[key] = [passed, to.first_day, to.last_day]
            return
        if passed:
            seen[0] = True
        if to.first_day < seen[1]:
            seen[1] = to.first_day
        if to.last_day > seen[2]:
            seen[2] = to.last_day

    def _write_rows(self) -> None:
        if self._rows:
            rows, self._rows = self._rows, []
            self._writer.submit(write_records if self._pg else _insert_records, rows)

    def _write_totals(self) -> None:
        if self._totals:
            daily = [(*k, v) for k, v in self._totals.items()]
            self._totals = {}
            # The writer adds the chunk's day summaries too (one hand-over per chunk: the
            # parser process sends only the write names it knows).
            self._writer.submit(write_daily if self._pg else _upsert_daily, daily)
        if self._selectors:
            sightings = [(*k, *v) for k, v in self._selectors.items()]
            self._selectors = {}
            self._writer.submit(write_selectors if self._pg else _upsert_selectors, sightings)


def add_daily_rows(rows: Sequence[tuple[Any, ...]]) -> None:
    """Add roll-up rows ``(*DAILY_KEY, messages)`` exactly as the ingestion does, summaries
    included, in the session's transaction (for data made outside a report: seeds, tests)."""
    if str(db.session.get_bind().dialect.name) == "postgresql":
        db.session.flush()
        write_daily(bulk.connection(), rows)
    else:
        _upsert_daily(None, rows)


def domain_days(daily: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Roll-up rows summed per (tenant, domain, day): messages, passing, unknown-sender.

    Every message counts as from an unknown sender here, and the day's sender summary is no
    longer current: the ingestion does not name IPs (the enrichment does, then recounts and
    rebuilds the days it named: :mod:`msp.reports.summaries`).
    """
    sums: dict[tuple[Any, ...], list[int]] = {}
    for tenant_id, domain_id, day, _ip, _from, _disp, spf, dkim, messages in daily:
        entry = sums.get((tenant_id, domain_id, day))
        if entry is None:
            entry = sums[(tenant_id, domain_id, day)] = [0, 0]
        entry[0] += messages
        if spf or dkim:
            entry[1] += messages
    # In key order: two ingestions adding to the same domains lock their rows in one order.
    return [(*key, total, passed, total, False) for key, (total, passed) in sorted(sums.items())]


def latest_days(days: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Per (tenant, domain) of :func:`domain_days` rows: the last day, in key order."""
    last: dict[tuple[Any, Any], Any] = {}
    for tenant_id, domain_id, day, *_ in days:
        seen = last.get((tenant_id, domain_id))
        if seen is None or day > seen:
            last[(tenant_id, domain_id)] = day
    return [(*key, day) for key, day in sorted(last.items())]


def _json_array(value: tuple[Any, ...]) -> str:
    """``json.dumps`` of DKIM results (as arrays, at most 20) or reasons (at most 10)."""
    if value and isinstance(value[0], tuple):
        items = ("[" + ",".join(map(_quote, item)) + "]" for item in value[:20])
    else:
        items = (_quote(item) for item in value[:10])
    return "[" + ",".join(items) + "]"


# --- PostgreSQL ----------------------------------------------------------------------------


def write_records(conn: Any, rows: Sequence[tuple[Any, ...]]) -> None:
    bulk.copy_rows(conn, "report_record", RECORD_COLUMNS, rows)


def write_daily(conn: Any, rows: Sequence[tuple[Any, ...]]) -> None:
    """Roll-up rows, then their sums per domain and day (the pages' summaries)."""
    bulk.copy_upsert(
        conn,
        "report_daily",
        (*DAILY_KEY, "messages"),
        rows,
        conflict=DAILY_KEY,
        set_sql="UPDATE SET messages = t.messages + EXCLUDED.messages",
    )
    days = domain_days(rows)
    write_domain_days(conn, days)
    write_latest(conn, latest_days(days))


def write_domain_days(conn: Any, rows: Sequence[tuple[Any, ...]]) -> None:
    bulk.copy_upsert(
        conn,
        "report_domain_day",
        DOMAIN_DAY_COLUMNS,
        rows,
        conflict=DOMAIN_DAY_KEY,
        set_sql="UPDATE SET messages = t.messages + EXCLUDED.messages, "
        "passed = t.passed + EXCLUDED.passed, unknown = t.unknown + EXCLUDED.unknown, "
        "senders_current = FALSE",
    )


def write_latest(conn: Any, rows: Sequence[tuple[Any, ...]]) -> None:
    bulk.copy_upsert(
        conn,
        "report_domain_latest",
        ("tenant_id", "domain_id", "last_day"),
        rows,
        conflict=("tenant_id", "domain_id"),
        set_sql="UPDATE SET last_day = GREATEST(t.last_day, EXCLUDED.last_day)",
    )


def write_selectors(conn: Any, rows: Sequence[tuple[Any, ...]]) -> None:
    bulk.copy_upsert(
        conn,
        "report_dkim_selector",
        SELECTOR_COLUMNS,
        rows,
        conflict=SELECTOR_COLUMNS[:5],
        set_sql="UPDATE SET passed = t.passed OR EXCLUDED.passed, "
        "first_seen = LEAST(t.first_seen, EXCLUDED.first_seen), "
        "last_seen = GREATEST(t.last_seen, EXCLUDED.last_seen)",
    )


# --- other databases (SQLite): SQLAlchemy statements ----------------------------------------


def _insert_records(_conn: Any, rows: Sequence[tuple[Any, ...]]) -> None:
    items = []
    for row in rows:
        item = dict(zip(RECORD_COLUMNS, row, strict=True))
        item["dkim"], item["reasons"] = json.loads(item["dkim"]), json.loads(item["reasons"])
        items.append(item)
    db.session.execute(insert(ReportRecord), items)


def _upsert_daily(_conn: Any, rows: Sequence[tuple[Any, ...]]) -> None:
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    stmt = sqlite_insert(ReportDaily)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(DAILY_KEY),
        set_={"messages": ReportDaily.messages + stmt.excluded.messages},
    )
    db.session.execute(stmt, [dict(zip((*DAILY_KEY, "messages"), r, strict=True)) for r in rows])
    days = domain_days(rows)
    _upsert_domain_days(_conn, days)
    _upsert_latest(_conn, latest_days(days))


def _upsert_domain_days(_conn: Any, rows: Sequence[tuple[Any, ...]]) -> None:
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    stmt = sqlite_insert(ReportDomainDay)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(DOMAIN_DAY_KEY),
        set_={
            **{
                name: getattr(ReportDomainDay, name) + stmt.excluded[name]
                for name in ("messages", "passed", "unknown")
            },
            "senders_current": False,
        },
    )
    db.session.execute(stmt, [dict(zip(DOMAIN_DAY_COLUMNS, r, strict=True)) for r in rows])


def _upsert_latest(_conn: Any, rows: Sequence[tuple[Any, ...]]) -> None:
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    stmt = sqlite_insert(ReportDomainLatest)
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "domain_id"],
        set_={"last_day": func.max(ReportDomainLatest.last_day, stmt.excluded.last_day)},
    )
    keys = ("tenant_id", "domain_id", "last_day")
    db.session.execute(stmt, [dict(zip(keys, r, strict=True)) for r in rows])


def _upsert_selectors(_conn: Any, rows: Sequence[tuple[Any, ...]]) -> None:
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    stmt = sqlite_insert(DkimSelectorSeen)
    table = DkimSelectorSeen.__table__
    stmt = stmt.on_conflict_do_update(
        index_elements=list(SELECTOR_COLUMNS[:5]),
        set_={
            "passed": table.c.passed | stmt.excluded.passed,
            "first_seen": func.min(table.c.first_seen, stmt.excluded.first_seen),
            "last_seen": func.max(table.c.last_seen, stmt.excluded.last_seen),
        },
    )
    db.session.execute(stmt, [dict(zip(SELECTOR_COLUMNS, r, strict=True)) for r in rows])
