"""The daily policy evaluation of every domain of the seeded database, on ``msp worker``s.

    .venv/bin/python -m bench.scale.evaluate [--workers 2]

1. Every plan's ``last_evaluated_at`` is cleared, so each domain gets the full first evaluation
   of the day (the daily sweep's work), not the "already evaluated today" skip.
2. The sweep job itself (``workers.policy.sweep_evaluations``, what the scheduler runs at 04:15)
   fans out one ``evaluate_domain`` job per domain onto RQ (Redis database 13, flushed first).
3. N ``msp worker --burst --queues default`` processes drain the queue; the time is from their
   start to the last one's exit. Then: jobs failed (RQ's failed registry), domains evaluated
   today, total seconds, domains/s and per-domain cost (worker-seconds per domain).
Target (issue 13): all 20,000 domains in under 10 minutes with 2 workers.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from datetime import UTC, datetime

from bench.scale import common
from bench.scale.common import connect, scalar


def fan_out() -> int:
    from redis import Redis

    from msp import create_app

    Redis.from_url(common.REDIS_URL).flushdb()
    app = create_app(
        {
            "ENV": "development",
            "SECRET_KEY": "scale-bench",
            "DATABASE_URL": common.sa_url(),
            "REDIS_URL": common.REDIS_URL,
        },
        serve=False,
    )
    from workers.policy import sweep_evaluations

    with app.app_context():
        return sweep_evaluations()


def failed_jobs() -> int:
    from redis import Redis
    from rq import Queue
    from rq.registry import FailedJobRegistry

    conn = Redis.from_url(common.REDIS_URL)
    return len(FailedJobRegistry(queue=Queue("default", connection=conn)))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with connect() as conn:
        conn.execute("UPDATE policy_plan SET last_evaluated_at = NULL")
        conn.commit()
        records = int(scalar(conn, "SELECT count(*) FROM report_record"))
    started = time.perf_counter()
    queued = fan_out()
    fan_seconds = time.perf_counter() - started
    env = common.msp_env(redis=True)
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [common.MSP, "worker", "--queues", "default", "--burst", "--name", f"scale-eval-{n}"],
            cwd=common.ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in range(args.workers)
    ]
    for proc in procs:
        proc.wait()
    seconds = time.perf_counter() - started
    today = datetime.now(UTC).date()
    with connect() as conn:
        done = int(
            scalar(
                conn,
                "SELECT count(*) FROM policy_plan WHERE (last_evaluated_at AT TIME ZONE 'UTC')::date"
                " = %s",
                (today,),
            )
        )
        stages = dict(
            conn.execute("SELECT stage, count(*) FROM policy_plan GROUP BY stage ORDER BY 2 DESC")
        )
    failed = failed_jobs()
    print(
        f"Daily evaluation, {args.workers} msp workers, ~{records:,} report_record rows:\n"
        f"  fan-out (sweep_evaluations): {queued:,} jobs queued in {fan_seconds:.1f} s\n"
        f"  drained in {seconds:.1f} s: {done:,} domains evaluated today, {failed} jobs failed\n"
        f"  {done / seconds:.1f} domains/s; {seconds * args.workers / max(done, 1) * 1000:.0f} ms "
        f"of worker time per domain\n"
        f"  stages now: {stages}\n"
        f"  target: all domains in < 600 s with 2 workers: "
        f"{'met' if seconds < 600 and done == queued and not failed else 'unmet'}"
    )


if __name__ == "__main__":
    main()
