"""The declarative base, shared column mixins and time helpers for every model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Engine, ForeignKey, Integer, MetaData, TypeDecorator, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, registry

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (what every timestamp column stores)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on PostgreSQL and SQLite alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime(), dict[str, Any]: JSONType},
    )


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class TenantOwnedMixin:
    """A row that belongs to one tenant. ``tenant_id`` leads the row's indexes.

    A high-volume child table (hundreds of thousands of rows per report) names in
    ``tenant_via`` the parent column through which a tenant's deletion already reaches it (a
    foreign key or a delete trigger; its parent carries the tenant); its ``tenant_id`` then has
    no constraint and no index of its own, which saves a constraint check and an index insert
    per row. The code that writes such rows copies ``tenant_id`` from the parent it has just
    loaded.
    """

    tenant_via: ClassVar[str | None] = None

    @declared_attr
    def tenant_id(cls) -> Mapped[int]:
        if cls.tenant_via is not None:
            return mapped_column(Integer, nullable=False)
        return mapped_column(
            Integer, ForeignKey("tenant.id", ondelete="CASCADE"), index=True, nullable=False
        )


# SQLite (the standalone mode) under concurrent requests and the job threads: readers never
# block the writer in WAL mode, and a writer that finds the database locked waits this long
# instead of failing at once with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def tune_sqlite(engine: Engine) -> None:
    """On SQLite, every new connection gets WAL mode and a busy timeout, and transactions are
    begun by SQLAlchemy, not by the driver (nothing changes elsewhere).

    The busy timeout alone is not enough: a transaction that read first and writes later cannot
    wait for another writer (SQLite answers "database is locked" at once, its snapshot being
    stale), and a SAVEPOINT starts such a transaction. So a transaction that means to write (a
    job, a POST) takes the write lock when it begins and waits its turn; a page read (GET) keeps
    the driver's lazy transaction: its reads hold no snapshot (they never wait in WAL mode), and
    a rare write (a token's last use) begins the transaction and waits like any writer.
    """
    if engine.dialect.name == "sqlite" and not event.contains(engine, "connect", _sqlite_pragmas):
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")  # in-memory databases keep 'memory'
        cursor.execute("PRAGMA synchronous = NORMAL")  # durable at checkpoints; WAL's usual
    finally:
        cursor.close()


def _sqlite_begin(connection: Any) -> None:
    dbapi_connection = connection.connection.dbapi_connection
    if _may_write():
        dbapi_connection.isolation_level = None  # the driver emits no BEGIN of its own
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        dbapi_connection.isolation_level = ""  # the driver's BEGIN, before the first write


def _may_write() -> bool:
    from flask import has_request_context, request

    return not has_request_context() or request.method not in READ_METHODS
