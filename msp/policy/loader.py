"""Loads the engine's facts from the DNS checker and report ingestion (the I/O edge).

The other areas are reached through :class:`EvidenceSource`. :class:`ServiceEvidence` reads
their typed views directly: ``msp.dns.service.latest_posture`` (a ``PostureView``) and
``msp.reports.queries.sender_stats / coverage / daily_rows``; a renamed field fails mypy. An
app may register another source as ``app.extensions["msp_policy_evidence"]`` (the policy
area's integration tests do).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlparse

from flask import current_app

from msp.dns import service as dns_service
from msp.domains.models import Domain
from msp.policy import settings as policy_settings
from msp.policy.evidence_reads import forwarding_evidence
from msp.policy.facts import (
    ChangeKind,
    ChangeStatus,
    CoverageFacts,
    DomainFacts,
    PendingChange,
    PostureFacts,
    SenderFacts,
    SenderStatus,
)
from msp.policy.history import dkim_breaks, known_senders
from msp.policy.models import PolicyChange, PolicyPlan
from msp.policy.records import RecordOptions
from msp.policy.simulate import DailyRow
from msp.policy.stages import Stage
from msp.reports import queries as report_queries
from msp.tenancy.models import Tenant

EXTENSION_KEY = "msp_policy_evidence"


class EvidenceSource(Protocol):
    """Where the facts come from."""

    def posture(self, domain_id: int) -> PostureFacts | None: ...

    def senders(self, domain_id: int, since: date, until: date) -> tuple[SenderFacts, ...]: ...

    def coverage(self, domain_id: int, since: date, until: date) -> CoverageFacts: ...

    def daily_rows(self, domain_id: int, since: date, until: date) -> list[DailyRow]: ...

    def forwarding(
        self, domain_id: int, since: date, until: date
    ) -> Mapping[str, tuple[str, ...]]: ...


def _status(raw: str) -> SenderStatus:
    try:
        return SenderStatus(raw)
    except ValueError:
        return SenderStatus.UNKNOWN


def posture_from_view(view: dns_service.PostureView) -> PostureFacts:
    """Adapt the DNS area's ``PostureView``: its typed fields, never the raw result JSON. A
    record the check could not read stays unknown (``unreachable``), never "missing"."""
    tags = view.dmarc_tags if view.dmarc_record else None
    return PostureFacts(
        checked_at=view.checked_at,
        dmarc_tags={k.lower(): v for k, v in tags.items()} if tags else None,
        spf_valid=view.spf_valid,
        spf_dns_lookups=view.spf_dns_lookups,
        dkim_selectors=dict(view.dkim_selectors),
        findings=frozenset(view.findings),
        spf_record=view.spf_record,
        null_mx=view.null_mx,
        unreachable=frozenset(view.unreachable),
    )


def sender_from_stat(stat: report_queries.SenderStat) -> SenderFacts:
    """Adapt the reports area's ``SenderStat``."""
    return SenderFacts(
        key=stat.key,
        name=stat.display_name or stat.key,
        status=_status(stat.status),
        messages=int(stat.messages),
        dmarc_pass=int(stat.dmarc_pass),
        spf_aligned_pass=int(stat.spf_aligned_pass),
        dkim_aligned_pass=int(stat.dkim_aligned_pass),
        first_seen=stat.first_seen,
        last_seen=stat.last_seen,
        is_new=stat.is_new,
        dkim_selectors=tuple(sorted(stat.dkim_selectors)),
    )


def row_from_daily(row: report_queries.DailyRow) -> DailyRow:
    """Adapt the reports area's ``DailyRow``."""
    return DailyRow(
        day=row.day,
        sender_key=row.sender_key,
        sender_status=_status(row.sender_status),
        header_from=row.header_from,
        disposition=row.disposition,
        spf_aligned=bool(row.spf_aligned),
        dkim_aligned=bool(row.dkim_aligned),
        count=int(row.count),
    )


class ServiceEvidence:
    """Evidence from the DNS and reports services of this code base."""

    def posture(self, domain_id: int) -> PostureFacts | None:
        view = dns_service.latest_posture(domain_id)
        return posture_from_view(view) if view is not None else None

    def senders(self, domain_id: int, since: date, until: date) -> tuple[SenderFacts, ...]:
        stats = report_queries.sender_stats(domain_id, since, until)
        return tuple(sender_from_stat(s) for s in stats)

    def coverage(self, domain_id: int, since: date, until: date) -> CoverageFacts:
        cov = report_queries.coverage(domain_id, since, until)
        return CoverageFacts(cov.reporters, cov.days_with_reports, cov.messages)

    def daily_rows(self, domain_id: int, since: date, until: date) -> list[DailyRow]:
        return [row_from_daily(r) for r in report_queries.daily_rows(domain_id, since, until)]

    def forwarding(self, domain_id: int, since: date, until: date) -> Mapping[str, tuple[str, ...]]:
        return forwarding_evidence(domain_id, since, until)


