"""``msp ingest``: folders recursively, one JSON object per file, bad files reported."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from flask import Flask
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import select

from msp.extensions import db
from msp.queues import REPORTS
from msp.reports.cli import ingest
from msp.reports.models import IpInfo, Report
from tests.factories import make_domain, make_tenant
from tests.reports.hostile import report_xml


def test_ingest_walks_folders_and_prints_one_json_object_per_file(
    app: Flask, db_session: Any, reports_config: Any, tmp_path: Path
) -> None:
    tenant = make_tenant("cli")
    make_domain(tenant, "cli.example")
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.xml").write_bytes(report_xml(domain="cli.example", report_id="c1"))
    (tmp_path / "sub" / "b.xml.gz").write_bytes(
        gzip.compress(report_xml(domain="cli.example", report_id="c2", records=3))
    )
    (tmp_path / "sub" / "again.xml").write_bytes(report_xml(domain="cli.example", report_id="c1"))
    (tmp_path / "sub" / "notes.txt").write_bytes(b"\x00\x01 not a report")
    result = app.test_cli_runner().invoke(ingest, [str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    rows = {Path(r["path"]).name: r for r in map(json.loads, result.output.splitlines())}
    assert {n: r["status"] for n, r in rows.items()} == {
        "a.xml": "ingested",
        "b.xml.gz": "ingested",
        "again.xml": "duplicate",
        "notes.txt": "rejected",
    }
    assert rows["b.xml.gz"]["records"] == 3 and rows["b.xml.gz"]["tenant"] == "cli"
    assert rows["b.xml.gz"]["kind"] == "aggregate" and rows["b.xml.gz"]["report_id"] == "c2"
    assert "not XML" in rows["notes.txt"]["error"]


def _two_reports(tmp_path: Path) -> None:
    make_domain(make_tenant("cli-enrich"), "enrich.example")
    for rid in ("e1", "e2"):
        (tmp_path / f"{rid}.xml").write_bytes(
            report_xml(domain="enrich.example", report_id=rid, records=3)
        )


def test_standalone_ingest_names_its_senders_before_it_exits(
    app: Flask, db_session: Any, reports_config: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setitem(app.config, "MSP_REDIS_URL", None)  # no worker would run the jobs
    _two_reports(tmp_path)
    result = app.test_cli_runner().invoke(ingest, [str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert db.session.scalars(select(Report.enriched)).all() == [True, True]
    named = set(db.session.scalars(select(IpInfo.ip)))
    assert named == {"192.0.2.1", "192.0.2.2", "192.0.2.3"}


def test_with_redis_the_enrichment_is_left_to_the_queue(
    app: Flask, db_session: Any, reports_config: Any, tmp_path: Path, redis_conn: Any
) -> None:
    assert app.config["MSP_REDIS_URL"]
    _two_reports(tmp_path)
    result = app.test_cli_runner().invoke(ingest, [str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert db.session.scalars(select(Report.enriched)).all() == [False, False]
    first, last = sorted(db.session.scalars(select(Report.id)))
    queued = Queue(REPORTS, connection=redis_conn, serializer=JSONSerializer).job_ids
    assert f"enrich-reports-{first}-{last}" in queued


def test_the_unenriched_sweep_uses_the_one_enrichment_job(
    app: Flask, db_session: Any, reports_config: Any, tmp_path: Path, run_jobs: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from workers.reports import sweep_unenriched_reports

    _two_reports(tmp_path)
    result = app.test_cli_runner().invoke(ingest, [str(tmp_path)])
    assert result.exit_code == 0, result.output
    run_jobs()  # the jobs enqueued by the ingestion itself
    db.session.execute(  # as if those jobs had been lost
        update(Report).values(created_at=datetime.now(UTC) - timedelta(hours=1), enriched=False)
    )
    db.session.commit()
    assert sweep_unenriched_reports() == 2
    db.session.commit()
    run_jobs()
    db.session.expire_all()
    assert db.session.scalars(select(Report.enriched)).all() == [True, True]
