"""The data generations: counters in Redis that move on after every commit that wrote.

Caches (``msp.response_cache``) keep an entry together with the generations read before it
was computed and serve it only while they still hold, so nothing computed before a change is
served after it. Which statements write is read off the SQL every connection sends (any
statement but a read), plus :func:`mark_written` for writes that go around SQLAlchemy (the
reports area's COPY on the driver connection). The flags are per thread: a request or a job
runs in one thread and commits there.

``KEY`` moves on every commit that wrote, and every cached value depends on it. The one
exception is a write made inside :func:`attributed`: a job that knows its writes change only
the data of some tenants (the report jobs, which write most often) moves those tenants'
counters and ``TENANTS_KEY`` instead, so a page that shows one tenant stays cached while
other tenants' reports arrive: it depends on ``KEY``, and is kept with
:func:`keep_for_tenant`, which the tenant's next attributed commit deletes (so a reader checks
one counter, fetched with everything else, not two). A page that spans tenants depends on
``KEY`` and ``TENANTS_KEY``. Anything not attributed moves ``KEY``.

A rolled-back write leaves the flags set and costs needless moves on the next commit; moving
too often only costs cache misses, missing a move would serve stale data.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import g, has_app_context
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from msp import mirror

log = logging.getLogger(__name__)

KEY = "msp:generation"
TENANTS_KEY = "msp:generation:tenants"


_TENANT_PREFIX = "msp:generation:tenant:"


def tenant_key(tenant_id: int) -> str:
    return f"{_TENANT_PREFIX}{tenant_id}"


def _kept_key(tenant_id: int) -> str:
    """The set of kept values that depend on the tenant's data (:func:`keep_for_tenant`)."""
    return f"msp:generation:tenant:{tenant_id}:kept"


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


@dataclass
class _Scope:
    tenants: set[int] = field(default_factory=set)
    wrote: bool = False


def _note_write() -> None:
    scope: _Scope | None = getattr(_state, "scope", None)
    if scope is None:
        _state.wrote = True
    else:
        scope.wrote = True


def mark_written() -> None:
    """Note a write this thread made around SQLAlchemy's statements (raw driver COPY)."""
    _note_write()


@contextmanager
def attributed(tenant_ids: Iterable[int] = ()) -> Iterator[set[int]]:
    """Writes inside the block change only the data of the tenants in the yielded set, and of
    no other tenant (the caller may add tenants until the block ends: a parse job learns them
    as it routes). Their commit moves those tenants' counters and ``TENANTS_KEY``, not
    ``KEY``. Only for writes that no page of another tenant shows, and that change nobody's
    credentials."""
    outer: _Scope | None = getattr(_state, "scope", None)
    scope = _Scope(set(tenant_ids))
    _state.scope = scope
    try:
        yield scope.tenants
    finally:
        _state.scope = outer
        _fold(scope)


def _fold(scope: _Scope) -> None:
    """Move a scope's attributed writes to the thread's, for the next commit."""
    if scope.wrote:
        _state.tenants = _tenants() | scope.tenants
        _state.scoped = True
        scope.wrote = False


def _tenants() -> set[int]:
    tenants: set[int] = getattr(_state, "tenants", set())
    return tenants


@contextmanager
def unnoticed() -> Iterator[None]:
    """Writes run inside the block do not move the generation: bookkeeping that no cached read
    shows (a token's last use). Flush pending changes before entering: they would hide too."""
    scope: _Scope | None = getattr(_state, "scope", None)
    before = (getattr(_state, "wrote", False), scope.wrote if scope is not None else False)
    try:
        yield
    finally:
        _state.wrote = before[0]
        if scope is not None:
            scope.wrote = before[1]


def written() -> bool:
    """Whether this thread holds writes not committed yet."""
    scope: _Scope | None = getattr(_state, "scope", None)
    return bool(
        getattr(_state, "wrote", False)
        or getattr(_state, "scoped", False)
        or (scope is not None and scope.wrote)
    )


