"""Held-out checks (issue 13): one broken file never takes its batch down, and archives with
an archiver's leftovers beside the reports are ingested, not rejected whole."""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from msp.extensions import db
from msp.reports.cli import ingest
from msp.reports.models import RawReport, Report
from tests.factories import make_domain, make_tenant, token_caller
from tests.reports.hostile import report_xml, zip_of


def stored_zip(members: list[tuple[str, bytes]]) -> bytes:
    """A zip built byte by byte, so a member may have a name ``zipfile`` refuses to write."""
    local, central = b"", b""
    for name, data in members:
        raw_name, crc = name.encode(), zlib.crc32(data)
        head = struct.pack("<HHHHHIII", 20, 0, 0, 0, 0x21, crc, len(data), len(data))
        central += struct.pack("<I", 0x02014B50) + struct.pack("<H", 20) + head
        central += struct.pack("<HHHHHII", len(raw_name), 0, 0, 0, 0, 0, len(local)) + raw_name
        local += struct.pack("<I", 0x04034B50) + head + struct.pack("<HH", len(raw_name), 0)
        local += raw_name + data
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central),
                      len(local), 0)  # fmt: skip
    return local + central + end


@pytest.fixture
def boom_member(monkeypatch: pytest.MonkeyPatch) -> bytes:
    """A zip whose member ``boom.xml`` makes the zip library raise what nobody expects (a
    library bug, like ``ZipInfo.is_dir()`` on an empty name in Python 3.11)."""
    archive = zip_of({"boom.xml": report_xml(domain="held.example", report_id="boom")})
    real_open = zipfile.ZipFile.open

    def open_member(self: zipfile.ZipFile, name: Any, mode: Any = "r", **kwargs: Any) -> Any:
        if mode == "r" and getattr(name, "filename", name) == "boom.xml":
            raise RuntimeError("library bug")
        return real_open(self, name, mode, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", open_member)
    return archive


def test_python_311_raises_on_a_nameless_zip_member() -> None:
    archive = zipfile.ZipFile(__import__("io").BytesIO(stored_zip([("", b"<feedback/>")])))
    with pytest.raises(IndexError):  # the reason ingestion never asks ZipInfo.is_dir()
        [info.is_dir() for info in archive.infolist()]


def _ingest_cli(app: Flask, folder: Path) -> dict[str, dict[str, Any]]:
    result = app.test_cli_runner().invoke(ingest, [str(folder), "--json"])
    assert result.exit_code == 0, result.output
    # stdout only: ``output`` also holds stderr, where the app's log handler (installed by
    # whichever earlier test configured logging) writes the ingest error line.
    return {Path(r["path"]).name: r for r in map(json.loads, result.stdout.splitlines())}


def test_msp_ingest_rejects_a_nameless_zip_and_ingests_the_rest_of_its_batch(
    app: Flask, db_session: Any, reports_config: Any, tmp_path: Path
) -> None:
    make_domain(make_tenant("held"), "held.example")
    (tmp_path / "a.xml").write_bytes(report_xml(domain="held.example", report_id="a"))
    (tmp_path / "b-nameless.zip").write_bytes(
        stored_zip([("", report_xml(domain="held.example", report_id="b"))])
    )
    (tmp_path / "c.xml").write_bytes(report_xml(domain="held.example", report_id="c"))
    rows = _ingest_cli(app, tmp_path)
    assert {n: r["status"] for n, r in rows.items()} == {
        "a.xml": "ingested",
        "b-nameless.zip": "rejected",
        "c.xml": "ingested",
    }
    assert "no report" in rows["b-nameless.zip"]["error"]


def test_msp_ingest_turns_an_unexpected_exception_into_that_files_rejection(
    app: Flask, db_session: Any, reports_config: Any, tmp_path: Path, boom_member: bytes
) -> None:
    make_domain(make_tenant("held"), "held.example")
    (tmp_path / "a.xml").write_bytes(report_xml(domain="held.example", report_id="a"))
    (tmp_path / "b.zip").write_bytes(boom_member)
    (tmp_path / "c.xml").write_bytes(report_xml(domain="held.example", report_id="c"))
    rows = _ingest_cli(app, tmp_path)
    assert {n: r["status"] for n, r in rows.items()} == {
        "a.xml": "ingested",
        "b.zip": "rejected",
        "c.xml": "ingested",
    }
    assert "unexpected error" in rows["b.zip"]["error"]
    assert "RuntimeError" in rows["b.zip"]["error"]
    assert set(db.session.scalars(select(Report.external_id))) == {"a", "c"}


def test_the_parse_job_rejects_the_crashing_file_once_and_does_not_fail(
    client: FlaskClient,
    run_jobs: Any,
    reports_config: Any,
    failed_jobs: Any,
    boom_member: bytes,
) -> None:
    tenant = make_tenant("held")
    make_domain(tenant, "held.example")
    admin = token_caller("tenant_admin", tenant)
    db.session.commit()
    files = {
        "a.xml": report_xml(domain="held.example", report_id="a"),
        "b.zip": boom_member,
        "c.xml": report_xml(domain="held.example", report_id="c"),
    }
    for name, data in files.items():
        response = client.post(
            "/api/v1/reports",
            headers={**admin.headers, "X-Filename": name},
            data=data,
            content_type="application/octet-stream",
        )
        assert response.status_code == 202, response.get_json()
    run_jobs()
    assert failed_jobs() == {}
    raws = {r.filename: r for r in db.session.scalars(select(RawReport))}
    assert {n: r.status for n, r in raws.items()} == {
        "a.xml": "ingested",
        "b.zip": "rejected",
        "c.xml": "ingested",
    }
    assert raws["b.zip"].attempts == 1
    assert "RuntimeError" in (raws["b.zip"].error or "")


def test_an_archive_with_resource_forks_folders_and_finder_files_is_ingested(
    app: Flask, db_session: Any, reports_config: Any, tmp_path: Path
) -> None:
    make_domain(make_tenant("held"), "held.example")
    one = report_xml(domain="held.example", report_id="z1")
    two = report_xml(domain="held.example", report_id="z2")
    archive = stored_zip(
        [
            ("reports/", b""),
            ("reports/one.xml", one),
            ("__MACOSX/", b""),
            ("__MACOSX/reports/._one.xml", b"\x00\x05\x16\x07 resource fork"),
            ("reports/.DS_Store", b"\x00\x00\x00\x01Bud1"),
            ("reports/two.xml", two),
            ("._two.xml", b"\x00\x05\x16\x07 resource fork"),
        ]
    )
    (tmp_path / "mac.zip").write_bytes(archive)
    rows = _ingest_cli(app, tmp_path)
    assert rows["mac.zip"]["status"] == "ingested", rows["mac.zip"]
    assert rows["mac.zip"]["reports"] == 2 and rows["mac.zip"]["error"] is None
    assert set(db.session.scalars(select(Report.external_id))) == {"z1", "z2"}
