"""Helpers of the fault suite: real ``msp`` processes on the test session's database and Redis
index, a generated backlog of reports, what the database holds of it, and the summary table."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from msp.extensions import db
from msp.reports.models import RawReport, Report, ReportDaily, ReportRecord
from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[2]
MSP = str(Path(sys.executable).with_name("msp"))
GENERATOR = ROOT / "tests" / "data" / "generators" / "gen_reports.py"
ARTIFACT = ROOT / "tests" / "artifacts" / "reliability.md"


@dataclass(frozen=True)
class Backlog:
    """Generated report files and what a correct ingestion must count of them."""

    files: list[tuple[str, bytes]]
    domains: list[str]
    reports: int
    records: int
    messages: int


@dataclass(frozen=True)
class Outcome:
    """One line of the summary table."""

    fault: str
    survived: bool
    lost: int
    doubled: int
    recover_seconds: float
    note: str


def generate(out: Path, *, seed: int, reports: int, prefix: str, records: str) -> Backlog:
    """``reports`` small aggregate reports from the corpus generator, named ``prefix...``."""
    truth = out / "truth.jsonl"
    subprocess.run(
        [
            *(sys.executable, str(GENERATOR), "--out", str(out / "files")),
            *("--reports", str(reports), "--records-range", records),
            *("--domains", "4", "--seed", str(seed), "--unique-names", "--truth", str(truth)),
        ],
        check=True,
        capture_output=True,
    )
    rows = [json.loads(line) for line in truth.read_text().splitlines()]
    files = [(f"{prefix}{r['file']}"[:255], (out / "files" / r["file"]).read_bytes()) for r in rows]
    return Backlog(
        files=files,
        domains=sorted({r["domain"] for r in rows}),
        reports=len({(r["org_name"], r["report_id"]) for r in rows}),
        records=sum(r["records"] for r in rows),
        messages=sum(r["messages"] for r in rows),
    )


def worker_env(app: Flask) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSP_")}
    env.update(
        MSP_ENV="test",
        MSP_SECRET_KEY="test-secret-key",
        MSP_ENCRYPTION_KEY=str(app.config["MSP_ENCRYPTION_KEY"]),
        MSP_DATABASE_URL=str(app.config["SQLALCHEMY_DATABASE_URI"]),
        MSP_REDIS_URL=str(app.config["MSP_REDIS_URL"]),
        MSP_REPORTS_ENRICH_DNS="false",
        MSP_JOB_RETRIES="0",
        TZ="UTC",
    )
    return env


class Processes:
    """``msp`` processes started by a test, each in its own process group, stopped at the end."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                [MSP, *args],
                cwd=ROOT,
                env=self.env,
                start_new_session=True,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.running.append(proc)
        return proc

    def worker(self, name: str) -> subprocess.Popen[bytes]:
        # The queues in the order a deployed worker takes them (notifications aside).
        return self.start(name, "worker", "--queues", "checks,reports,default", "--name", name)

    @staticmethod
    def kill(proc: subprocess.Popen[bytes]) -> list[int]:
        """SIGKILL to the worker and its children, as a lost node would; the children's ids."""
        return kill_worker(proc)

    def stop_all(self) -> None:
        for proc in self.running:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.running:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def statuses(prefix: str) -> dict[str, int]:
    db.session.rollback()  # a fresh snapshot: the workers commit in other connections
    rows = db.session.execute(
        select(RawReport.status, func.count())
        .where(RawReport.filename.like(f"{prefix}%"))
        .group_by(RawReport.status)
    )
    return {str(status): int(n) for status, n in rows}


def counted(domain_ids: list[int]) -> tuple[int, int, int]:
    """(reports, record rows, messages) the database holds for these domains."""
    db.session.rollback()
    reports = db.session.scalar(
        select(func.count()).select_from(Report).where(Report.domain_id.in_(domain_ids))
    )
    records = db.session.scalar(
        select(func.count()).select_from(ReportRecord).where(ReportRecord.domain_id.in_(domain_ids))
    )
    messages = db.session.scalar(
        select(func.coalesce(func.sum(ReportDaily.messages), 0)).where(
            ReportDaily.domain_id.in_(domain_ids)
        )
    )
    return int(reports or 0), int(records or 0), int(messages or 0)


def wait_for(condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.2) -> float:
    """Seconds until ``condition()`` held; AssertionError after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def render(outcomes: list[Outcome]) -> str:
    lines = [
        "# Reliability under faults (tests/reliability/test_faults.py)",
        "",
        "| fault injected | survived | data lost | doubled | time to recover | note |",
        "|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        lines.append(
            f"| {o.fault} | {'yes' if o.survived else 'NO'} | {o.lost} | {o.doubled} "
            f"| {o.recover_seconds:.1f} s | {o.note} |"
        )
    return "\n".join(lines) + "\n"


def describe(found: tuple[int, int, int], backlog: Backlog) -> dict[str, Any]:
    expected = (backlog.reports, backlog.records, backlog.messages)
    lost = sum(max(0, e - f) for e, f in zip(expected, found, strict=True))
    doubled = sum(max(0, f - e) for e, f in zip(expected, found, strict=True))
    return {"lost": lost, "doubled": doubled, "expected": expected, "found": found}


def kill_worker(proc: subprocess.Popen[bytes]) -> list[int]:
    """SIGKILL to an ``msp worker`` (started in a session of its own) and its children (RQ's
    scheduler process; with ``--fork``, the work horse running the job); returns their process
    ids, each checked dead.

    A work horse runs in a session of its own (RQ calls setsid in it), so killing the worker's
    group does not reach it: it would finish its job undisturbed. The group is stopped first,
    so the worker cannot fork a new horse between the look at its children and the kill.
    """
    os.killpg(proc.pid, signal.SIGSTOP)
    horses = children(proc.pid)
    for pid in horses:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in horses) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = [pid for pid in horses if alive(pid)]
    assert not survivors, f"child process(es) {survivors} survived the kill"
    return horses


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie, dead but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def children(pid: int) -> list[int]:
    """The ids of ``pid``'s child processes (from /proc: field 4 of stat is the parent)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


class CuttableProxy:
    """A TCP proxy in front of PostgreSQL that a test cuts: every open connection is closed and
    new ones are refused (what a process sees when the database host is gone or restarting),
    until :meth:`restore` listens again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._listener: socket.socket | None = None

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # the listener was closed: cut
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        if self._listener is not None:
            # shutdown first: a bare close() does not wake the thread blocked in accept(), and
            # the kernel would go on accepting.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._open = self._open, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def restore(self) -> None:
        self.start()
