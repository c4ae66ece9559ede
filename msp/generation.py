"""The data generation: a counter in Redis that moves on after every commit that wrote.

Caches (``msp.response_cache``) keep an entry together with the generation read before it
was computed and serve it only while the generation is still that number, so nothing computed
before a change is served after it. Which statements write is read off the SQL every
connection sends (any statement but a read), plus :func:`mark_written` for writes that go
around SQLAlchemy (the reports area's COPY on the driver connection). The flag is per thread:
a request or a job runs in one thread and commits there.

A rolled-back write leaves the flag set and costs one needless move on the next commit;
moving too often only costs cache misses, missing a move would serve stale data.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import g, has_app_context
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

KEY = "msp:generation"

# Statements that never change data. Anything else (INSERT, UPDATE, DELETE, COPY, DDL) writes.
_READS = frozenset(
    {"SELECT", "SHOW", "SET", "RESET", "PRAGMA", "EXPLAIN", "VALUES", "BEGIN", "COMMIT",
     "ROLLBACK", "SAVEPOINT", "RELEASE"}
)  # fmt: skip
_WRITES_INSIDE = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)

_state = threading.local()


def is_write(statement: str) -> bool:
    """Whether a SQL statement may change data (``WITH`` only when its body writes)."""
    words = statement.lstrip(" \t\r\n(").split(None, 1)
    verb = words[0].upper() if words else ""
    if verb == "WITH":
        return _WRITES_INSIDE.search(statement) is not None
    return verb not in _READS


def mark_written() -> None:
    """Note a write this thread made around SQLAlchemy's statements (raw driver COPY)."""
    _state.wrote = True


@contextmanager
def unnoticed() -> Iterator[None]:
    """Writes run inside the block do not move the generation: bookkeeping that no cached read
    shows (a token's last use). Flush pending changes before entering: they would hide too."""
    before = written()
    try:
        yield
    finally:
        _state.wrote = before


def written() -> bool:
    return bool(getattr(_state, "wrote", False))


def _before_cursor_execute(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    if not written() and is_write(statement):
        _state.wrote = True


def _after_commit(session: Session) -> None:
    if not written():
        return
    _state.wrote = False
    if has_app_context():
        bump()


def redis() -> Any:
    """The app's Redis connection (real, or the in-process one of the standalone mode)."""
    from msp.queues import dispatcher

    return dispatcher().connection


def bump() -> None:
    """Move the generation on (after a commit that wrote). Without Redis, caches are off too:
    :func:`current` answers None while it is unreachable."""
    try:
        redis().incr(KEY)
    except Exception as exc:  # redis.RedisError, or none configured: nothing is cached then
        log.warning("data generation not moved on: %s", exc)
    g.pop("msp_generation", None)
    g.pop("msp_fetched", None)


def current() -> bytes | None:
    """The generation, read once per request (or job); None when Redis cannot be reached or
    this thread holds writes not committed yet (what it would read is not what others see)."""
    return read()


def read(*keys: str | None) -> bytes | None:
    """The generation, and the values at ``keys`` fetched in the same round trip to Redis;
    both are remembered for the rest of the request (:func:`fetched`)."""
    if written():
        return None
    known = "msp_generation" in g
    remembered: dict[str, bytes | None] = g.setdefault("msp_fetched", {})
    wanted = [k for k in dict.fromkeys(keys) if k is not None and k not in remembered]
    if known and not wanted:
        generation: bytes | None = g.msp_generation
        return generation
    try:
        values = redis().mget(wanted if known else [KEY, *wanted])
    except Exception as exc:  # redis.RedisError: caches step aside, the request goes on
        log.warning("data generation unreadable, nothing is served from cache: %s", exc)
        g.msp_generation = None
        return None
    if not known:
        g.msp_generation = values.pop(0) or b"0"
    remembered.update(zip(wanted, values, strict=True))
    generation = g.msp_generation
    return generation


def fetched(key: str) -> bytes | None:
    """The value at ``key`` as :func:`read` fetched it (read it first)."""
    value = g.get("msp_fetched", {}).get(key)
    return value if isinstance(value, bytes) else None


def init_app(app: Any) -> None:
    """Listen to every engine's statements and every session's commits (once per process)."""
    del app  # the listeners are process-wide; each reads the app of the moment
    if not event.contains(Engine, "before_cursor_execute", _before_cursor_execute):
        event.listen(Engine, "before_cursor_execute", _before_cursor_execute)
        event.listen(Session, "after_commit", _after_commit)
