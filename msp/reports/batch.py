"""Batched ingestion of small aggregate reports: parse fully first, then write set-wise.

Most reports are a few kilobytes. For those, per-report round trips (savepoints, one COPY, one
roll-up and one selector upsert each) cost more than the parse. In a batch, a small report is
parsed completely in memory (so a broken one fails before touching the database), its key is
claimed, and its records, roll-ups and selectors wait in the batch; :meth:`Batch.flush` writes
them with one COPY and a few set-based statements. Large reports keep the streaming path.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Date, func, literal, select, true

from msp.extensions import db
from msp.reports import rollup
from msp.reports.aggregate import AggregateParser, Record
from msp.reports.models import ReportDaily, ReportRecord
from msp.reports.routing import Route

SMALL_BYTES = 2 * 1024 * 1024


@dataclass
class Batch:
    """What a batch of small reports still has to write, and its routing cache."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    single_day: dict[date, list[int]] = field(default_factory=dict)
    multi_day: list[tuple[int, list[tuple[date, float]]]] = field(default_factory=list)
    selectors: dict[tuple[Any, ...], list[Any]] = field(default_factory=dict)
    routes: dict[tuple[Any, ...], Route] = field(default_factory=dict)

    def add_report(self, report_pk: int, begin: Any, end: Any) -> None:
        days = rollup.report_days(begin, end)
        if len(days) == 1:
            self.single_day.setdefault(days[0][0], []).append(report_pk)
        else:
            self.multi_day.append((report_pk, days))

    def add_selector(self, key: tuple[Any, ...], passed: bool, first: date, last: date) -> None:
        seen = self.selectors.get(key)
        if seen is None:
            self.selectors[key] = [passed, first, last]
        else:
            seen[0] = seen[0] or passed
            seen[1], seen[2] = min(seen[1], first), max(seen[2], last)

    def flush(self) -> None:
        """Write everything collected so far (records first: the roll-ups read them)."""
        from msp.reports import ingest

        if self.rows:
            rows, self.rows = self.rows, []
            if ingest.dialect() == "postgresql":
                ingest.copy_rows(iter(rows))
            else:
                ingest.insert_rows(iter(rows))
        if self.single_day and ingest.dialect() == "postgresql":
            _rollup_reports_pg({pk: day for day, pks in self.single_day.items() for pk in pks})
        else:
            for day, report_ids in self.single_day.items():
                _rollup_reports(report_ids, day)
        for report_pk, days in self.multi_day:
            ingest.rollup_split(report_pk, days)
        self.single_day, self.multi_day = {}, []
        if self.selectors:
            ingest.upsert_selector_rows(
                [
                    {
                        "tenant_id": k[0],
                        "domain_id": k[1],
                        "source_ip": k[2],
                        "signing_domain": k[3],
                        "selector": k[4],
                        "passed": v[0],
                        "first_seen": v[1],
                        "last_seen": v[2],
                    }
                    for k, v in self.selectors.items()
                ]
            )
            self.selectors = {}


def _rollup_reports(report_ids: list[int], day: date) -> None:
    from msp.reports import ingest

    group = ingest.GROUP_COLUMNS
    grouped = (
        select(
            *group[:2], literal(day, Date()).label("day"), *group[2:], func.sum(ReportRecord.count)
        )
        .where(ReportRecord.report_id.in_(report_ids), true())
        .group_by(*group)
    )
    stmt = ingest.dialect_insert(ReportDaily).from_select([*ingest.DAILY_KEY, "messages"], grouped)
    stmt = stmt.on_conflict_do_update(
        index_elements=ingest.DAILY_KEY,
        set_={"messages": ReportDaily.messages + stmt.excluded.messages},
    )
    db.session.execute(stmt)


def _rollup_reports_pg(days: dict[int, date]) -> None:
    """One roll-up statement for every single-day report of the batch (day per report)."""
    from msp.reports import ingest

    conn = db.session.connection().connection.driver_connection
    key = ", ".join(ingest.DAILY_KEY)
    sql = f"""
        INSERT INTO report_daily ({key}, messages)
        SELECT r.tenant_id, r.domain_id, d.day, r.source_ip, r.header_from, r.disposition,
               r.spf_aligned, r.dkim_aligned, sum(r.count)
        FROM report_record r
        JOIN unnest(%s::int[], %s::date[]) AS d(report_id, day) ON d.report_id = r.report_id
        GROUP BY r.tenant_id, r.domain_id, d.day, r.source_ip, r.header_from, r.disposition,
                 r.spf_aligned, r.dkim_aligned
        ON CONFLICT ({key}) DO UPDATE SET messages = report_daily.messages + EXCLUDED.messages
    """
    with conn.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute(sql, (list(days), list(days.values())))


def read_small(opener: Any) -> bytes | None:
    """The payload's bytes when it is small enough for the batch path, else None."""
    with opener() as stream:
        data: bytes = stream.read(SMALL_BYTES + 1)
    return data if len(data) <= SMALL_BYTES else None


def parse_small(data: bytes) -> tuple[AggregateParser, list[Record]]:
    parser = AggregateParser(lambda: io.BytesIO(data), size_hint=len(data))
    return parser, list(parser.records())
