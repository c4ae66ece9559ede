"""Bulk writes on PostgreSQL: COPY, and upserts through COPY into a temporary table.

``executemany`` of an upsert costs a round trip per few rows; for the tens of thousands of rows
a large report brings (records, roll-ups, IP facts, selectors, senders) COPY is many times
faster. Each function takes the psycopg connection explicitly, so that a
:class:`BackgroundWriter` can run it in its thread while the caller goes on parsing. Other
databases (SQLite, the embedded mode) use the SQLAlchemy path of the caller.

The staging tables are created once per connection and emptied before each use, instead of
being created and dropped for every call.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from types import TracebackType
from typing import Any

import psycopg
from sqlalchemy import String, Text, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import SQLAlchemyError

from msp import generation
from msp.extensions import db

_TRUNCATE_ABOVE = 2_000


def one_of(column: Any, values: Sequence[Any]) -> Any:
    """``column IN values`` that stays one short statement for hundreds of values.

    On PostgreSQL it is ``column = ANY(array)`` with the array as one parameter: an IN list
    of 200 placeholders costs the driver a parse of the statement on every call.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        return column.in_(values)
    item = column.type if not isinstance(column.type, String) else Text()
    return column == any_(bindparam(None, list(values), type_=ARRAY(item)))


def connection() -> Any:
    """The psycopg connection under the current session's transaction. What is written on it
    goes around SQLAlchemy's statements, so the data generation is told here."""
    generation.mark_written()
    return db.session.connection().connection.driver_connection


class BulkWriteError(SQLAlchemyError):
    """A COPY or upsert failed in the driver; the caller's transaction (savepoint) must roll
    back. An SQLAlchemy error, so callers handle it like any other database error."""


@contextmanager
def _driver_errors() -> Iterator[None]:
    try:
        yield
    except psycopg.Error as exc:
        raise BulkWriteError(f"{type(exc).__name__}: {exc}") from exc


def copy_rows(conn: Any, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY ``rows`` into ``table``; how many were written."""
    written = 0
    with (
        _driver_errors(),
        conn.cursor() as cursor,
        cursor.copy(f"COPY {table} ({_names(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)
            written += 1
    return written


def _names(columns: Sequence[str]) -> str:
    """Quoted column names (a report has a column called ``end``)."""
    return ", ".join(f'"{c}"' for c in columns)


def _staging(cursor: Any, table: str, cols: str) -> str:
    """An empty staging table for ``table``'s columns, kept by the connection between uses.

    Emptied before each use rather than at commit (``ON COMMIT DELETE ROWS`` would make every
    commit truncate every staging table), so rows left by an aborted use never leak.
    """
    name = f"stage_{table}_{hashlib.sha1(cols.encode()).hexdigest()[:8]}"
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {name} AS SELECT {cols} FROM {table} WITH NO DATA;"
        f" DELETE FROM {name}"
    )
    return name


def copy_upsert(
    conn: Any,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    conflict: Sequence[str],
    set_sql: str,
    returning: str | None = None,
    computed: Mapping[str, str] | None = None,
) -> list[tuple[Any, ...]]:
    """Upsert ``rows`` into ``table``; ``set_sql`` may use ``t.`` (existing) and ``EXCLUDED.``.

    Rows must be unique on ``conflict`` (PostgreSQL refuses to update a row twice).
    ``computed`` maps further columns to SQL expressions (``now()``: nothing to send per row).
    """
    cols = _names(columns)
    extra = computed or {}
    target_cols = _names([*columns, *extra])
    source_cols = ", ".join([cols, *extra.values()])
    out: list[tuple[Any, ...]] = []
    with _driver_errors(), conn.cursor() as cursor:
        stage = _staging(cursor, table, cols)
        staged = 0
        with cursor.copy(f"COPY {stage} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                staged += 1
        sql = (
            f"INSERT INTO {table} AS t ({target_cols}) SELECT {source_cols} FROM {stage} "
            f"ON CONFLICT ({_names(conflict)}) DO {set_sql}"
        )
        if returning:
            sql += f" RETURNING {returning}"
        cursor.execute(sql)
        if returning:
            out = [tuple(r) for r in cursor.fetchall()]
        if staged > _TRUNCATE_ABOVE:  # give the space back; a few rows wait for the next use
            cursor.execute(f"TRUNCATE {stage}")
    return out


class BackgroundWriter:
    """Runs bulk writes on one psycopg connection in a helper thread, in submission order.

    While the thread waits for PostgreSQL (COPY, upserts), the caller's thread parses the next
    chunk: the two CPUs of a small machine both work. At most ``max_pending`` writes are queued,
    so memory stays bounded. The caller must not use the connection until :meth:`close` (or the
    end of the ``with`` block), which waits for every write and re-raises the first error.
    """

    def __init__(self, conn: Any, max_pending: int = 8) -> None:
        self.conn = conn
        self._max_pending = max_pending
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="msp-bulk")
        self._pending: deque[Future[Any]] = deque()

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Queue ``fn(conn, *args, **kwargs)``; waits while ``max_pending`` are in flight."""
        while len(self._pending) >= self._max_pending:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(fn, self.conn, *args, **kwargs))

    def close(self) -> None:
        """Wait for every queued write; the first error is raised here."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._drain()
            self._pool.shutdown(wait=True)

    def _drain(self) -> None:
        while self._pending:  # after an error: let the rest finish before the caller rolls back
            self._pending.popleft().exception()

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
            return
        self._drain()  # the caller's error wins; the connection is idle again before rollback
        self._pool.shutdown(wait=True)


class InlineWriter:
    """The same interface as :class:`BackgroundWriter`, running each write immediately."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        fn(self.conn, *args, **kwargs)

    def close(self) -> None:
        return None

    def __enter__(self) -> InlineWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        return None
