"""DNS posture service: check a domain now, store the run, drift and findings, schedule checks.

Called by the API, the jobs and the policy engine. Never commits (the request, the job wrapper
or the CLI does). ``check_domain_now`` takes a domain id the caller trusts (jobs, the policy
engine, or an API view that loaded it through the scoped getter).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import Select, or_, select

from msp.db import utcnow
from msp.dns import tracking
from msp.dns.findings import Finding, finding
from msp.dns.models import PostureFinding, PostureRun, RecordDrift
from msp.dns.options import CheckOptions
from msp.dns.settings import checker_options
from msp.domains.models import Domain
from msp.errors import NotFound
from msp.extensions import db
from msp.queues import CHECKS, DEFAULT, enqueue
from msp.tenancy.models import Tenant

if TYPE_CHECKING:
    from msp.dns.checker import DomainResult

# The checker (dnspython, cryptography for DKIM keys) loads only when a check runs: the pages,
# `msp plan` and the policy engine read stored runs through this module without it.


class RecordStatus(StrEnum):
    """What one check found for a record. ``UNKNOWN`` is a DNS failure (timeout, SERVFAIL,
    refusal): nothing is known, which is never the same as ``MISSING`` (RFC 7208 §4.4)."""

    VALID = "valid"
    INVALID = "invalid"
    MISSING = "missing"
    UNKNOWN = "unknown"
    NULL = "null"  # MX only: a null MX (RFC 7505)


def _status(raw: object) -> RecordStatus:
    try:
        return RecordStatus(str(raw))
    except ValueError:  # a section that failed in an unexpected way: nothing is known
        return RecordStatus.UNKNOWN


@dataclass(frozen=True)
class PostureView:
    """What other areas (the policy engine, the pages) read of a domain's latest posture.

    The typed fields are the contract: the policy loader reads them, never ``result`` (the
    checker's whole JSON, kept for the API and the pages).
    """

    domain_id: int
    run_id: int
    checked_at: datetime
    grade: str
    dmarc_record: str | None
    dmarc_tags: dict[str, str]
    dmarc_policy: str | None
    dmarc_policy_rfc7489: str | None
    spf_valid: bool | None
    spf_dns_lookups: int | None
    dkim_selectors: dict[str, bool | None]
    mta_sts_mode: str | None
    findings: tuple[str, ...]
    result: dict[str, Any]
    spf_status: RecordStatus = RecordStatus.UNKNOWN
    spf_record: str | None = None
    dmarc_status: RecordStatus = RecordStatus.UNKNOWN
    dmarc_location: str | None = None
    mx_status: RecordStatus = RecordStatus.UNKNOWN
    null_mx: bool | None = None
    dkim_statuses: dict[str, RecordStatus] = field(default_factory=dict)

    @property
    def unreachable(self) -> tuple[str, ...]:
        """The records this check could not read (DNS failure), e.g. ``("spf", "dmarc")``."""
        sections = (("spf", self.spf_status), ("dmarc", self.dmarc_status))
        found = [name for name, status in sections if status is RecordStatus.UNKNOWN]
        if self.mx_status is RecordStatus.UNKNOWN:
            found.append("mx")
        found += [
            f"dkim:{sel}" for sel, st in self.dkim_statuses.items() if st is RecordStatus.UNKNOWN
        ]
        return tuple(found)


def view_of(run: PostureRun) -> PostureView:
    data = run.result
    dmarc, spf, mx = data["dmarc"], data["spf"], data.get("mx") or {}
    policy = (data["mta_sts"].get("policy") or {}).get("mode")
    mx_status = _status(mx.get("status"))
    return PostureView(
        domain_id=run.domain_id,
        run_id=run.id,
        checked_at=run.checked_at,
        grade=run.grade,
        dmarc_record=dmarc["record"],
        dmarc_tags=dict(dmarc["tags"]),
        dmarc_policy=dmarc["policy_applied"]["policy"],
        dmarc_policy_rfc7489=dmarc["policy_applied_rfc7489"]["policy"],
        spf_valid=spf["valid"],
        spf_dns_lookups=spf["dns_lookups"],
        dkim_selectors={s: k["valid"] for s, k in data["dkim"].items()},
        mta_sts_mode=policy,
        findings=tuple(f["code"] for f in data["findings"]),
        result=data,
        spf_status=_status(spf.get("status")),
        spf_record=spf.get("record"),
        dmarc_status=_status(dmarc.get("status")),
        dmarc_location=dmarc.get("location"),
        mx_status=mx_status,
        null_mx=None if mx_status is RecordStatus.UNKNOWN else bool(mx.get("null_mx")),
        dkim_statuses={s: _status(k.get("status")) for s, k in data["dkim"].items()},
    )


def _options(options: CheckOptions | None) -> CheckOptions:
    return options or checker_options(current_app.config)


def _domain(domain_id: int) -> Domain:
    domain = db.session.get(Domain, domain_id)
    if domain is None:
        raise NotFound(f"domain {domain_id} not found")
    return domain


def check_domain_now(
    domain_id: int,
    reported_selectors: Sequence[str] = (),
    options: CheckOptions | None = None,
    now: datetime | None = None,
) -> PostureView:
    """Check the domain's records now, store the run (drift, findings, events), return it."""
    from msp.dns.checker import check_domain

    domain = _domain(domain_id)
    result = check_domain(
        domain.name,
        _options(options),
        selectors=domain.dkim_selectors or (),
        reported_selectors=reported_selectors,
        parked=domain.parked,
    )
    run = record_run(domain, result, now or utcnow())
    return view_of(run)


def record_run(domain: Domain, result: DomainResult, now: datetime) -> PostureRun:
    findings = list(result.findings)
    run = PostureRun(
        tenant_id=domain.tenant_id,
        domain_id=domain.id,
        checked_at=now,
        grade=result.grade,
        spf_status=result.spf.status,
        dmarc_status=result.dmarc.status,
        dmarc_policy=result.dmarc.policy_applied.policy,
        result=result.as_dict(),
    )
    db.session.add(run)
    db.session.flush()
    drifts = tracking.record_drift(run, result, now)
    extra = _id_not_changed(drifts)
    if extra is not None:
        findings.append(extra)
        run.result = {**run.result, "findings": [*run.result["findings"], extra.as_dict()]}
    run.error_count = sum(1 for f in findings if f.severity == "error")
    run.warning_count = sum(1 for f in findings if f.severity == "warning")
    tracking.sync_findings(run, result, findings, now)
    schedule_next(domain, now)
    db.session.flush()
    ask_for_evaluation(domain.id)
    return run


def ask_for_evaluation(domain_id: int) -> None:
    """Every stored check is followed by the policy engine's evaluation of the domain, so a
    new domain has a plan after its first check (the sweep checks it within minutes) and a
    change in DNS is judged at once, not at the next daily sweep. By job name: the DNS area
    does not import the policy area (which reads it)."""
    enqueue(
        "workers.policy.evaluate_domain",
        queue=DEFAULT,
        job_id=f"policy-evaluate-after-check-{domain_id}",
        domain_id=domain_id,
        force=True,
    )


def _id_not_changed(drifts: list[RecordDrift]) -> Finding | None:
    """RFC 8461 3.1: a changed policy needs a new id, or senders keep the cached one."""
    keys = {d.key for d in drifts}
    policy = next((d for d in drifts if d.key == "mta_sts_policy"), None)
    if policy is not None and policy.old_value and policy.new_value and "mta_sts" not in keys:
        return finding("mta_sts_id_not_changed", "policy changed, _mta-sts id did not")
    return None


def interval_minutes(domain: Domain) -> int:
    """The domain's own interval (or the default), never shorter than its tenant's plan allows."""
    from msp.billing import service as billing  # the plan decides the shortest interval
    from msp.billing.entitlements import allowed_check_interval

    requested = domain.check_interval_minutes or int(
        current_app.config.get("MSP_DNS_CHECK_INTERVAL_MINUTES", 360)
    )
    tenant = db.session.get(Tenant, domain.tenant_id)
    if tenant is None:
        return requested
    allowance = billing.entitlements_of(tenant, billing.current_settings())
    return allowed_check_interval(allowance, requested)


def schedule_next(domain: Domain, now: datetime, rng: random.Random | None = None) -> None:
    """Next check at now + interval, plus up to MSP_DNS_CHECK_JITTER of it at random."""
    minutes = interval_minutes(domain)
    jitter = float(current_app.config.get("MSP_DNS_CHECK_JITTER", 0.1))
    spread = (rng or random).uniform(0, jitter) if jitter > 0 else 0.0
    domain.next_check_at = now + timedelta(minutes=minutes * (1 + spread))


def latest_run(domain_id: int) -> PostureRun | None:
    return db.session.scalar(
        select(PostureRun)
        .where(PostureRun.domain_id == domain_id)
        .order_by(PostureRun.checked_at.desc(), PostureRun.id.desc())
        .limit(1)
    )


def latest_posture(domain_id: int) -> PostureView | None:
    """The latest stored posture of the domain, or None if it was never checked."""
    run = latest_run(domain_id)
    return None if run is None else view_of(run)


def history_select(domain: Domain) -> Select[PostureRun]:
    return (
        select(PostureRun)
        .where(PostureRun.tenant_id == domain.tenant_id, PostureRun.domain_id == domain.id)
        .order_by(PostureRun.checked_at.desc(), PostureRun.id.desc())
    )


def drift_of_runs(run_ids: Sequence[int]) -> dict[int, list[RecordDrift]]:
    found: dict[int, list[RecordDrift]] = {run_id: [] for run_id in run_ids}
    for drift in db.session.scalars(
        select(RecordDrift).where(RecordDrift.run_id.in_(run_ids)).order_by(RecordDrift.id)
    ):
        found[drift.run_id].append(drift)
    return found


def open_findings(domain: Domain) -> list[PostureFinding]:
    return list(
        db.session.scalars(
            select(PostureFinding)
            .where(
                PostureFinding.tenant_id == domain.tenant_id,
                PostureFinding.domain_id == domain.id,
                PostureFinding.closed_at.is_(None),
            )
            .order_by(PostureFinding.id)
        )
    )


def due_domain_ids(now: datetime, per_tenant_limit: int) -> list[int]:
    """Domains whose next check is due (or never ran), at most ``per_tenant_limit`` per tenant."""
    rows = db.session.execute(
        select(Domain.id, Domain.tenant_id)
        .where(or_(Domain.next_check_at.is_(None), Domain.next_check_at <= now))
        .order_by(Domain.tenant_id, Domain.next_check_at.asc().nulls_first(), Domain.id)
    )
    taken: dict[int, int] = {}
    due = []
    for domain_id, tenant_id in rows:
        if taken.get(tenant_id, 0) < per_tenant_limit:
            taken[tenant_id] = taken.get(tenant_id, 0) + 1
            due.append(domain_id)
    return due


def check_job_id(domain_id: int) -> str:
    return f"dns-check-{domain_id}"


def sweep(now: datetime | None = None) -> list[int]:
    """Enqueue one check per due domain, with a deterministic job id (no duplicates)."""
    limit = int(current_app.config.get("MSP_DNS_SWEEP_LIMIT", 500))
    due = due_domain_ids(now or utcnow(), limit)
    for domain_id in due:
        enqueue(
            "workers.dns.check_domain",
            queue=CHECKS,
            job_id=check_job_id(domain_id),
            domain_id=domain_id,
        )
    return due
