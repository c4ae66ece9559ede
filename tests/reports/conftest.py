"""Fixtures of the reports tests: enrichment without reverse DNS unless a test asks for it, and
the one ``domain`` that receives the reports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from redis import Redis
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from msp.netguard import Guard, parse_networks
from msp.queues import ALL_QUEUES
from tests.factories import make_domain, make_tenant

LOOPBACK = "127.0.0.0/8,::1/128"
LOOPBACK_GUARD = Guard(allow=parse_networks(LOOPBACK.split(",")))


@pytest.fixture
def reports_config(app: Flask) -> Iterator[dict[str, Any]]:
    """The app's config with report settings a test may change; restored afterwards."""
    keys = [k for k in app.config if k.startswith("MSP_REPORTS_")] + ["MSP_OUTBOUND_ALLOW"]
    saved = {k: app.config.get(k) for k in keys}
    app.config["MSP_REPORTS_ENRICH_DNS"] = False
    # The test IMAP servers listen on loopback, which the outbound guard refuses by default.
    app.config["MSP_OUTBOUND_ALLOW"] = LOOPBACK
    app.extensions.pop("msp_reports_identifier", None)
    yield app.config
    app.config.update(saved)
    app.extensions.pop("msp_reports_identifier", None)


@pytest.fixture
def domain(db_session: Any, reports_config: dict[str, Any]) -> Any:
    """A domain in a tenant of its own, ready to receive reports (a module may build on it by
    overriding ``domain`` and asking for this one)."""
    return make_domain(make_tenant("reports"), "reports.example")


@pytest.fixture
def failed_jobs(redis_conn: Redis) -> Callable[[], dict[str, str]]:
    """The failed RQ jobs of every queue, with their tracebacks (to assert there are none)."""

    def collect() -> dict[str, str]:
        out = {}
        for name in ALL_QUEUES:
            queue = Queue(name, connection=redis_conn, serializer=JSONSerializer)
            for job_id in queue.failed_job_registry.get_job_ids():
                job = Job.fetch(job_id, connection=redis_conn, serializer=JSONSerializer)
                result = job.latest_result()
                out[job_id] = (result.exc_string or "") if result else ""
        return out

    return collect
