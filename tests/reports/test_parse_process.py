"""A large report parsed in a forked child while this process writes it: the same rows as the
in-process parse, a broken report rejected with nothing left, a failing child reported."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from msp.extensions import db
from msp.reports import parse_process, sink
from tests.reports.test_write_path import THREE_DAYS, big_report, snapshot, streamed_in

PAD = 2_200_000  # larger than batch.SMALL_BYTES: the streaming path, where the child is used


@pytest.fixture
def forks_counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the reports streamed through a child process.

    Other tests may leave a server thread running, which makes ``available()`` refuse to fork;
    the child here only parses, so forking beside such a thread is safe.
    """
    monkeypatch.setattr(parse_process, "available", lambda: True)
    used: list[int] = []
    real = parse_process.stream

    def counting(*args: Any) -> tuple[int, int]:
        used.append(1)
        return real(*args)

    monkeypatch.setattr(parse_process, "stream", counting)
    return used


def test_no_parser_process_is_forked_beside_other_threads() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, args=(5,))
    thread.start()
    try:
        assert not parse_process.available()
    finally:
        stop.set()
        thread.join(5)


@pytest.mark.parametrize("span", ["one day", "three days"])
def test_a_child_parse_writes_what_the_in_process_parse_writes(
    domain: Any, monkeypatch: pytest.MonkeyPatch, forks_counted: list[int], span: str
) -> None:
    monkeypatch.setattr(sink, "CHUNK_ROWS", 50)  # several chunks through the pipe
    monkeypatch.setattr(sink, "CHUNK_TOTALS", 40)
    kwargs: dict[str, Any] = {"span": THREE_DAYS} if span == "three days" else {}
    data = big_report(domain.name, 400, report_id="pp", pad=PAD, **kwargs)
    savepoint = db.session.begin_nested()
    outcome = streamed_in(data)
    in_child = snapshot(domain.id)
    savepoint.rollback()
    assert forks_counted == [1]
    monkeypatch.setattr(parse_process, "available", lambda: False)
    savepoint = db.session.begin_nested()
    again = streamed_in(data)
    in_process = snapshot(domain.id)
    savepoint.rollback()
    assert forks_counted == [1]  # the second time, in this process
    assert (outcome.status, outcome.records) == (again.status, again.records) == ("ingested", 400)
    assert outcome.messages == again.messages
    assert in_child == in_process and in_child[2] == 400


def test_a_report_broken_after_its_first_records_is_rejected_and_leaves_nothing(
    domain: Any, forks_counted: list[int]
) -> None:
    data = big_report(domain.name, 3000, report_id="broken", pad=PAD)
    cut = 0
    for _ in range(2500):  # well-formed for its first 2,500 records (a few hundred kB)...
        cut = data.index(b"</record>", cut) + len(b"</record>")
    data = data[:cut] + b"<record><row></rec>" + data[cut:]  # ...then broken
    # too large to be re-read in recover mode: the whole report is rejected
    data = data.replace(b"<!--", b"<!--" + b" " * 33_000_000, 1)
    outcome = streamed_in(data)
    assert outcome.status == "rejected" and "malformed XML" in (outcome.error or ""), outcome
    assert forks_counted == [1]
    assert snapshot(domain.id) == ({}, {}, 0)


def test_a_failing_child_is_reported_and_its_report_leaves_nothing(
    domain: Any,
    monkeypatch: pytest.MonkeyPatch,
    forks_counted: list[int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    def explode(*_args: Any) -> None:
        raise MemoryError("no room")

    monkeypatch.setattr(sink.RecordSink, "add", explode)  # only the child adds records
    data = big_report(domain.name, 50, report_id="crash", pad=PAD)
    outcome = streamed_in(data)
    assert outcome.status == "rejected"
    assert outcome.error == "unexpected error while reading the file (ParserProcessError)"
    assert "MemoryError: no room" in caplog.text  # the detail is in the server log
    assert forks_counted == [1]
    assert snapshot(domain.id) == ({}, {}, 0)
