"""Report ingestion benchmark: this project end to end into PostgreSQL vs parsedmarc's parse.

Runs in one go, on the same generated files (``../shared/bench/gen_reports.py``):

1. 1,000 small reports, each side in a fresh child process: parsedmarc's own parsing
   (offline, parse only) vs this project end to end (unpack, parse, route, dedupe, store raw
   + records, roll up, enrich senders) in ``msp ingest``'s batches, each batch's enrichment
   running beside the next batch's ingestion as enrichment jobs run beside ingestion on
   workers.
2. One 200,000-record report: the same two, each in a child process to measure peak memory.
3. A backlog of reports queued on RQ and drained by 1, then 2, ``msp worker --burst`` processes.
4. ``msp ingest`` of the same big report as plain XML (about 127 MB), under ``/usr/bin/time -v``:
   its peak resident memory (the largest of the command and its parser process; goal < 300 MB).

Prints records/s and reports/s for both and the ratio. Uses a scratch PostgreSQL database that
it creates and drops, and a Redis database index (default 14) that it flushes.

    .venv/bin/python bench/ingest_bench.py [--reports 1000] [--big 200000] [--backlog 2000]
        [--parts small,big,backlog,cli]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GEN = ROOT.parent / "shared" / "bench" / "gen_reports.py"
sys.path.insert(0, str(ROOT))


def generate(out: Path, *args: str) -> list[dict[str, Any]]:
    truth = out.with_suffix(".jsonl")
    subprocess.run(
        [sys.executable, str(GEN), "--out", str(out), "--truth", str(truth), *args],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    return [json.loads(line) for line in truth.read_text().splitlines()]


def files_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file())


# --- parsedmarc, parse only ------------------------------------------------------------------


def parsedmarc_run(paths: list[Path]) -> tuple[float, int]:
    import logging

    logging.disable(logging.CRITICAL)
    import parsedmarc

    records = 0
    started = time.perf_counter()
    for path in paths:
        parsed = parsedmarc.parse_report_file(path.read_bytes(), offline=True)
        records += len(parsed["report"]["records"])
    return time.perf_counter() - started, records


def parsedmarc_xml_run(path: Path) -> tuple[float, int]:
    """parsedmarc's aggregate parse of a big zipped report, fed the XML itself.

    ``parse_report_file`` refuses to unpack more than 100 MB (a fixed limit in parsedmarc 11),
    which a 200,000-record report exceeds; the unzip is not timed.
    """
    import logging
    import zipfile

    logging.disable(logging.CRITICAL)
    from msp.reports.parsing import reference_parse_aggregate

    with zipfile.ZipFile(path) as archive:
        xml = archive.read(archive.namelist()[0])
    started = time.perf_counter()
    records = reference_parse_aggregate(xml)
    return time.perf_counter() - started, records


# --- this project ----------------------------------------------------------------------------


def make_app(db_url: str, redis_url: str | None) -> Any:
    from msp import create_app

    return create_app(
        {
            "ENV": "test",
            "SECRET_KEY": "bench",
            "DATABASE_URL": db_url,
            "REDIS_URL": redis_url,
            "REPORTS_ENRICH_DNS": False,
            "JOB_RETRIES": 0,
        }
    )


def setup_database(admin_url: str) -> str:
    import sqlalchemy as sa

    name = f"msp_bench_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return str(sa.engine.make_url(admin_url).set(database=name).render_as_string(False))


def drop_database(admin_url: str, url: str) -> None:
    import sqlalchemy as sa

    name = sa.engine.make_url(url).database
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def prepare(app: Any, domains: set[str]) -> None:
    from msp.bootstrap import migrate_to_latest
    from msp.extensions import db
    from tests.factories import make_domain, make_tenant

    with app.app_context():
        migrate_to_latest()
        tenant = make_tenant("bench")
        for name in sorted(domains):
            make_domain(tenant, name)
        db.session.commit()


def ours_run(app: Any, paths: list[Path]) -> tuple[float, int, dict[str, int]]:
    """Ingest files in ``msp ingest``'s batches (one transaction each) and enrich them.

    As deployed, enrichment does not hold up ingestion: each batch's enrichment runs on a
    second thread (its own app context, session and connection, like an enrichment job on a
    worker) while the next batch is ingested. The time ends when the last enrichment is done.
    """
    from msp.extensions import db
    from msp.reports import enrichment, service
    from msp.reports.cli import batches

    def enrich(report_ids: list[int]) -> None:
        with app.app_context():
            enrichment.enrich_reports(report_ids, identifier, budget_seconds=5)
            db.session.commit()

    statuses: dict[str, int] = {}
    records = 0
    with app.app_context():
        identifier = enrichment.identifier_from_config()
    with ThreadPoolExecutor(max_workers=1) as enricher, app.app_context():
        started = time.perf_counter()
        pending = []
        for chunk in batches(paths):
            files: list[tuple[str, bytes | Path]] = [(p.name, p) for p in chunk]  # as msp ingest
            done = service.ingest_files(files, source="cli")
            report_ids = []
            for raw, outcomes in done:  # read before the commit expires the rows
                statuses[raw.status] = statuses.get(raw.status, 0) + 1
                records += sum(o.records for o in outcomes)
                report_ids += [o.report_pk for o in outcomes if o.report_pk]
            db.session.commit()
            pending.append(enricher.submit(enrich, report_ids))
        for future in pending:
            future.result()
        return time.perf_counter() - started, records, statuses


def child(kind: str, path: str, db_url: str) -> None:
    """Run one side on one file (or a folder's files) and print seconds, records, statuses and
    peak RSS (MB) as JSON. Each side runs in a fresh process: neither pays for what the other
    left in memory."""
    where = Path(path)
    statuses: dict[str, int] = {}
    if kind == "parsedmarc" and where.is_dir():
        seconds, records = parsedmarc_run(files_of(where))
    elif kind == "parsedmarc":
        seconds, records = parsedmarc_xml_run(where)
    else:
        paths = files_of(where) if where.is_dir() else [where]
        seconds, records, statuses = ours_run(make_app(db_url, None), paths)
    # This process and its parser process (a large report's), added up: an upper bound, as the
    # pages the child shares with its parent after the fork count in both (see run_child).
    peak = sum(
        resource.getrusage(who).ru_maxrss / 1024
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    print(
        json.dumps({"seconds": seconds, "records": records, "peak_mb": peak, "statuses": statuses})
    )


def run_child(kind: str, path: Path, db_url: str) -> dict[str, Any]:
    """Run one side in a child process; adds ``pss_mb``, the peak of the memory it and its own
    children (a large report's parser process) use together, sampled from outside every 0.1 s
    (proportional set size: pages shared after a fork count once)."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", kind, str(path), db_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _pss_kb(proc.pid))
        time.sleep(0.1)
    out = proc.stdout.read() if proc.stdout else ""
    if proc.returncode:
        raise SystemExit(f"{kind} run failed ({proc.returncode})")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["pss_mb"] = peak / 1024
    return result


def _pss_kb(pid: int) -> int:
    """PSS of a process and its descendants, in kB (0 once it is gone)."""
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0
    pids += [int(c) for c in children]
    total = 0
    for each in pids:
        try:
            rollup = Path(f"/proc/{each}/smaps_rollup").read_text()
        except OSError:
            continue
        total += sum(
            int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")
        )
    return total


# --- workers on a backlog --------------------------------------------------------------------


def reset_reports(app: Any) -> None:
    from sqlalchemy import text

    from msp.extensions import db

    with app.app_context():
        db.session.execute(
            text(
                "TRUNCATE report_raw, report, report_record, report_daily, report_dkim_selector,"
                " report_sender, report_ip_info RESTART IDENTITY CASCADE"
            )
        )
        db.session.commit()


def backlog_run(
    app: Any, paths: list[Path], workers: int, db_url: str, redis_url: str
) -> dict[str, Any]:
    from redis import Redis
    from sqlalchemy import func, select

    from msp.extensions import db
    from msp.reports import service
    from msp.reports.models import RawReport

    reset_reports(app)
    Redis.from_url(redis_url).flushdb()
    with app.app_context():
        for path in paths:
            service.receive(path.read_bytes(), source="cli", filename=path.name)
        db.session.commit()
    env = {
        **os.environ,
        "MSP_ENV": "test",
        "MSP_SECRET_KEY": "bench",
        "MSP_DATABASE_URL": db_url,
        "MSP_REDIS_URL": redis_url,
        "MSP_REPORTS_ENRICH_DNS": "false",
        "MSP_JOB_RETRIES": "0",
    }
    msp = str(Path(sys.executable).parent / "msp")
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [msp, "worker", "--queues", "reports", "--burst"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    for proc in procs:
        proc.wait()
    seconds = time.perf_counter() - started
    with app.app_context():
        rows = db.session.execute(select(RawReport.status, func.count()).group_by(RawReport.status))
        statuses = {s: n for s, n in rows}
    return {
        "workers": workers,
        "seconds": seconds,
        "reports_per_s": len(paths) / seconds,
        "statuses": statuses,
    }


# --- main ------------------------------------------------------------------------------------


def line(label: str, reports: int, records: int, seconds: float) -> str:
    return (
        f"  {label:<34} {reports:>6} reports {records:>8} records {seconds:8.2f} s "
        f"{reports / seconds:9.1f} reports/s {records / seconds:10.0f} records/s"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--reports", type=int, default=1000)
    ap.add_argument("--big", type=int, default=200_000, help="records of the one big report")
    ap.add_argument("--backlog", type=int, default=2000, help="reports queued for the workers")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--parts", default="small,big,backlog,cli", help="which parts to run")
    ap.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    ap.add_argument("--child", nargs=3, metavar=("KIND", "PATH", "DB"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    work = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    small = generate(work / "small", "--reports", str(args.reports), "--seed", "1")
    big = generate(
        work / "big",
        "--reports",
        "1",
        "--records",
        str(args.big),
        "--style",
        "google",
        "--seed",
        "2",
    )
    backlog = generate(work / "backlog", "--reports", str(args.backlog), "--seed", "3")
    parts = set(args.parts.split(","))
    big_xml = []  # the big report again, as plain XML (seed 4: a report id of its own)
    if "cli" in parts:
        big_xml = generate(
            work / "big-xml",
            *("--reports", "1", "--records", str(args.big), "--style", "google"),
            *("--seed", "4", "--compress", "none"),
        )
    domains = {t["domain"] for t in small + big + backlog + big_xml}
    db_url = setup_database(args.database_url)
    try:
        app = make_app(db_url, args.redis_url)
        prepare(app, domains)
        if "small" in parts:
            report_small(work, db_url, small)
        if "big" in parts:
            report_big(work, db_url, big)
        if "cli" in parts:
            report_cli_memory(work / "big-xml", db_url, args.big)
        if "backlog" not in parts:
            return
        print(f"Backlog of {args.backlog} reports on RQ (msp worker --burst, reports queue):")
        for n in (int(x) for x in args.workers.split(",")):
            result = backlog_run(app, files_of(work / "backlog"), n, db_url, args.redis_url)
            print(
                f"  {n} worker(s): {result['seconds']:.1f} s, "
                f"{result['reports_per_s']:.1f} reports/s, statuses {result['statuses']}"
            )
    finally:
        drop_database(args.database_url, db_url)


def report_small(work: Path, db_url: str, small: list[dict[str, Any]]) -> None:
    paths = files_of(work / "small")
    pm = run_child("parsedmarc", work / "small", db_url)
    ours = run_child("ours", work / "small", db_url)
    pm_s, pm_rec = pm["seconds"], int(pm["records"])
    our_s, our_rec = ours["seconds"], int(ours["records"])
    truth_rec = sum(t["records"] for t in small)
    print(f"{len(paths)} small reports ({truth_rec} records), statuses here: {ours['statuses']}")
    print(line("parsedmarc 11 parse only, offline", len(paths), pm_rec, pm_s))
    print(line("this project, end to end into PG", len(paths), our_rec, our_s))
    print(f"  ratio (ours / parsedmarc): {pm_s / our_s:.2f}x reports/s (goal >= 2x)")


def report_big(work: Path, db_url: str, big: list[dict[str, Any]]) -> None:
    [big_path] = files_of(work / "big")
    pm = run_child("parsedmarc", big_path, db_url)
    ours = run_child("ours", big_path, db_url)
    print(
        f"One report of {big[0]['records']} records ({big_path.stat().st_size / 1e6:.1f} MB "
        f"zipped, {big[0]['xml_bytes'] / 1e6:.0f} MB XML):"
    )
    print(
        line("parsedmarc 11 parse only, offline", 1, int(pm["records"]), pm["seconds"])
        + f"  peak {pm['pss_mb']:.0f} MB"
    )
    print(
        line("this project, end to end into PG", 1, int(ours["records"]), ours["seconds"])
        + f"  peak {ours['pss_mb']:.0f} MB (RSS: {ours['peak_mb']:.0f} MB, shared pages twice)"
    )
    ratio = (ours["records"] / ours["seconds"]) / (pm["records"] / pm["seconds"])
    print(f"  ratio (ours / parsedmarc): {ratio:.2f}x records/s (goal >= 5x, peak < 300 MB)")


def cli_peak_rss(path: Path, db_url: str) -> tuple[dict[str, Any], float, float]:
    """``msp ingest --json PATH`` under ``/usr/bin/time -v``: (its result, peak RSS in MB, s).

    GNU time reports the largest resident set of the command and of its waited-for children
    (the parser process of a large report), each on its own: not a sum."""
    env = {
        **os.environ,
        "MSP_ENV": "test",
        "MSP_SECRET_KEY": "bench",
        "MSP_DATABASE_URL": db_url,
        "MSP_REPORTS_ENRICH_DNS": "false",
        "MSP_REPORTS_MAX_FILE_BYTES": str(max(path.stat().st_size + 1, 50 * 1024 * 1024)),
    }
    env.pop("MSP_REDIS_URL", None)
    msp = str(Path(sys.executable).parent / "msp")
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-v", msp, "ingest", "--json", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    peak_kb = next(
        int(row.rsplit(":", 1)[1])
        for row in done.stderr.splitlines()
        if "Maximum resident set size" in row
    )
    return json.loads(done.stdout.splitlines()[-1]), peak_kb / 1024, seconds


def report_cli_memory(folder: Path, db_url: str, records: int) -> None:
    """The big report as plain XML (what a report unzipped by hand is), through ``msp ingest``."""
    if not Path("/usr/bin/time").exists():
        print("msp ingest of the big report as XML: skipped (no /usr/bin/time)")
        return
    [path] = files_of(folder)
    result, peak_mb, seconds = cli_peak_rss(path, db_url)
    print(f"msp ingest of one {path.stat().st_size / 1e6:.0f} MB XML report ({records} records):")
    print(
        f"  {result['status']}, {result['records']} records in {seconds:.1f} s, "
        f"peak RSS {peak_mb:.0f} MB (/usr/bin/time -v; goal < 300 MB)"
    )


if __name__ == "__main__":
    main()
