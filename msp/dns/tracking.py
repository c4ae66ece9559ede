"""Drift and finding lifecycle between posture runs (persistence helpers of the service).

Pure parts (what a record's comparable value is, a finding's identity, which section a code
belongs to) sit beside the two writers: :func:`record_drift` and :func:`sync_findings`. A section
whose status is ``unknown`` (DNS failure) is left alone: no drift, and its open findings stay
open, so a flaky resolver never raises or clears an alarm by itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from msp.dns.findings import Finding
from msp.dns.models import PostureFinding, PostureRun, RecordDrift, RecordSnapshot
from msp.events import emit_event
from msp.extensions import db

if TYPE_CHECKING:
    from msp.dns.checker import DomainResult  # the checker loads only when a check runs

NOT_TRACKED = frozenset({"dns_lookup_failed", "check_failed"})
COUNTED = frozenset(
    {
        "spf_too_many_lookups",
        "spf_too_many_void_lookups",
        "spf_record_too_long",
        "mta_sts_max_age_short",
        "multiple_spf_records",
    }
)
SECTION_PREFIXES = (
    ("multiple_spf", "spf"),
    ("spf_", "spf"),
    ("multiple_dmarc", "dmarc"),
    ("dmarc_", "dmarc"),
    ("dkim_", "dkim"),
    ("mx_", "mx"),
    ("mta_sts_", "mta_sts"),
    ("tlsrpt_", "tls_rpt"),
    ("bimi_", "bimi"),
)


def section_of(code: str) -> str:
    return next((section for prefix, section in SECTION_PREFIXES if code.startswith(prefix)), "")


def finding_key(item: Finding) -> str:
    """The identity of "the same problem": counts in the detail may change while it lasts."""
    return item.code if item.code in COUNTED else f"{item.code}|{item.detail}"[:512]


def unknown_sections(result: DomainResult) -> set[str]:
    statuses = {
        "spf": result.spf.status,
        "dmarc": result.dmarc.status,
        "mx": result.mx.status,
        "mta_sts": result.mta_sts.status,
        "tls_rpt": result.tls_rpt.status,
        "bimi": result.bimi.status,
    }
    unknown = {name for name, status in statuses.items() if status == "unknown"}
    if any(key.status == "unknown" for key in result.dkim.values()):
        unknown.add("dkim")
    return unknown


def record_values(result: DomainResult) -> dict[str, str | None]:
    """Comparable value of each record whose status is known in this run."""
    policy = result.mta_sts.policy
    values: dict[str, str | None] = {
        "spf": result.spf.record,
        "dmarc": result.dmarc.record,
        "mx": ", ".join(f"{h.preference} {h.exchange}" for h in result.mx.hosts) or None,
        "mta_sts": result.mta_sts.record,
        "mta_sts_policy": None
        if policy is None
        else (
            f"version={policy.version}; mode={policy.mode}; max_age={policy.max_age}; "
            f"mx={','.join(policy.mx)}"
        ),
        "tls_rpt": result.tls_rpt.record,
        "bimi": result.bimi.record,
    }
    for selector, key in result.dkim.items():
        if key.status != "unknown":
            values[f"dkim:{selector}"] = key.record
    skip = unknown_sections(result)
    if result.mta_sts.policy_error and result.mta_sts.record:
        skip.add("mta_sts_policy")  # an unreachable policy is a finding, not a changed policy
    return {k: v for k, v in values.items() if k.split(":")[0] not in skip}


def record_drift(run: PostureRun, result: DomainResult, now: datetime) -> list[RecordDrift]:
    """Compare with the snapshots, store and announce every change, update the snapshots."""
    snapshots = {
        s.key: s
        for s in db.session.scalars(
            select(RecordSnapshot).where(
                RecordSnapshot.tenant_id == run.tenant_id, RecordSnapshot.domain_id == run.domain_id
            )
        )
    }
    values = record_values(result)
    for key in snapshots:
        if key.startswith("dkim:") and key not in values and "dkim" not in unknown_sections(result):
            values[key] = None  # a selector we no longer see
    drifts = []
    for key, value in sorted(values.items()):
        snapshot = snapshots.get(key)
        if snapshot is None:
            if value is not None:
                db.session.add(
                    RecordSnapshot(
                        tenant_id=run.tenant_id,
                        domain_id=run.domain_id,
                        key=key,
                        value=value,
                        run_id=run.id,
                        updated_at=now,
                    )
                )
            continue
        if snapshot.value != value:
            drifts.append(_drift(run, key, snapshot.value, value, now))
            snapshot.value, snapshot.run_id, snapshot.updated_at = value, run.id, now
    db.session.flush()
    return drifts


def _drift(
    run: PostureRun, key: str, old: str | None, new: str | None, now: datetime
) -> RecordDrift:
    drift = RecordDrift(
        tenant_id=run.tenant_id,
        domain_id=run.domain_id,
        run_id=run.id,
        key=key,
        old_value=old,
        new_value=new,
        detected_at=now,
    )
    db.session.add(drift)
    emit_event(
        run.tenant_id,
        "dns.drift",
        {"key": key, "old": old, "new": new, "run_id": run.id},
        domain_id=run.domain_id,
        severity="warning",
    )
    return drift


def sync_findings(
    run: PostureRun, result: DomainResult, findings: list[Finding], now: datetime
) -> tuple[list[PostureFinding], list[PostureFinding]]:
    """Open new problems, touch lasting ones, close gone ones; returns (opened, closed)."""
    open_rows = {
        f.key: f
        for f in db.session.scalars(
            select(PostureFinding).where(
                PostureFinding.tenant_id == run.tenant_id,
                PostureFinding.domain_id == run.domain_id,
                PostureFinding.closed_at.is_(None),
            )
        )
    }
    current = {finding_key(f): f for f in findings if f.code not in NOT_TRACKED}
    opened = [_open(run, key, item, now) for key, item in current.items() if key not in open_rows]
    for key in current.keys() & open_rows.keys():
        open_rows[key].last_seen_at = now
        open_rows[key].detail = current[key].detail
    unknown = unknown_sections(result)
    closed = [
        row
        for key, row in open_rows.items()
        if key not in current and section_of(row.code) not in unknown
    ]
    for row in closed:
        row.closed_at, row.closed_run_id = now, run.id
        emit_event(
            run.tenant_id,
            "dns.finding.closed",
            {"finding_id": row.id, "code": row.code, "detail": row.detail},
            domain_id=run.domain_id,
        )
    db.session.flush()
    return opened, closed


def _open(run: PostureRun, key: str, item: Finding, now: datetime) -> PostureFinding:
    row = PostureFinding(
        tenant_id=run.tenant_id,
        domain_id=run.domain_id,
        key=key,
        code=item.code,
        severity=str(item.severity),
        message=item.message,
        remediation=item.remediation,
        detail=item.detail,
        opened_at=now,
        last_seen_at=now,
        opened_run_id=run.id,
    )
    db.session.add(row)
    db.session.flush()
    emit_event(
        run.tenant_id,
        "dns.finding.opened",
        {
            "finding_id": row.id,
            "code": item.code,
            "severity": str(item.severity),
            "message": item.message,
            "detail": item.detail,
        },
        domain_id=run.domain_id,
        severity=str(item.severity),
    )
    return row
