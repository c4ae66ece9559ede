"""A backlog of reports posted through the API and parsed by ``msp worker``s, against
parsedmarc's parse-only rate on the same files in the same run.

    .venv/bin/python -m bench.scale.backlog [--reports 10000] [--workers 2]

1. ``gen_reports.py`` writes the reports (mixed reporters, 1-40 records, seed 21).
2. parsedmarc 11 parses every file offline in one child process (``bench/ingest_bench.py``'s
   code): its reports/s is the parse-only rate of one process.
3. A scratch database (``msp_scale_backlog``, created, migrated by ``msp db upgrade``, dropped
   at the end) gets one tenant owning the reports' domains (verified); ``msp web`` (gunicorn,
   2 x 4) receives the files through ``POST /api/v1/reports`` (multipart, 50 files a request,
   4 clients at once, an MSP admin token) while no worker runs: the backlog is queued on RQ
   (Redis database 13, flushed first).
4. N ``msp worker --burst --queues reports`` drain it (parse, route, store, roll up, enrich;
   each job in the worker itself, as deployed, or with ``--fork`` in a work horse per job);
   the time runs from their start to the last one's exit. Reports/s per worker = reports /
   seconds / N. Target (issue 13): >= parsedmarc's parse-only rate per process.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg

from bench.scale import common
from bench.scale.common import connect, scalar
from bench.scale.drive import free_port, make_token, start_web

DB = "msp_scale_backlog"
FILES_PER_POST = 50


def parsedmarc_rate(folder: Path) -> tuple[float, int]:
    from bench.ingest_bench import run_child

    result = run_child("parsedmarc", folder, "")
    return float(result["seconds"]), int(result["records"])


def prepare_database(domains: list[str]) -> None:
    with psycopg.connect(common.ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB}"')
    common.run_msp("db", "upgrade", env=common.msp_env(DB))
    with connect(DB) as conn:
        conn.execute(
            "INSERT INTO tenant (slug, name, timezone, plan, status, report_token, settings,"
            " created_at, updated_at) VALUES ('backlog', 'Backlog client', 'UTC', 'standard',"
            " 'active', 'rbacklog0000000', '{}', now(), now())"
        )
        conn.execute(
            "INSERT INTO domain (name, dkim_selectors, parked, settings, tenant_id, created_at,"
            " updated_at, verified_at) SELECT n, '[]', false, '{}', t.id, now(), now(), now()"
            " FROM tenant t, unnest(%s::text[]) AS n",
            (domains,),
        )
        conn.commit()


def post_all(port: int, token: str, files: list[Path]) -> float:
    def post(chunk: list[Path]) -> None:
        parts = [("file", (p.name, p.read_bytes(), "application/octet-stream")) for p in chunk]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300) as client:
            resp = client.post(
                "/api/v1/reports", files=parts, headers={"Authorization": f"Bearer {token}"}
            )
        if resp.status_code != 202:
            raise SystemExit(f"upload answered {resp.status_code}: {resp.text[:300]}")

    chunks = [files[i : i + FILES_PER_POST] for i in range(0, len(files), FILES_PER_POST)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(post, chunks))
    return time.perf_counter() - started


def drain(workers: int, fork: bool = False) -> float:
    env = common.msp_env(DB, redis=True)
    started = time.perf_counter()
    how = ["--fork"] if fork else []
    procs = [
        subprocess.Popen(
            [
                common.MSP,
                "worker",
                "--queues",
                "reports",
                "--burst",
                "--name",
                f"scale-bl-{n}",
                *how,
            ],
            cwd=common.ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in range(workers)
    ]
    for proc in procs:
        proc.wait()
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--reports", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the scratch database")
    ap.add_argument("--fork", action="store_true", help="msp worker --fork (a work horse per job)")
    args = ap.parse_args()
    from redis import Redis

    work = Path(tempfile.mkdtemp(prefix="scale-backlog-"))
    truth = work / "truth.jsonl"
    common.generate(
        work / "files", "--reports", str(args.reports), "--seed", "21", "--truth", str(truth)
    )
    import json

    facts = [json.loads(line) for line in truth.read_text().splitlines()]
    files = sorted((work / "files").iterdir())
    pm_seconds, pm_records = parsedmarc_rate(work / "files")
    prepare_database(sorted({f["domain"] for f in facts}))
    Redis.from_url(common.REDIS_URL).flushdb()
    port = free_port()
    web = start_web(port, 2, 4, db=DB)
    try:
        post_seconds = post_all(port, make_token(DB), files)
    finally:
        web.terminate()
        web.wait(timeout=60)
    queued = Redis.from_url(common.REDIS_URL).llen("rq:queue:reports")
    seconds = drain(args.workers, fork=args.fork)
    jobs, span, _inside = common.job_span("workers.reports.")
    with connect(DB) as conn:
        statuses = dict(
            conn.execute("SELECT status, count(*) FROM report_raw GROUP BY 1 ORDER BY 1")
        )
        records = int(scalar(conn, "SELECT count(*) FROM report_record"))
        unenriched = int(scalar(conn, "SELECT count(*) FROM report WHERE NOT enriched"))
    if not args.keep:
        with psycopg.connect(common.ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    n = len(files)
    ours = n / seconds / args.workers
    theirs = n / pm_seconds
    print(
        f"Backlog of {n:,} reports ({sum(f['records'] for f in facts):,} records):\n"
        f"  parsedmarc 11, parse only, offline, 1 process: {pm_seconds:.1f} s, "
        f"{theirs:.1f} reports/s ({pm_records:,} records)\n"
        f"  posted through POST /api/v1/reports in {post_seconds:.1f} s "
        f"({n / post_seconds:.0f} reports/s); {queued} parse jobs queued\n"
        f"  {args.workers} msp workers{' --fork' if args.fork else ''} drained it in "
        f"{seconds:.1f} s: {n / seconds:.1f} reports/s,"
        f" {ours:.1f} reports/s per worker; statuses {statuses}; {records:,} records;"
        f" {unenriched} reports not enriched\n"
        f"  inside the jobs (worker start-up left out): {jobs} parse and enrichment jobs from"
        f" first start to last end {span:.1f} s: {n / span / args.workers:.1f} reports/s per"
        f" worker ({n / span / args.workers / theirs:.2f}x parsedmarc)\n"
        f"  ratio per worker / parsedmarc per process: {ours / theirs:.2f}x "
        f"(target >= 1: {'met' if ours >= theirs else 'unmet'})"
    )
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"  load average at the end (1, 5, 15 min; 2 cores shared with other work): {load}")


if __name__ == "__main__":
    main()
