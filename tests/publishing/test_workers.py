"""The publishing jobs on a real RQ worker: the minute sweep finds the issued change, the
job writes it through the provider and asks for a DNS check; running again changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import select

from msp.db import utcnow
from msp.extensions import db
from msp.publishing.models import Publication
from msp.queues import CHECKS, DEFAULT, enqueue
from tests.publishing.conftest import DOMAIN, NOTE, DnsEvidence, check_now, wire
from tests.publishing.servers import TsigKnot
from tests.publishing.test_end_to_end import issue, txt_at
from workers.publishing import CRON, publish_change, sweep, sweep_transport


def test_the_sweep_runs_every_minute_and_the_transport_sweep_hourly() -> None:
    assert [(e.func, e.queue, e.interval, e.cron) for e in CRON] == [
        (sweep, DEFAULT, 60, None),
        (sweep_transport, DEFAULT, None, "41 * * * *"),
    ]


def test_the_sweep_fans_out_and_the_job_writes_and_asks_for_a_check(
    db_session: Any,
    knot: TsigKnot,
    evidence: DnsEvidence,
    run_jobs: Callable[..., Any],
    redis_conn: Redis[bytes],
) -> None:
    wired = wire(knot.options())
    at = utcnow() - timedelta(minutes=10)
    check_now(knot.nameserver, wired.domain.id, at - timedelta(minutes=5))
    change = issue(wired.domain.id, at)
    enqueue("workers.publishing.sweep", queue=DEFAULT)
    db.session.commit()
    run_jobs((DEFAULT,))
    queue = Queue(DEFAULT, connection=redis_conn, serializer=JSONSerializer)
    assert queue.failed_job_registry.count == 0
    assert f"publish-change-{change.id}" in queue.finished_job_registry.get_job_ids()
    assert txt_at(knot, f"_dmarc.{DOMAIN}") == {NOTE, change.records[0]["value"]}
    publication = db.session.scalars(select(Publication)).one()
    assert publication.status == "written"
    checks = Queue(CHECKS, connection=redis_conn, serializer=JSONSerializer)
    assert f"dns-check-{wired.domain.id}-publication-{publication.id}" in checks.job_ids
    verify = f"policy-advance-{change.id}-publication-{publication.id}"
    assert verify in queue.scheduled_job_registry.get_job_ids()
    assert publish_change(change.id) == "written"  # safe to run twice: nothing more written
    assert db.session.scalars(select(Publication)).one().attempts == 1
