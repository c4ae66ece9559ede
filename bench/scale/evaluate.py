"""The daily policy evaluation of every domain of the seeded database, on ``msp worker``s.

    .venv/bin/python -m bench.scale.evaluate [--workers 2]

1. Every plan's ``last_evaluated_at`` is cleared, so each domain gets the full first evaluation
   of the day (the daily sweep's work), not the "already evaluated today" skip.
2. The sweep job itself (``workers.policy.sweep_evaluations``, what the scheduler runs at 04:15)
   fans out one ``evaluate_domains`` job per batch of 50 domains onto RQ (Redis database 13,
   flushed first).
3. N ``msp worker --burst --queues default`` processes drain the queue; the time is from their
   start to the last one's exit. Then: jobs failed (RQ's failed registry), domains evaluated
   today, total seconds, domains/s and per-domain cost (worker-seconds per domain).
Target (issue 13): all 20,000 domains in under 10 minutes with 2 workers.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from datetime import UTC, datetime

from bench.scale import common
from bench.scale.common import connect, scalar


def fan_out(sample: int) -> int:
    """The sweep's jobs for every domain, or (``sample``) for every k-th domain only, queued
    exactly as the sweep queues them."""
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
    from msp.policy import service
    from msp.queues import DEFAULT, enqueue
    from workers.policy import EVALUATION_BATCH, sweep_evaluations

    with app.app_context():
        if not sample:
            return sweep_evaluations()
        ids = service.evaluable_domain_ids()
        chosen = ids[:: max(1, len(ids) // sample)][:sample]
        for start in range(0, len(chosen), EVALUATION_BATCH):  # batched as the sweep does
            batch = chosen[start : start + EVALUATION_BATCH]
            enqueue(
                "workers.policy.evaluate_domains",
                queue=DEFAULT,
                job_id=f"policy-evaluate-sample-{batch[0]}",
                domain_ids=batch,
            )
        from msp.extensions import db

        db.session.commit()  # the jobs are sent after the commit
        return len(chosen)


def in_one_process(count: int) -> tuple[int, float]:
    """The same evaluation of ``count`` domains (every k-th) called in this one process, each
    rolled back: the cost without RQ's job machinery (a diagnostic)."""
    from msp import create_app
    from msp.extensions import db
    from msp.policy import service

    app = create_app(
        {"ENV": "development", "SECRET_KEY": "scale-bench", "DATABASE_URL": common.sa_url()},
        serve=False,
    )
    with app.app_context():
        ids = service.evaluable_domain_ids()
        chosen = ids[:: max(1, len(ids) // count)][:count]
        service.evaluate_domain(chosen[0], force=True)  # first use: imports, compiled SQL
        db.session.rollback()
        started = time.perf_counter()
        for domain_id in chosen:
            service.evaluate_domain(domain_id, force=True)
            db.session.rollback()
        return len(chosen), time.perf_counter() - started


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
    ap.add_argument(
        "--sample", type=int, default=0, help="evaluate only every k-th domain, N in all (0: all)"
    )
    args = ap.parse_args()
    with connect() as conn:
        conn.execute("UPDATE policy_plan SET last_evaluated_at = NULL")
        conn.commit()
        records = int(scalar(conn, "SELECT count(*) FROM report_record"))
    started = time.perf_counter()
    queued = fan_out(args.sample)
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
                "SELECT count(*) FROM policy_plan"
                " WHERE (last_evaluated_at AT TIME ZONE 'UTC')::date = %s",
                (today,),
            )
        )
        stages = dict(
            conn.execute("SELECT stage, count(*) FROM policy_plan GROUP BY stage ORDER BY 2 DESC")
        )
    failed = failed_jobs()
    jobs, span, inside = common.job_span("workers.policy.evaluate_domain")
    with connect() as conn:
        domains = int(scalar(conn, "SELECT count(*) FROM domain"))
    # A sample's wall time is mostly the workers' start-up: project from the jobs' own span.
    projected = (span if args.sample else seconds) / max(queued, 1) * domains
    alone, alone_seconds = in_one_process(min(queued, 50))
    print(
        f"Daily evaluation, {args.workers} msp workers, ~{records:,} report_record rows:\n"
        f"  fan-out (sweep_evaluations): {queued:,} domains in {jobs:,} jobs, queued in"
        f" {fan_seconds:.1f} s\n"
        f"  drained in {seconds:.1f} s: {done:,} domains evaluated today, {failed} jobs failed\n"
        f"  {done / seconds:.1f} domains/s; {seconds * args.workers / max(done, 1) * 1000:.0f} ms "
        f"of worker time per domain\n"
        f"  inside the jobs (RQ's started/ended times, worker start-up left out): {jobs:,} jobs"
        f" from first start to last end {span:.1f} s, {inside / max(jobs, 1) * 1000:.0f} ms per"
        f" job on average\n"
        f"  diagnostic: {alone} of the same domains evaluated in one process, outside RQ"
        f" (rolled back): {alone_seconds / max(alone, 1) * 1000:.0f} ms per domain\n"
        f"  stages now: {stages}\n"
        + (
            f"  a sample of {queued} of {domains:,} domains: all of them would take "
            f"~{projected:.0f} s at the jobs' rate (projected from the span, not measured)\n"
            if args.sample
            else ""
        )
        + f"  target: all domains in < 600 s with 2 workers: "
        f"{'met' if projected < 600 and done == queued and not failed else 'unmet'}"
        + (" (projected)" if args.sample else "")
    )
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"  load average at the end (1, 5, 15 min; 2 cores shared with other work): {load}")


if __name__ == "__main__":
    main()
