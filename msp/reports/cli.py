"""``msp ingest PATH...``: ingest report files or folders (recursively) from the command line.

Files are stored and processed in batches (up to 200 files or 64 MB), each batch in its own
transaction, so an interruption loses at most the batch in progress and a bad file never stops
the others. Each file is read from disk in chunks as it is stored and parsed: a large report is
never held whole in memory. A progress bar is shown on a terminal; ``--json`` prints one JSON
object per file (JSON Lines).

The command finishes what it started: with ``MSP_REDIS_URL`` set, the enrichment jobs (naming
the senders) go to the queue for the workers when each batch commits; without it (standalone),
no worker would ever run them, so the reports are enriched here before the command exits.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select
from tqdm import tqdm

from msp.extensions import db
from msp.reports import enrichment, service
from msp.tenancy.models import Tenant

BATCH = 200  # files per transaction: amortises the batch's statements over many reports
BATCH_BYTES = 64 * 1024 * 1024  # ... unless they are large: bounds the memory a batch holds
ENRICH_CHUNK = 200  # reports per enrichment transaction, as in the enrichment jobs
ENRICH_PASSES = 3  # reverse DNS has a time budget per pass; what is left goes to the sweep


def batches(files: list[Path]) -> Iterator[list[Path]]:
    """Consecutive groups of at most ``BATCH`` files and ``BATCH_BYTES`` bytes (or one file)."""
    batch: list[Path] = []
    size = 0
    for path in files:
        try:
            length = path.stat().st_size
        except OSError:
            length = 0  # unreadable: reported by ingest_batch
        if batch and (len(batch) >= BATCH or size + length > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(path)
        size += length
    if batch:
        yield batch


def iter_files(paths: tuple[str, ...]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path


def _tenant_slugs() -> dict[int, str]:
    return {tid: slug for tid, slug in db.session.execute(select(Tenant.id, Tenant.slug))}


def file_result(
    path: Path, raw_status: str, outcomes: list[service.Outcome], slugs: dict[int, str]
) -> dict[str, Any]:
    main = next((o for o in outcomes if o.status == raw_status), outcomes[0])
    errors = [o.error for o in outcomes if o.error]
    return {
        "path": str(path),
        "status": raw_status,
        "kind": main.kind,
        "org_name": main.org_name,
        "report_id": main.external_id,
        "domain": main.domain,
        "tenant": slugs.get(main.tenant_id) if main.tenant_id else None,
        "records": sum(o.records for o in outcomes),
        "reports": len(outcomes),
        "error": "; ".join(errors) or None,
    }


def _readable(path: Path) -> Path | str:
    """The path, or why it cannot be read. The file itself is read later, in chunks, while it
    is stored and parsed: a 100 MB report is never held whole in memory."""
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        return f"cannot read file: {exc.strerror or exc}"
    return path


def _unreadable(path: Path, error: str) -> dict[str, Any]:
    return {
        "path": str(path),
        "status": "rejected",
        "kind": None,
        "org_name": None,
        "report_id": None,
        "domain": None,
        "tenant": None,
        "records": 0,
        "reports": 0,
        "error": error,
    }


def ingest_batch(
    paths: list[Path],
    tenant_id: int | None,
    slugs: dict[int, str],
    ingested: list[int] | None = None,
) -> list[dict[str, Any]]:
    """Ingest a few files in one transaction (committed here); one result per file.

    The ids of the aggregate reports it ingested are appended to ``ingested``.
    """
    contents = {path: _readable(path) for path in paths}
    files: list[tuple[str, bytes | Path]] = [
        (p.name, found) for p, found in contents.items() if isinstance(found, Path)
    ]
    processed = iter(service.ingest_files(files, source="cli", tenant_id=tenant_id))
    db.session.commit()
    results = []
    for path, data in contents.items():
        if isinstance(data, str):
            results.append(_unreadable(path, data))
            continue
        raw, outcomes = next(processed)
        outcomes = outcomes or [service.Outcome(raw.status, error=raw.error)]
        results.append(file_result(path, raw.status, outcomes, slugs))
        if ingested is not None:
            ingested.extend(
                o.report_pk
                for o in outcomes
                if o.status == "ingested" and o.kind == "aggregate" and o.report_pk
            )
    return results


def enrich_here(report_ids: list[int]) -> int:
    """Enrich the reports in this process (no queue would run the jobs); IPs looked up."""
    identifier = enrichment.identifier_from_config()
    budget = float(current_app.config["MSP_REPORTS_ENRICH_SECONDS"])
    looked_up = 0
    for start in range(0, len(report_ids), ENRICH_CHUNK):
        chunk = report_ids[start : start + ENRICH_CHUNK]
        for _pass in range(ENRICH_PASSES):
            result = enrichment.enrich_reports(chunk, identifier, budget)
            db.session.commit()
            looked_up += result.ips_looked_up
            if not result.incomplete:
                break
    return looked_up


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--tenant", "tenant_slug", help="only accept reports for this tenant's domains")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object per file")
@with_appcontext
def ingest(paths: tuple[str, ...], tenant_slug: str | None, as_json: bool) -> None:
    """Ingest DMARC aggregate, failure and TLS report files or folders (recursively)."""
    tenant_id = None
    if tenant_slug:
        tenant_id = db.session.scalar(select(Tenant.id).where(Tenant.slug == tenant_slug))
        if tenant_id is None:
            raise click.BadParameter(f"no tenant {tenant_slug!r}", param_hint="--tenant")
    slugs = _tenant_slugs()
    files = list(iter_files(paths))
    counts: dict[str, int] = {}
    # No tqdm monitor thread: a large report is parsed in a forked child only while the process
    # runs one thread (msp.reports.parse_process).
    tqdm.monitor_interval = 0
    bar = tqdm(total=len(files), unit="file", disable=not sys.stderr.isatty(), file=sys.stderr)
    ingested: list[int] = []
    for batch in batches(files):
        for result in ingest_batch(batch, tenant_id, slugs, ingested):
            counts[result["status"]] = counts.get(result["status"], 0) + 1
            if as_json:
                click.echo(json.dumps(result))
            elif result["status"] == "rejected":
                bar.write(f"rejected {result['path']}: {result['error']}", file=sys.stderr)
            bar.update(1)
    bar.close()
    if ingested and not current_app.config.get("MSP_REDIS_URL"):
        enrich_here(ingested)
    if not as_json:
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        click.echo(f"{len(files)} files: {summary}")


COMMANDS = [ingest]
