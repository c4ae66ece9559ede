"""A copy, in each web process, of the Redis values every cached read fetches: the data
generations, the kept principals and the kept responses (``msp.generation.read``).

Answering a page from the response cache costs one round trip to Redis; on a busy process
that round trip, not the page, is most of the cost. The mirror answers the same values from
memory while they are known to be current, and goes to Redis otherwise, so what a request sees
is always something Redis held after the last change this process was told of.

Being told: :func:`msp.generation.bump` publishes what moved on :data:`CHANNEL` (everything,
or the data of some tenants) after it has moved the counters and deleted the tenants' kept
values. Before each use the mirror reads, without waiting, what was published since (the
message is in this process's socket before the writer's own request has answered, so a user's
change shows on their next page), and forgets what a message makes stale:

- everything: every copy;
- some tenants' data: ``TENANTS_KEY`` and the copies tagged with one of those tenants or with
  ``None`` (values that span tenants), kept by the tags :func:`tag_values` registers;
- the subscription lost or made again (Redis restarted, a network fault): every copy, and
  nothing is answered until it is confirmed again.

A value is copied only if no message arrived while it was fetched (``epoch``), lives at most
:data:`SECONDS` in the copy (a Redis the process cannot hear from any more is a Redis it reads
again within that time), and the copies stay under ``MSP_MIRROR_MB`` per process (least
recently used first out). Only the keys whose families registered a tag are copied; the mirror
is off with the standalone mode's in-process Redis (one process: nothing to save) and with
``MSP_MIRROR_MB=0``. Keys are the caches' own (one credential's entries), so a copy is never
shown to anyone Redis would not have shown it to.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

log = logging.getLogger(__name__)

CHANNEL = "msp:generation:moved"
EVERYTHING = b"*"
SECONDS = 10.0  # the longest a copy is used without reading Redis again
RETRY_SECONDS = 1.0  # between attempts to subscribe again after a fault
_EXTENSION = "msp_mirror"

# A key family: values whose key starts with the prefix get the tag the function reads off
# the key and value (an int: one tenant's data; None: spans tenants; GLOBAL: moves only with
# everything).
GLOBAL = "global"
Tag = int | str | None
TagOf = Callable[[str, bytes], Tag]
_families: dict[str, tuple[TagOf, bool]] = {}
_made = threading.Lock()


def tag_values(prefix: str, tag_of: TagOf, *, absence: bool = False) -> None:
    """Copy the values under ``prefix``, tagged by ``tag_of(key, value)`` (at import of the
    module that owns them); with ``absence``, that a key holds nothing is copied too (a counter
    never moved)."""
    _families[prefix] = (tag_of, absence)


def tenants_message(tenants: Iterable[int]) -> bytes:
    return b"t:" + b",".join(str(t).encode() for t in sorted(tenants))


@dataclass
class _Copy:
    value: bytes | None
    tag: Tag
    until: float


class Mirror:
    """The copies of one process (see module)."""

    def __init__(self, connect: Callable[[], Any], max_bytes: int) -> None:
        self._connect = connect
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._copies: OrderedDict[str, _Copy] = OrderedDict()
        self._bytes = 0
        self._pubsub: Any = None
        self._live = False  # the subscription is confirmed: no message can be missed
        self._epoch = 0  # moves whenever copies are forgotten
        self._retry_at = 0.0
        self._looked_at = time.monotonic()

    def get(self, keys: Sequence[str]) -> tuple[dict[str, bytes | None], int | None]:
        """The current copies of those of ``keys`` it holds, and the epoch to pass to
        :meth:`put` with the rest, fetched from Redis (None, and nothing held, while the mirror
        cannot be used). What it holds is what Redis held when the last message was heard."""
        now = time.monotonic()
        held: dict[str, bytes | None] = {}
        with self._lock:
            self._hear()
            if not self._live:
                return held, None
            for key in keys:
                copy = self._copies.get(key)
                if copy is not None and copy.until >= now:
                    self._copies.move_to_end(key)
                    held[key] = copy.value
            return held, self._epoch

    def put(self, epoch: int | None, values: Iterable[tuple[str, bytes | None]]) -> None:
        """Copy values fetched from Redis after :meth:`get` answered ``epoch``, unless a
        message arrived since (they may be older than it)."""
        until = time.monotonic() + SECONDS
        with self._lock:
            self._hear()
            if epoch is None or not self._live or epoch != self._epoch:
                return
            for key, value in values:
                family = _family(key)
                if family is None or (value is None and not family[1]):
                    continue
                size = len(value or b"")
                if size > self._max_bytes // 4:
                    continue
                self._forget(key)
                self._copies[key] = _Copy(value, family[0](key, value or b""), until)
                self._bytes += size
            while self._bytes > self._max_bytes and self._copies:
                self._forget(next(iter(self._copies)))

    def forget(self, key: str) -> None:
        """Read ``key`` from Redis next time (its copy is no longer current, or was replaced)."""
        with self._lock:
            self._forget(key)

    def _forget(self, key: str) -> None:
        copy = self._copies.pop(key, None)
        if copy is not None:
            self._bytes -= len(copy.value or b"")

    def _forget_all(self) -> None:
        self._copies.clear()
        self._bytes = 0
        self._epoch += 1

    def _hear(self) -> None:
        """Read what was published since the last look, without waiting (under the lock).

        After a pause longer than a copy lives, every copy is out of date anyway: the
        subscription is made afresh rather than read through what piled up meanwhile."""
        now = time.monotonic()
        idle, self._looked_at = now - self._looked_at > SECONDS, now
        if idle and self._pubsub is not None:
            self._drop_subscription()
            self._retry_at = now
        if self._pubsub is None and not self._subscribe():
            return
        try:
            while True:
                message = self._pubsub.get_message(timeout=0)
                if message is None:
                    return
                self._apply(message)
        except Exception as exc:  # redis.RedisError, OSError: nothing heard is nothing known
            log.warning("cache mirror lost its subscription: %s", exc)
            self._drop_subscription()

    def _subscribe(self) -> bool:
        if time.monotonic() < self._retry_at:
            return False
        try:
            self._pubsub = self._connect().pubsub()
            self._pubsub.subscribe(CHANNEL)
        except Exception as exc:  # redis.RedisError, OSError
            log.warning("cache mirror cannot subscribe: %s", exc)
            self._drop_subscription()
            return False
        return True

    def _drop_subscription(self) -> None:
        self._forget_all()
        self._live = False
        self._retry_at = time.monotonic() + RETRY_SECONDS
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            try:
                pubsub.close()
            except Exception:  # already broken: nothing more to release
                log.debug("closing a broken subscription failed", exc_info=True)

    def _apply(self, message: dict[str, Any]) -> None:
        """Forget what a message makes stale: some tenants' data, or (anything else: the
        subscription made again, everything moved) every copy."""
        kind, data = message.get("type"), message.get("data")
        if kind == "subscribe":  # first, or again after a reconnection: anything may be stale
            self._live = True
        elif kind == "message" and isinstance(data, bytes) and data.startswith(b"t:"):
            moved = {int(t) for t in data[2:].split(b",") if t.isdigit()}
            stale = [k for k, c in self._copies.items() if c.tag is None or c.tag in moved]
            for key in stale:
                self._forget(key)
            self._epoch += 1
            return
        self._forget_all()


def _family(key: str) -> tuple[TagOf, bool] | None:
    for prefix, family in _families.items():
        if key.startswith(prefix):
            return family
    return None


def _process_mirror(app: Flask) -> Mirror | None:
    """This process's mirror for ``app`` (made on first use after a fork: a worker never
    shares its parent's subscription)."""
    held: tuple[int, Mirror | None] | None = app.extensions.get(_EXTENSION)
    if held is not None and held[0] == os.getpid():
        return held[1]
    with _made:
        held = app.extensions.get(_EXTENSION)
        if held is not None and held[0] == os.getpid():
            made: Mirror | None = held[1]
            return made
        megabytes = int(app.config.get("MSP_MIRROR_MB") or 0)
        mirror = None
        if megabytes > 0 and app.config.get("MSP_REDIS_URL"):
            from msp.queues import dispatcher

            mirror = Mirror(lambda: dispatcher().connection, megabytes * 1024 * 1024)
        app.extensions[_EXTENSION] = (os.getpid(), mirror)
        return mirror


def current() -> Mirror | None:
    """The mirror of this process and app, None when it is off."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return _process_mirror(app)


def forget(key: str) -> None:
    """Read ``key`` from Redis next time, in this process (a cache found its copy out of date,
    or stored a new value)."""
    near = current()
    if near is not None:
        near.forget(key)
