"""Read models of the web pages: what the fleet, a tenant and a domain look like right now,
gathered from the areas' services (the pages never query other areas' tables themselves)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from msp.auth.principal import Principal
from msp.dns import service as dns_service
from msp.dns.models import PostureFinding
from msp.domains.models import Domain
from msp.extensions import db
from msp.policy import service as policy_service
from msp.policy.models import PolicyPlan
from msp.tenancy.models import Tenant
from msp.tenancy.scope import scoped_select

SENDER_WINDOW_DAYS = 30
TIMELINE_LIMIT = 25


@dataclass(frozen=True)
class TenantRow:
    tenant: Tenant
    domains: int
    readiness: int
    stages: dict[str, int]
    open_errors: int


@dataclass(frozen=True)
class DomainRow:
    domain: Domain
    grade: str | None
    policy: str | None
    stage: str
    readiness: int
    checked_at: Any
    open_findings: int


def _open_errors_by_tenant(tenant_ids: list[int]) -> dict[int, int]:
    rows = db.session.execute(
        select(PostureFinding.tenant_id, func.count())
        .where(
            PostureFinding.tenant_id.in_(tenant_ids or [-1]),
            PostureFinding.closed_at.is_(None),
            PostureFinding.severity == "error",
        )
        .group_by(PostureFinding.tenant_id)
    )
    return {tenant_id: count for tenant_id, count in rows}


def fleet(principal: Principal) -> list[TenantRow]:
    """The tenants the principal reaches, with their road to enforcement in numbers."""
    tenants = list(db.session.scalars(scoped_select(Tenant).order_by(Tenant.name)))
    counts = dict(
        db.session.execute(select(Domain.tenant_id, func.count()).group_by(Domain.tenant_id)).all()
    )
    errors = _open_errors_by_tenant([t.id for t in tenants])
    rows = []
    for tenant in tenants:
        readiness = policy_service.tenant_readiness(tenant)
        rows.append(
            TenantRow(
                tenant,
                counts.get(tenant.id, 0),
                readiness["readiness"],
                readiness["stages"],
                errors.get(tenant.id, 0),
            )
        )
    return rows


def tenant_domains(tenant: Tenant) -> list[DomainRow]:
    domains = list(
        db.session.scalars(
            scoped_select(Domain).where(Domain.tenant_id == tenant.id).order_by(Domain.name)
        )
    )
    plans = {
        p.domain_id: p
        for p in db.session.scalars(select(PolicyPlan).where(PolicyPlan.tenant_id == tenant.id))
    }
    open_counts = dict(
        db.session.execute(
            select(PostureFinding.domain_id, func.count())
            .where(PostureFinding.tenant_id == tenant.id, PostureFinding.closed_at.is_(None))
            .group_by(PostureFinding.domain_id)
        ).all()
    )
    rows = []
    for domain in domains:
        posture = dns_service.latest_posture(domain.id)
        plan = plans.get(domain.id)
        rows.append(
            DomainRow(
                domain=domain,
                grade=posture.grade if posture else None,
                policy=posture.dmarc_policy if posture else None,
                stage=plan.stage if plan else "not planned",
                readiness=plan.readiness if plan else 0,
                checked_at=posture.checked_at if posture else None,
                open_findings=open_counts.get(domain.id, 0),
            )
        )
    return rows
