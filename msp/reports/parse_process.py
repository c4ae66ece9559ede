"""A large report parsed in a child process while this process writes it to PostgreSQL.

For one report of hundreds of thousands of records, the parse (Python: lxml events, records,
rows, roll-ups) and the writes (PostgreSQL: COPY, upserts) each need a CPU. Threads share one
interpreter lock, so the parse runs in a forked child: it reads the payload with the same
hardened :class:`~msp.reports.aggregate.AggregateParser`, turns records into chunks with the
same :class:`~msp.reports.sink.RecordSink`, and sends each chunk through a pipe (which blocks
it when this side falls behind: memory stays bounded). This process hands the chunks to its
:class:`~msp.reports.bulk.BackgroundWriter`, in the caller's transaction. The child never
touches the database and leaves through ``os._exit`` (multiprocessing's fork start), so the
connection it inherited is neither used nor closed there.

Forking is safe only in a process running one thread (``msp ingest``, an RQ work horse of
``msp worker --fork``); elsewhere (``msp worker`` running jobs itself, where RQ keeps a thread
listening for its commands; the standalone mode's worker threads) :func:`available` says no
and the caller parses in its own process: a large report takes longer there, in the same
bounded memory.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, BinaryIO

from msp.reports import bulk, sink
from msp.reports.aggregate import AggregateError, AggregateParser

_WRITES = ("write_records", "write_daily", "write_selectors")  # what a chunk may ask for
_JOIN_SECONDS = 10


class ParserProcessError(RuntimeError):
    """The child process failed for another reason than the report (a bug, killed)."""


def available() -> bool:
    """Whether a child process may be forked here (one thread, an OS that forks)."""
    return hasattr(os, "fork") and threading.active_count() == 1


class _PipeWriter:
    """What the child's RecordSink writes through: each chunk goes to the parent."""

    def __init__(self, pipe: Connection) -> None:
        self._pipe = pipe

    def submit(self, fn: Callable[..., Any], rows: Any) -> None:
        name = next(name for name in _WRITES if getattr(sink, name) is fn)
        self._pipe.send((name, rows))


def _child(pipe: Connection, opener: Callable[[], BinaryIO], to: sink.Target) -> None:
    gc.disable()  # a short-lived process allocating millions of objects and no cycles
    try:
        parser = AggregateParser(opener)
        out = sink.RecordSink(_PipeWriter(pipe), postgresql=True)
        for rec in parser.records():
            out.add(rec, to)
        out.close()
        pipe.send(("done", out.records, out.messages))
    except AggregateError as exc:
        pipe.send(("rejected", str(exc)))
    except BaseException as exc:  # reported to the parent, which raises it there
        pipe.send(("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        pipe.close()


def stream(opener: Callable[[], BinaryIO], to: sink.Target) -> tuple[int, int]:
    """Parse the payload in a child and write its chunks here; (records, messages).

    Raises AggregateError when the report turns out broken, ParserProcessError when the child
    fails otherwise; the caller's savepoint then leaves nothing of the report.
    """
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(sending, opener, to), daemon=True)
    child.start()
    sending.close()
    try:
        with bulk.BackgroundWriter(bulk.connection()) as writer:
            while True:
                try:
                    kind, *body = receiving.recv()
                except EOFError as exc:
                    raise ParserProcessError("the parser process ended without a result") from exc
                if kind in _WRITES:
                    writer.submit(getattr(sink, kind), body[0])
                elif kind == "done":
                    return int(body[0]), int(body[1])
                elif kind == "rejected":
                    raise AggregateError(body[0])
                else:
                    raise ParserProcessError(f"the parser process failed: {body[0]}")
    finally:
        receiving.close()
        child.join(_JOIN_SECONDS)
        if child.is_alive():
            child.kill()
            child.join()
