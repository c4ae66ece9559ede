"""Helpers for the policy integration tests: a ready domain's evidence, published postures."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from flask import current_app

from msp.domains.models import Domain
from msp.extensions import db
from msp.policy import service
from msp.policy.facts import CoverageFacts, PostureFacts, SenderStatus
from msp.policy.loader import domain_settings, record_options
from msp.policy.models import PolicyPlan
from msp.policy.records import dmarc_for_stage
from msp.policy.stages import Stage
from msp.tenancy.models import Tenant

from .builders import sender
from .evidence import StaticEvidence


def published(domain: Domain, stage: Stage, checked_at: datetime) -> PostureFacts:
    """The posture of ``domain`` once the record of ``stage`` is published and checked."""
    tenant = db.session.get(Tenant, domain.tenant_id)
    assert tenant is not None
    options = record_options(tenant, domain_settings(tenant, domain), current_app.config)
    tags = dict(dmarc_for_stage(stage, options).tags()) if stage is not Stage.NONE else None
    parked = stage is Stage.PARKED
    return PostureFacts(
        checked_at,
        tags,
        True,
        0 if parked else 4,
        {"google": True},
        spf_record="v=spf1 -all" if parked else "v=spf1 include:_spf.google.com ~all",
        null_mx=parked,
    )


def make_ready(evidence: StaticEvidence, domain: Domain, stage: Stage, now: datetime) -> None:
    """Evidence on which ``domain`` at ``stage`` passes every gate."""
    good = (sender(), sender("bulk-spoofer", SenderStatus.ABUSE, 400, 0, selectors=()))
    evidence.senders_by_domain[domain.id] = good
    evidence.recent_by_domain[domain.id] = tuple(replace(s, messages=s.messages // 5) for s in good)
    evidence.coverages[domain.id] = CoverageFacts(4, 14, 1400)
    evidence.postures[domain.id] = published(domain, stage, now - timedelta(hours=2))


def put_at_stage(domain: Domain, stage: Stage, since: datetime, evidence: StaticEvidence) -> None:
    plan = service.ensure_plan(domain, evidence, since)
    plan.stage, plan.stage_since = stage.value, since
    db.session.flush()


def plan_of(domain: Domain) -> PolicyPlan:
    plan = db.session.query(PolicyPlan).filter_by(domain_id=domain.id).one()
    return plan
