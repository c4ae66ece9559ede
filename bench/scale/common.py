"""What the scale benchmark's scripts share: where the database and Redis are, the environment
of the ``msp`` processes they start, and a few SQL helpers (psycopg, no ORM)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[2]
GEN = ROOT.parent / "shared" / "bench" / "gen_reports.py"
MSP = str(Path(sys.executable).parent / "msp")
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_NAME = os.environ.get("SCALE_DB", "msp_scale")  # the seeded database
REDIS_URL = "redis://127.0.0.1:6379/13"  # not the tests' database (0) nor ingest_bench's (14)
STAFF_EMAIL = "bench-staff@msp-scale.example"
STAFF_PASSWORD = "scale-bench-password-1"  # a throwaway benchmark database
# A Fernet key for the benchmark's throwaway database (production mode wants a real one).
ENCRYPTION_KEY = "c2NhbGUtYmVuY2gtZW5jcnlwdGlvbi1rZXktMzJieXQ="


def db_url(name: str = DB_NAME) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def sa_url(name: str = DB_NAME) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def msp_env(
    name: str = DB_NAME, *, redis: bool = False, production: bool = False
) -> dict[str, str]:
    """Environment of an ``msp`` process on the benchmark database."""
    env = {
        **os.environ,
        "MSP_ENV": "production" if production else "development",
        "MSP_SECRET_KEY": "scale-bench-secret-key-not-for-real-use",
        "MSP_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "MSP_DATABASE_URL": sa_url(name),
        "MSP_REPORTS_ENRICH_DNS": "false",
        "MSP_MFA_REQUIRED_FOR_STAFF": "false",
        "MSP_LOG_LEVEL": "WARNING",
    }
    env.pop("MSP_REDIS_URL", None)
    if redis:
        env["MSP_REDIS_URL"] = REDIS_URL
    return env


@contextmanager
def connect(name: str = DB_NAME, *, autocommit: bool = False) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(db_url(name), autocommit=autocommit) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        yield conn


def scalar(conn: psycopg.Connection[Any], sql: str, params: Any = None) -> Any:
    row = conn.execute(sql, params).fetchone()
    return None if row is None else row[0]


def table_exists(conn: psycopg.Connection[Any], table: str) -> bool:
    return bool(scalar(conn, "SELECT to_regclass(%s) IS NOT NULL", (table,)))


def run_msp(*args: str, env: dict[str, str], quiet: bool = True) -> str:
    """Run an ``msp`` command to completion; returns its standard output."""
    done = subprocess.run(
        [MSP, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"msp {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    if not quiet:
        print(done.stdout, end="")
    return done.stdout


def generate(out: Path, *args: str) -> None:
    """Reports from the shared generator (``../shared/bench/gen_reports.py``)."""
    subprocess.run(
        [sys.executable, str(GEN), "--out", str(out), *args],
        check=True,
        stderr=subprocess.DEVNULL,
    )


class Clock:
    """Wall-clock steps, printed as they finish."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    @contextmanager
    def step(self, label: str) -> Iterator[None]:
        began = time.perf_counter()
        print(f"- {label} ...", flush=True)
        yield
        print(f"  done in {time.perf_counter() - began:.1f} s", flush=True)

    def total(self) -> float:
        return time.perf_counter() - self.started


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of ``values`` (``share`` in 0..1); 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))
    return ordered[rank]


def job_span(prefix: str = "") -> tuple[int, float, float]:
    """From RQ's job hashes in the benchmark's Redis database: jobs finished (whose description
    starts with ``prefix``), the seconds from the first job's start to the last one's end (the
    workers' start-up left out), and the seconds spent inside jobs in all."""
    from datetime import datetime

    from redis import Redis

    conn = Redis.from_url(REDIS_URL)
    starts, ends, inside = [], [], 0.0
    for key in conn.scan_iter("rq:job:*", count=1000):
        if conn.type(key) != b"hash":  # type: ignore[no-untyped-call]
            continue
        started, ended, description = conn.hmget(key, "started_at", "ended_at", "description")
        if not started or not ended or not (description or b"").decode().startswith(prefix):
            continue
        begin = datetime.fromisoformat(started.decode().rstrip("Z"))
        end = datetime.fromisoformat(ended.decode().rstrip("Z"))
        starts.append(begin)
        ends.append(end)
        inside += (end - begin).total_seconds()
    if not starts:
        return 0, 0.0, 0.0
    return len(starts), (max(ends) - min(starts)).total_seconds(), inside