def with_forwarding(
    senders: tuple[SenderFacts, ...], signs: Mapping[str, tuple[str, ...]]
) -> tuple[SenderFacts, ...]:
    """The senders with the forwarding evidence of their failing mail."""
    return tuple(replace(s, forwarding=signs[s.key]) if s.key in signs else s for s in senders)


def annotated(
    senders: tuple[SenderFacts, ...],
    signs: Mapping[str, tuple[str, ...]],
    breaks: Mapping[str, date],
) -> tuple[SenderFacts, ...]:
    """The senders with their forwarding evidence and the day their DKIM broke, if it did."""
    return tuple(
        replace(s, dkim_broken_since=breaks[s.key]) if s.key in breaks else s
        for s in with_forwarding(senders, signs)
    )


def forwarded_rows(rows: list[DailyRow], signs: Mapping[str, tuple[str, ...]]) -> list[DailyRow]:
    """Daily rows of unclassified forwarded sources marked as forwarded (for the what-if)."""
    return [
        replace(r, forwarded=True)
        if r.sender_key in signs and r.sender_status is SenderStatus.UNKNOWN
        else r
        for r in rows
    ]


def evidence_source() -> EvidenceSource:
    source: EvidenceSource | None = current_app.extensions.get(EXTENSION_KEY)
    return source if source is not None else ServiceEvidence()


UNSET_REPORTS_DOMAIN = "reports.invalid"


def reports_domain(config: Mapping[str, Any]) -> str:
    """Where reports are mailed: ``MSP_REPORTS_DOMAIN``, else the host of ``MSP_BASE_URL`` when
    that is a DNS name; never an address literal or ``localhost`` (a record naming one would
    send the reports nowhere), but the reserved ``reports.invalid`` the pages warn about."""
    configured = config.get("MSP_REPORTS_DOMAIN")
    if configured:
        return str(configured)
    host = urlparse(str(config["MSP_BASE_URL"])).hostname or ""
    if "." not in host or host.endswith("localhost") or _is_address(host):
        return UNSET_REPORTS_DOMAIN
    return host


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def report_address(tenant: Tenant, config: Mapping[str, Any]) -> str:
    """The tenant's ``rua``: ``mailto:<report token>@<reports domain>``."""
    return f"mailto:{tenant.report_token}@{reports_domain(config)}"


def domain_settings(tenant: Tenant, domain: Domain) -> policy_settings.PolicySettings:
    return policy_settings.resolve(
        (tenant.settings or {}).get("policy"), (domain.settings or {}).get("policy")
    )


def record_options(
    tenant: Tenant, cfg: policy_settings.PolicySettings, config: Mapping[str, Any]
) -> RecordOptions:
    rua = (report_address(tenant, config),)
    return RecordOptions(
        rua=rua,
        ruf=rua,
        legacy_pct_ramp=cfg.legacy_pct_ramp,
        subdomain_policy_cap=cfg.subdomain_policy_cap,
    )


def pending_from_change(change: PolicyChange | None) -> PendingChange | None:
    return pending_of(change) if change is not None else None


def pending_of(change: PolicyChange) -> PendingChange:
    """The engine's view of a stored change."""
    return PendingChange(
        kind=ChangeKind(change.kind),
        from_stage=Stage(change.from_stage),
        to_stage=Stage(change.to_stage),
        status=ChangeStatus(change.status),
        proposed_at=change.proposed_at,
        scheduled_for=change.scheduled_for,
        published_at=change.published_at,
        last_reminded_at=change.last_reminded_at,
        id=change.id,
    )


def evidence_window(now: datetime, days: int) -> tuple[date, date]:
    """The last ``days`` complete days before ``now`` (today's reports are still arriving)."""
    until = now.date() - timedelta(days=1)
    return until - timedelta(days=max(days, 1) - 1), until


def load_facts(
    domain: Domain,
    tenant: Tenant,
    plan: PolicyPlan,
    change: PolicyChange | None,
    now: datetime,
    source: EvidenceSource,
) -> DomainFacts:
    """Everything the engine needs about ``domain`` at ``now``."""
    cfg = domain_settings(tenant, domain)
    since, until = evidence_window(now, cfg.window_days)
    recent_since, _ = evidence_window(now, cfg.rollback_window_days)
    horizon_since, _ = evidence_window(now, cfg.sender_horizon_days)
    signs = source.forwarding(domain.id, since, until)
    rows = source.daily_rows(domain.id, horizon_since, until)
    breaks = dkim_breaks(rows)
    remembered = known_senders(
        with_forwarding(source.senders(domain.id, horizon_since, until), signs), rows
    )
    return DomainFacts(
        name=domain.name,
        stage=Stage(plan.stage),
        stage_since=plan.stage_since,
        parked=domain.parked,
        senders=annotated(source.senders(domain.id, since, until), signs, breaks),
        recent_senders=annotated(source.senders(domain.id, recent_since, until), signs, breaks),
        coverage=source.coverage(domain.id, since, until),
        posture=source.posture(domain.id),
        records=record_options(tenant, cfg, current_app.config),
        settings=cfg,
        pending=pending_from_change(change),
        timezone=tenant.timezone or "UTC",
        known_senders=remembered,
    )
