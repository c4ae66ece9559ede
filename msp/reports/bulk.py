"""Bulk upserts on PostgreSQL: COPY into a temporary table, then one INSERT .. ON CONFLICT.

``executemany`` of an upsert costs a round trip per few rows; for the tens of thousands of rows
a large report brings (IP facts, selectors, senders) this is many times faster. Other databases
(SQLite, the embedded mode) use the SQLAlchemy path of the caller.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

from msp.extensions import db

_counter = itertools.count()


def copy_upsert(
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    conflict: Sequence[str],
    set_sql: str,
    returning: str | None = None,
) -> list[tuple[Any, ...]]:
    """Upsert ``rows`` into ``table``; ``set_sql`` may use ``t.`` (existing) and ``EXCLUDED.``.

    Rows must be unique on ``conflict`` (PostgreSQL refuses to update a row twice).
    """
    conn = db.session.connection().connection.driver_connection
    temp = f"bulk_{table}_{next(_counter)}"
    cols = ", ".join(columns)
    out: list[tuple[Any, ...]] = []
    with conn.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute(
            f"CREATE TEMP TABLE {temp} ON COMMIT DROP AS SELECT {cols} FROM {table} WITH NO DATA"
        )
        with cursor.copy(f"COPY {temp} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        sql = (
            f"INSERT INTO {table} AS t ({cols}) SELECT {cols} FROM {temp} "
            f"ON CONFLICT ({', '.join(conflict)}) DO {set_sql}"
        )
        if returning:
            sql += f" RETURNING {returning}"
        cursor.execute(sql)
        if returning:
            out = [tuple(r) for r in cursor.fetchall()]
        cursor.execute(f"DROP TABLE {temp}")
    return out
