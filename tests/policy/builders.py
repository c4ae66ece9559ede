"""Builders of engine facts for the policy tests (pure data, no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from msp.policy.facts import (
    CoverageFacts,
    DomainFacts,
    PostureFacts,
    SenderFacts,
    SenderStatus,
)
from msp.policy.records import RecordOptions, dmarc_for_stage
from msp.policy.settings import DEFAULTS
from msp.policy.stages import Stage

NOW = datetime(2026, 6, 10, 5, 0, tzinfo=UTC)
RUA = ("mailto:r0123@reports.msp.test",)
OPTIONS = RecordOptions(rua=RUA, ruf=RUA)


def sender(
    name: str = "google-workspace",
    status: SenderStatus = SenderStatus.APPROVED,
    messages: int = 1000,
    passing: int | None = None,
    *,
    first_seen_days_ago: int = 60,
    dkim_pass: int | None = None,
    spf_pass: int | None = None,
    selectors: tuple[str, ...] = ("google",),
) -> SenderFacts:
    passing = messages if passing is None else passing
    return SenderFacts(
        key=name,
        name=name,
        status=status,
        messages=messages,
        dmarc_pass=passing,
        spf_aligned_pass=passing if spf_pass is None else spf_pass,
        dkim_aligned_pass=passing if dkim_pass is None else dkim_pass,
        first_seen=(NOW - timedelta(days=first_seen_days_ago)).date(),
        last_seen=NOW.date() - timedelta(days=1),
        dkim_selectors=selectors,
    )


def posture(stage: Stage, **changes: Any) -> PostureFacts:
    tags = dict(dmarc_for_stage(stage, OPTIONS).tags()) if stage is not Stage.NONE else None
    base = PostureFacts(
        checked_at=NOW - timedelta(hours=2),
        dmarc_tags=tags,
        spf_valid=True,
        spf_dns_lookups=4,
        dkim_selectors={"google": True},
        spf_record="v=spf1 -all"
        if stage is Stage.PARKED
        else "v=spf1 include:_spf.google.com ~all",
        null_mx=stage is Stage.PARKED,
    )
    return replace(base, **changes)


def facts(stage: Stage = Stage.MONITOR, **changes: Any) -> DomainFacts:
    """A domain that is ready to leave ``stage``; ``changes`` break what a test needs."""
    senders = (sender(), sender("bulk-spoofer", SenderStatus.ABUSE, 400, 0, selectors=()))
    base = DomainFacts(
        name="example.test",
        stage=stage,
        stage_since=NOW - timedelta(days=30),
        parked=False,
        senders=senders,
        recent_senders=tuple(replace(s, messages=s.messages // 5) for s in senders),
        coverage=CoverageFacts(reporters=4, days_with_reports=14, messages=1400),
        posture=posture(stage),
        records=OPTIONS,
        settings=DEFAULTS,
    )
    return replace(base, **changes)


def day(days_ago: int) -> date:
    return (NOW - timedelta(days=days_ago)).date()