def _before_cursor_execute(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    if is_write(statement):
        _note_write()


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: its writes commit with the transaction around it
    scope: _Scope | None = getattr(_state, "scope", None)
    if scope is not None:
        _fold(scope)  # a commit inside the block: what it wrote so far is committed now
    if not written():
        return
    everything, tenants = bool(getattr(_state, "wrote", False)), _tenants()
    scoped = bool(getattr(_state, "scoped", False))
    _state.wrote, _state.scoped, _state.tenants = False, False, set()
    if has_app_context():
        bump(everything, tenants if scoped else None)


def redis() -> Any:
    """The app's Redis connection (real, or the in-process one of the standalone mode)."""
    from msp.queues import dispatcher

    return dispatcher().connection


def bump(everything: bool = True, tenants: Iterable[int] | None = None) -> None:
    """Move the generations on (after a commit that wrote): ``KEY`` for ``everything``, and
    for attributed writes (``tenants`` not None) ``TENANTS_KEY`` and each tenant's counter,
    deleting the values kept for those tenants. Without Redis, caches are off too:
    :func:`current` answers None while it is unreachable."""
    chosen = sorted(tenants) if tenants is not None else []
    keys = ([KEY] if everything else []) + ([TENANTS_KEY] if tenants is not None else [])
    keys += [tenant_key(t) for t in chosen]
    try:
        pipe = redis().pipeline(transaction=False)
        for key in keys:
            pipe.incr(key)
        for tenant in chosen:  # after the counters: see keep_for_tenant
            pipe.smembers(_kept_key(tenant))
        found = pipe.execute()[len(keys) :]
        pipe = redis().pipeline(transaction=False)
        for tenant, members in zip(chosen, found, strict=True):
            if members:
                pipe.delete(*members)
                pipe.srem(_kept_key(tenant), *members)  # not the set: newer members stay
        # Last: a process's mirror that hears it reads Redis again, and finds all of the above.
        if everything:
            pipe.publish(mirror.CHANNEL, mirror.EVERYTHING)
        elif tenants is not None:
            pipe.publish(mirror.CHANNEL, mirror.tenants_message(chosen))
        pipe.execute()
    except Exception as exc:  # redis.RedisError, or none configured: nothing is cached then
        log.warning("data generation not moved on: %s", exc)
    g.pop("msp_generation", None)
    g.pop("msp_fetched", None)


def keep_for_tenant(tenant_id: int, seen: bytes | None, key: str, value: bytes, ttl: int) -> None:
    """Store ``value`` at ``key`` as depending on the tenant's data, if the tenant's counter is
    still ``seen`` (read before ``value`` was computed); the tenant's next attributed commit
    deletes it, so a reader needs no look at the counter.

    Race-free with :func:`bump`, which moves the counter before it lists what to delete: this
    store happens whole before that list is read (and is deleted), or it sees the counter
    moved and stores nothing (WATCH)."""
    from redis.exceptions import WatchError

    counter = tenant_key(tenant_id)
    try:
        with redis().pipeline(transaction=True) as pipe:
            pipe.watch(counter)
            if pipe.get(counter) != seen:
                return  # the tenant's data changed while the value was computed
            pipe.multi()
            pipe.set(key, value, ex=ttl)
            pipe.sadd(_kept_key(tenant_id), key)
            pipe.expire(_kept_key(tenant_id), ttl)
            pipe.execute()
    except WatchError:
        return
    except Exception as exc:  # redis.RedisError: the next reader computes it again
        log.warning("value not kept: %s", exc)


def current() -> bytes | None:
    """The generation, read once per request (or job); None when Redis cannot be reached or
    this thread holds writes not committed yet (what it would read is not what others see)."""
    return read()


def read(*keys: str | None) -> bytes | None:
    """The generation (``KEY``), and the values at ``keys`` (``TENANTS_KEY`` always) fetched in
    the same round trip to Redis; all are remembered for the rest of the request
    (:func:`fetched`)."""
    if written():
        return None
    known = "msp_generation" in g
    remembered: dict[str, bytes | None] = g.setdefault("msp_fetched", {})
    wanted = [k for k in dict.fromkeys(keys) if k is not None and k not in remembered]
    if known and not wanted:
        generation: bytes | None = g.msp_generation
        return generation
    try:
        if not known and TENANTS_KEY not in remembered and TENANTS_KEY not in wanted:
            wanted.append(TENANTS_KEY)
        values = _fetch(wanted if known else [KEY, *wanted])
    except Exception as exc:  # redis.RedisError: caches step aside, the request goes on
        log.warning("data generation unreadable, nothing is served from cache: %s", exc)
        g.msp_generation = None
        return None
    if not known:
        g.msp_generation = values.pop(0) or b"0"
    remembered.update(zip(wanted, values, strict=True))
    generation = g.msp_generation
    return generation


def _fetch(keys: list[str]) -> list[bytes | None]:
    """The values at ``keys``: those this process's mirror holds current from it, the rest
    from Redis in one round trip (and copied)."""
    near = mirror.current()
    if near is None:
        values: list[bytes | None] = redis().mget(keys)
        return values
    held, epoch = near.get(keys)
    missing = [key for key in keys if key not in held]
    if missing:
        fetched = redis().mget(missing)
        near.put(epoch, zip(missing, fetched, strict=True))
        held.update(zip(missing, fetched, strict=True))
    return [held[key] for key in keys]


def _tag(key: str, value: bytes) -> mirror.Tag:
    """What a counter depends on, for the mirror: ``KEY`` moves only with everything,
    ``TENANTS_KEY`` with any tenant's data, a tenant's counter with its data."""
    del value
    if key == KEY:
        return mirror.GLOBAL
    if key.startswith(_TENANT_PREFIX) and key[len(_TENANT_PREFIX) :].isdigit():
        return int(key[len(_TENANT_PREFIX) :])
    return None


mirror.tag_values(KEY, _tag, absence=True)


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
