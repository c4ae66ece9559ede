"""A real ``msp worker`` (RQ) killed with SIGKILL in the middle of a batch (it runs its jobs
itself) loses nothing and duplicates nothing: the sweep re-enqueues what was left pending, a
second worker finishes it.

This test commits to the session's database (a worker process cannot see a test transaction)
and deletes what it created afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, func, select

from msp.extensions import db
from msp.reports import service
from msp.reports.models import IpInfo, RawReport, Report, ReportDaily, ReportRecord
from msp.tenancy.models import Tenant
from tests.factories import make_domain, make_tenant
from tests.reliability.faults import kill_worker
from tests.reports.hostile import report_xml

REPORTS = 150
RECORDS = 100
COUNT = 3
ROOT = Path(__file__).parents[2]


def worker_env(app: Flask) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSP_")}
    env.update(
        {
            "MSP_ENV": "test",
            "MSP_SECRET_KEY": "test-secret-key",
            "MSP_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "MSP_REDIS_URL": app.config["MSP_REDIS_URL"],
            "MSP_REPORTS_ENRICH_DNS": "false",
            "MSP_JOB_RETRIES": "0",
        }
    )
    return env


def start_worker(app: Flask, burst: bool) -> subprocess.Popen[bytes]:
    cmd = [str(Path(sys.executable).parent / "msp"), "worker", "--queues", "reports"]
    return subprocess.Popen(
        cmd + (["--burst"] if burst else []),
        cwd=ROOT,
        env=worker_env(app),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def statuses(tenant_ids: list[int]) -> dict[str, int]:
    db.session.rollback()
    rows = db.session.execute(
        select(RawReport.status, func.count())
        .where(RawReport.filename.like("crash-%"))
        .group_by(RawReport.status)
    )
    return {status: n for status, n in rows}


@pytest.fixture
def committed(app: Flask) -> Iterator[dict[str, Any]]:
    with app.app_context():
        tenant = make_tenant("crash-test")
        domain = make_domain(tenant, "crash.example")
        db.session.commit()
        state = {"tenant_id": tenant.id, "domain_id": domain.id}
        try:
            yield state
        finally:
            db.session.rollback()
            db.session.execute(delete(RawReport).where(RawReport.filename.like("crash-%")))
            db.session.execute(delete(IpInfo).where(IpInfo.ip.like("192.0.2.%")))
            db.session.execute(delete(Tenant).where(Tenant.id == tenant.id))
            db.session.commit()


@pytest.mark.slow
def test_a_worker_killed_mid_batch_loses_nothing_and_duplicates_nothing(
    app: Flask, committed: dict[str, Any], reports_config: Any
) -> None:
    with app.app_context():
        for i in range(REPORTS):
            data = report_xml(
                domain="crash.example", report_id=f"crash-{i}", records=RECORDS, count=COUNT
            )
            service.receive(data, source="cli", filename=f"crash-{i}.xml")
        db.session.commit()
        worker = start_worker(app, burst=False)
        try:
            deadline = time.monotonic() + 120
            while statuses([]).get("ingested", 0) < 10:
                assert time.monotonic() < deadline, "the worker ingested nothing"
                assert worker.poll() is None, "the worker died on its own"
                time.sleep(0.05)
        finally:
            # The worker and its children (with --fork, a work horse runs in a session of its
            # own: killing the worker's group alone would let it finish its batch).
            kill_worker(worker)
        after_kill = statuses([])
        assert after_kill.get("pending", 0) > 0, f"nothing left to recover: {after_kill}"
        assert service.requeue_stale(minutes=0) == after_kill["pending"]
        db.session.commit()
        finisher = start_worker(app, burst=True)
        assert finisher.wait(300) == 0
        assert statuses([]) == {"ingested": REPORTS}
        domain_id = committed["domain_id"]
        reports = db.session.scalar(
            select(func.count()).select_from(Report).where(Report.domain_id == domain_id)
        )
        records = db.session.scalar(
            select(func.count())
            .select_from(ReportRecord)
            .where(ReportRecord.domain_id == domain_id)
        )
        messages = db.session.scalar(
            select(func.sum(ReportDaily.messages)).where(ReportDaily.domain_id == domain_id)
        )
        assert (reports, records, messages) == (
            REPORTS,
            REPORTS * RECORDS,
            REPORTS * RECORDS * COUNT,
        )
