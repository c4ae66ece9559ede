"""A large report is never held whole in memory: ``msp ingest`` stores it (hash, compression)
and parses it while reading it from disk in chunks, and a worker parses a stored one while
decompressing it. Measured as the peak of the Python allocations during the ingestion
(tracemalloc), which must stay well under the file's size; the records must all be there."""

from __future__ import annotations

import gzip
import hashlib
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, select

from msp.extensions import db
from msp.reports import batch, processing, store
from msp.reports.cli import ingest_batch
from msp.reports.models import RawReport, ReportRecord
from msp.reports.origin import Origin
from tests.reports.hostile import report_xml

RECORDS = 600
PAD = 20_000  # blanks after each record: a 12 MB file of few records (cheap to write to the DB)
T = TypeVar("T")


def big_report(domain: str, report_id: str) -> bytes:
    data = report_xml(domain=domain, report_id=report_id, records=RECORDS, count=2)
    return data.replace(b"</record>", b"</record>" + b"\n" * PAD)


def peak_while(work: Callable[[], T]) -> tuple[T, int]:
    """What ``work`` returns, and the peak of the Python memory it allocated meanwhile."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = work()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def records_of(domain_id: int) -> int:
    query = select(func.count()).select_from(ReportRecord)
    return int(db.session.scalar(query.where(ReportRecord.domain_id == domain_id)) or 0)


def test_msp_ingest_streams_a_large_file_from_disk(domain: Any, tmp_path: Path) -> None:
    data = big_report(domain.name, "big-cli")
    path = tmp_path / "big.xml"
    path.write_bytes(data)
    size = len(data)
    assert size > 5 * batch.SMALL_BYTES  # far more than the small-report path reads at once
    limit = size // 3  # the file held whole, once, would be over this

    [result], peak = peak_while(lambda: ingest_batch([path], None, {}))

    assert result["status"] == "ingested", result
    assert result["records"] == RECORDS
    assert records_of(domain.id) == RECORDS
    assert peak < limit, f"peak {peak} bytes for a {size}-byte file: held whole somewhere"
    raw = db.session.scalar(select(RawReport).where(RawReport.filename == "big.xml"))
    assert raw is not None and raw.size == size and raw.codec == "gzip"
    assert raw.sha256 == hashlib.sha256(data).hexdigest()  # hashed while read, all of it
    assert store.load_raw(raw) == data  # and stored compressed, all of it


def test_a_worker_decompresses_a_stored_report_as_it_parses(domain: Any) -> None:
    data = big_report(domain.name, "big-stored")
    raw = store.store_raw(data, Origin("cli", filename="stored.xml"))
    assert raw.codec == "gzip" and len(gzip.decompress(raw.content or b"")) == len(data)
    raw_id = raw.id
    del data
    db.session.expire_all()

    outcomes, peak = peak_while(lambda: processing.process_raw(raw_id))

    assert [o.status for o in outcomes] == ["ingested"]
    assert records_of(domain.id) == RECORDS
    limit = (RECORDS * PAD) // 3
    assert peak < limit, f"peak {peak} bytes: the stored report was decompressed whole"
