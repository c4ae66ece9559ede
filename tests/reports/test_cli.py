"""``msp ingest``: folders recursively, one JSON object per file, bad files reported."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from flask import Flask

from msp.reports.cli import ingest
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
