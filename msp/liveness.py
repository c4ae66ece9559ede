"""Liveness of the processes that serve no HTTP (the RQ worker, the scheduler); the web
process has ``/healthz`` (msp/health.py).

Each touches a file every time its main loop turns (the RQ worker on each of its heartbeats,
the scheduler on each of its rounds); ``msp alive FILE --max-age N`` fails when the file is
older than N seconds, so a Kubernetes exec probe restarts a wedged process (say, blocked on a
half-open Redis socket) without a Redis round trip per probe. Light on purpose: the probe
command imports nothing but this module.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import click

# The environment variable the worker and scheduler commands read the file's path from.
LIVENESS_FILE_ENV = "MSP_LIVENESS_FILE"
# RQ worker TTL (seconds) when a liveness file is kept: an idle worker blocks on Redis for
# WORKER_TTL - 15 seconds between heartbeats (RQ's default, 420, would mean 7 minutes).
WORKER_TTL = 120
# The longest a healthy loop goes without touching the file: an idle worker's dequeue timeout.
LONGEST_QUIET_SECONDS = WORKER_TTL - 15


def touch(path: Path, ahead: float = 0.0) -> None:
    """Mark ``path`` as touched now, or ``ahead`` seconds from now: a process about to be
    quiet for longer than usual (a worker running a long job in itself) vouches for itself
    until then. Creates the file and its folder when missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    if ahead > 0:
        when = time.time() + ahead
        os.utime(path, (when, when))


def age(path: Path, now: float | None = None) -> float | None:
    """Seconds since ``path`` was last touched, or None when it does not exist."""
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    return (time.time() if now is None else now) - mtime


@click.command("alive")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--max-age",
    default=300,
    show_default=True,
    type=click.IntRange(min=1),
    help="seconds the file may go untouched",
)
def alive(path: Path, max_age: int) -> None:
    """Exit 1 unless a worker or scheduler touched PATH lately (liveness probe)."""
    seconds = age(path)
    if seconds is None:
        raise click.ClickException(f"{path} does not exist: the process never started its loop")
    if seconds > max_age:
        raise click.ClickException(f"{path} untouched for {seconds:.0f}s (more than {max_age}s)")
    click.echo(f"alive: {path} touched {seconds:.0f}s ago")


COMMANDS: list[click.Command] = [alive]
