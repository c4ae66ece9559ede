"""The domain page and its actions: records and findings, senders and their verdicts, the road
to p=reject and its decisions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from msp.db import utcnow
from msp.dns import service as dns_service
from msp.dns.models import PostureFinding
from msp.domains.models import Domain
from msp.errors import AppError, Forbidden, NotFound
from msp.extensions import db
from msp.policy import service as policy_service
from msp.policy.models import PolicyChange
from msp.reports.queries import SenderStat, sender_stats
from msp.reports.service import set_sender_status
from msp.tenancy.models import Tenant
from msp.tenancy.scope import get_scoped
from msp.web.blueprint import bp, principal_or_none

SENDER_WINDOW_DAYS = 30
TIMELINE_LIMIT = 25


@dataclass(frozen=True)
class DomainPage:
    domain: Domain
    tenant: Tenant
    posture: dns_service.PostureView | None
    findings: list[PostureFinding]
    senders: list[SenderStat]
    plan: dict[str, Any]
    timeline: list[Any]
    unknown_volume: int = field(default=0)


def domain_page(domain: Domain) -> DomainPage:
    tenant = db.session.get(Tenant, domain.tenant_id)
    assert tenant is not None
    today = date.today()
    senders = sender_stats(
        domain.id, today - timedelta(days=SENDER_WINDOW_DAYS), today, with_network=True
    )
    plan = policy_service.plan_view(domain, utcnow()).as_dict()
    timeline = list(
        db.session.scalars(policy_service.timeline_select(domain).limit(TIMELINE_LIMIT))
    )
    unknown = sum(s.messages for s in senders if s.status == "unknown")
    return DomainPage(
        domain=domain,
        tenant=tenant,
        posture=dns_service.latest_posture(domain.id),
        findings=dns_service.open_findings(domain),
        senders=senders,
        plan=plan,
        timeline=timeline,
        unknown_volume=unknown,
    )


@bp.get("/domains/<int:domain_id>")
def domain_view(domain_id: int) -> Any:
    principal = principal_or_none()
    if principal is None:
        return redirect(url_for("web.login"))
    page = domain_page(get_scoped(Domain, domain_id))
    return render_template(
        "domain.html",
        principal=principal,
        page=page,
        can_manage=principal.can_manage(page.domain.tenant_id),
    )


def _managed_domain(domain_id: int) -> Domain:
    principal = principal_or_none()
    if principal is None:
        raise NotFound("not found")
    # Cookie sessions passed the CSRF check in load_principal; bearer tokens need none.
    domain = get_scoped(Domain, domain_id)
    if not principal.can_manage(domain.tenant_id):
        raise Forbidden("you may view this domain but not change it")
    return domain


@bp.post("/domains/<int:domain_id>/senders")
def sender_verdict(domain_id: int) -> Response:
    domain = _managed_domain(domain_id)
    key, status = request.form.get("key", ""), request.form.get("status", "")
    try:
        set_sender_status(domain, key, status)
    except AppError as exc:
        flash(exc.detail, "error")
    else:
        flash(f"{key} marked {status}", "ok")
    return redirect(url_for("web.domain_view", domain_id=domain.id))


@bp.post("/domains/<int:domain_id>/escalations/<int:change_id>/approve")
def approve_change(domain_id: int, change_id: int) -> Response:
    domain = _managed_domain(domain_id)
    change = get_scoped(PolicyChange, change_id)
    if change.domain_id != domain.id:
        raise NotFound(f"change {change_id} not found")
    try:
        policy_service.approve(change)
    except AppError as exc:
        flash(exc.detail, "error")
    else:
        flash("escalation approved; it will be issued in the change window", "ok")
    return redirect(url_for("web.domain_view", domain_id=domain.id))
