"""The policy jobs on a real RQ worker (burst, in-process) over Redis and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from click.testing import Result
from flask import Flask
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import func, select

from msp.db import utcnow
from msp.events import Event
from msp.extensions import db
from msp.policy import service
from msp.policy.models import PolicyChange, PolicyPlan, PolicyTimelineEntry
from msp.policy.stages import Stage
from msp.queues import DEFAULT, enqueue
from tests.factories import make_domain, make_tenant
from workers.policy import (
    CRON,
    evaluate_domains,
    purge_timeline,
    sweep_changes,
    sweep_evaluations,
)

from .evidence import StaticEvidence
from .integration import make_ready, put_at_stage


def _count(model: Any, *where: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_cron_runs_the_daily_sweep_the_watch_and_the_purge() -> None:
    assert [(e.func, e.queue) for e in CRON] == [
        (sweep_evaluations, DEFAULT),
        (sweep_changes, DEFAULT),
        (purge_timeline, DEFAULT),
    ]
    assert CRON[0].cron and CRON[1].interval and CRON[2].cron


def test_the_daily_sweep_fans_out_one_evaluation_per_domain_once_a_day(
    db_session: Any,
    evidence: StaticEvidence,
    run_jobs: Callable[..., Any],
    redis_conn: Redis,
) -> None:
    tenant = make_tenant()
    domains = [make_domain(tenant) for _ in range(3)]
    enqueue("workers.policy.sweep_evaluations", queue=DEFAULT)
    db.session.commit()
    run_jobs((DEFAULT,))
    queue = Queue(DEFAULT, connection=redis_conn, serializer=JSONSerializer)
    assert queue.failed_job_registry.count == 0
    assert queue.finished_job_registry.count == 2  # the sweep and one batch of the 3 domains
    ids = [d.id for d in domains]
    assert _count(PolicyChange, PolicyChange.domain_id.in_(ids)) == 3
    enqueue("workers.policy.sweep_evaluations", queue=DEFAULT)
    db.session.commit()
    run_jobs((DEFAULT,))
    evaluated = _count(
        PolicyTimelineEntry,
        PolicyTimelineEntry.domain_id.in_(ids),
        PolicyTimelineEntry.kind == "evaluated",
    )
    assert evaluated == 3  # the second run found them evaluated today


def test_a_domain_that_fails_in_a_batch_stops_nothing_and_is_evaluated_by_a_job_of_its_own(
    db_session: Any,
    evidence: StaticEvidence,
    run_jobs: Callable[..., Any],
    redis_conn: Redis,
) -> None:
    tenant = make_tenant()
    good, bad, last = (make_domain(tenant) for _ in range(3))
    posture, failures = evidence.posture, []

    def broken_once(domain_id: int) -> Any:  # a transient failure of one domain's evidence
        if domain_id == bad.id and not failures:
            failures.append(domain_id)
            raise RuntimeError("the evidence of this domain cannot be read")
        return posture(domain_id)

    evidence.posture = broken_once  # type: ignore[method-assign]
    done = evaluate_domains([good.id, bad.id, last.id])  # the batch, run here
    assert (done, failures) == ({"evaluated": 2, "skipped": 0, "failed": 1}, [bad.id])
    assert _count(PolicyChange, PolicyChange.domain_id == bad.id) == 0
    run_jobs((DEFAULT,))  # the failed domain's own job, queued by the batch
    queue = Queue(DEFAULT, connection=redis_conn, serializer=JSONSerializer)
    assert queue.finished_job_registry.get_job_ids() == [
        f"policy-evaluate-{bad.id}-{utcnow():%Y%m%d}"
    ]
    for domain in (good, bad, last):
        assert _count(PolicyChange, PolicyChange.domain_id == domain.id) == 1, domain.name


def test_the_watch_issues_due_changes_and_verifies_published_ones(
    db_session: Any, evidence: StaticEvidence, run_jobs: Callable[..., Any]
) -> None:
    domain = make_domain(make_tenant())
    now = utcnow()
    make_ready(evidence, domain, Stage.MONITOR, now)
    put_at_stage(domain, Stage.MONITOR, now - timedelta(days=30), evidence)
    service.evaluate_domain(domain.id, now)
    change = db.session.scalars(select(PolicyChange)).one()
    service.approve(change, now)
    service.schedule(change, now)
    enqueue("workers.policy.sweep_changes", queue=DEFAULT)
    db.session.commit()
    run_jobs((DEFAULT,))
    db.session.refresh(change)
    assert change.status == "published"
    assert _count(Event, Event.domain_id == domain.id, Event.kind == "policy.published") == 1
    from .integration import published

    evidence.postures[domain.id] = published(domain, Stage.QUARANTINE_TEST, utcnow())
    enqueue("workers.policy.sweep_changes", queue=DEFAULT)
    db.session.commit()
    run_jobs((DEFAULT,))
    db.session.refresh(change)
    assert change.status == "verified"


def test_msp_plan_json_prints_stage_records_gates_and_readiness(
    app: Flask, db_session: Any, evidence: StaticEvidence
) -> None:
    import json

    from msp.policy.cli import plan

    domain = make_domain(make_tenant())
    result: Result = app.test_cli_runner().invoke(plan, [domain.name, "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert (body["stage"], body["next_stage"], body["readiness"]) == ("none", "monitor", 12)
    assert body["next_records"][0]["name"] == f"_dmarc.{domain.name}"
    missing = app.test_cli_runner().invoke(plan, ["nowhere.example", "--json"])
    assert missing.exit_code == 1 and "no domain nowhere.example" in missing.output


def test_msp_simulate_json_replays_rows(
    app: Flask, db_session: Any, evidence: StaticEvidence
) -> None:
    import json

    from msp.policy.cli import simulate
    from msp.policy.facts import SenderStatus
    from msp.policy.simulate import DailyRow

    domain = make_domain(make_tenant())
    day = utcnow().date() - timedelta(days=2)
    evidence.rows[domain.id] = [
        DailyRow(day, "crm", SenderStatus.APPROVED, domain.name, "none", False, False, 12)
    ]
    args = [domain.name, "--record", "v=DMARC1; p=quarantine", "--days", "7", "--json"]
    result = app.test_cli_runner().invoke(simulate, args)
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["totals"]["approved"] == {"quarantined": 12, "rejected": 0}
    bad = app.test_cli_runner().invoke(simulate, [domain.name, "--record", "p=reject"])
    assert bad.exit_code == 1 and "v=DMARC1" in bad.output


def test_an_approval_in_an_open_window_is_issued_by_its_own_job_not_the_sweep(
    db_session: Any, evidence: StaticEvidence, run_jobs: Callable[..., Any]
) -> None:
    domain = make_domain(make_tenant())
    now = utcnow()
    make_ready(evidence, domain, Stage.MONITOR, now)
    put_at_stage(domain, Stage.MONITOR, now - timedelta(days=30), evidence)
    service.evaluate_domain(domain.id, now)
    change = db.session.scalars(select(PolicyChange)).one()
    service.approve(change, now)
    service.schedule(change, now)  # the window is open now
    db.session.commit()
    run_jobs((DEFAULT,))  # no sweep was enqueued: the approval's own job issues it
    db.session.refresh(change)
    assert change.status == "published"


def test_every_dns_check_is_followed_by_an_evaluation(
    db_session: Any, evidence: StaticEvidence, run_jobs: Callable[..., Any]
) -> None:
    from msp.dns.checker import unknown_result
    from msp.dns.service import record_run

    domain = make_domain(make_tenant())
    record_run(domain, unknown_result(domain.name, "test"), utcnow())
    db.session.commit()
    run_jobs((DEFAULT,))
    plan = db.session.scalars(select(PolicyPlan).where(PolicyPlan.domain_id == domain.id)).one()
    assert plan.last_evaluated_at is not None  # a plan without anyone opening a page
