"""The domain page and its actions: records and findings with fixes in the domain's real values,
senders and their verdicts (one by one or in bulk), the road to p=reject and its decisions
(propose, approve, reject, reschedule), and the what-if simulator.

Views are thin: they load through the scoped getter, call the same services the API calls, and
redirect back with a message in plain words. GETs never write (``domain_read`` reads the plan in
a rolled-back savepoint). Cookie sessions passed the CSRF check in ``load_principal``.
The reports pages live in ``reports_pages`` (imported at the end so its routes register).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from msp.auth.principal import Principal
from msp.domains.models import Domain
from msp.errors import AppError, Forbidden, NotFound
from msp.extensions import db
from msp.policy import service as policy_service
from msp.policy.models import PolicyChange
from msp.publishing import service as publishing_service
from msp.reports.service import set_sender_status
from msp.response_cache import cached
from msp.tenancy.scope import get_scoped
from msp.web import (
    domain_activity,
    domain_advice,
    domain_read,
    domain_words,
    publishing_pages,  # noqa: F401  (adds the publishing routes)
    publishing_read,
    verification_pages,
)
from msp.web.blueprint import bp, principal_or_none
from msp.web.shell import view_as_tenant

MAX_BULK = 200
JUDGED = ("approved", "forwarder", "abuse")
STATUS_WORDS = {
    "approved": "approved",
    "forwarder": "a forwarder",
    "abuse": "abuse",
    "unknown": "unknown (no verdict)",
}


def _back(domain: Domain, anchor: str = "") -> Response:
    return redirect(url_for("web.domain_view", domain_id=domain.id) + anchor)


@bp.get("/domains/<int:domain_id>")
@cached
def domain_view(domain_id: int) -> Any:
    """The domain page (read only: nothing is created by opening it)."""
    principal = principal_or_none()
    if principal is None:
        return redirect(url_for("web.login"))
    domain = get_scoped(Domain, domain_id)
    status = request.args.get("status")
    status = status if status in JUDGED else None
    page = domain_read.domain_page(
        domain,
        request.args.get("page", 1, type=int) or 1,
        status,
        live=request.args.get("live") == "1",
    )
    return render_template(
        "domain.html",
        principal=principal,
        page=page,
        activity=domain_activity.activity(domain),
        can_manage=principal.can_manage(domain.tenant_id) and view_as_tenant() is None,
        status_filter=status,
        publishing=publishing_read.publishing_section(
            domain, with_diff=request.args.get("diff") == "1"
        ),
        may_force=publishing_service.may_publish_over_hand_edit(principal, domain.tenant_id)
        and view_as_tenant() is None,
        verification=verification_pages.verification_of(domain, page.tenant),
        pub_modes=publishing_read.MODE_WORDS,
        pub_status=publishing_read.PUBLICATION_WORDS,
        **_helpers(page),
    )


def _helpers(page: domain_read.DomainPage) -> dict[str, Any]:
    """Words and the page-bound helpers (the tenant's zone, the domain's real values)."""
    view = page.plan.view
    records = [*view["records"], *view["next_records"]]
    return {
        "when": lambda value, fmt="%d %b %Y %H:%M": domain_read.local_time(value, page.zone, fmt),
        "fix_for": lambda code: domain_advice.fix_for(
            code, page.domain.name, page.spf, records, page.report_address
        ),
        "hint": lambda sender: domain_advice.alignment_hint(sender, page.domain.name),
        "spf_codes": domain_advice.SPF_CODES,
        "status_words": STATUS_WORDS,
        "stage_words": domain_words.STAGES,
        "road_stages": domain_words.ROAD_STAGES,
        "gate_words": domain_words.GATES,
        "gate_status": domain_words.GATE_STATUS,
        "change_status": domain_words.CHANGE_STATUS,
        "timeline_words": domain_words.TIMELINE,
        "severity_words": domain_words.SEVERITY,
    }


def _managed_domain(domain_id: int) -> tuple[Principal, Domain]:
    principal = principal_or_none()
    if principal is None:
        raise NotFound("not found")
    domain = get_scoped(Domain, domain_id)
    if not principal.can_manage(domain.tenant_id):
        raise Forbidden("you may view this domain but not change it")
    return principal, domain


def _verdict_form() -> tuple[str, list[str]]:
    """(status, keys) from a row's own button ("<status> <key>") or the bulk form."""
    one = request.form.get("one", "")
    if one:
        status, _, key = one.partition(" ")
        return status, [key]
    keys = request.form.getlist("keys") or [request.form.get("key", "")]
    return request.form.get("status", ""), [k for k in keys if k][:MAX_BULK]


@bp.post("/domains/<int:domain_id>/senders")
def sender_verdict(domain_id: int) -> Response:
    """A verdict on one sender or on every checked one: all of them, or none."""
    _, domain = _managed_domain(domain_id)
    status, keys = _verdict_form()
    if not keys:
        flash("Tick at least one sender first.", "error")
        return _back(domain, "#senders-section")
    try:
        with db.session.begin_nested():
            for key in keys:
                set_sender_status(domain, key, status)
    except AppError as exc:
        flash(f"Nothing was changed: {exc.detail}.", "error")
    else:
        what = keys[0].removeprefix("ip:") if len(keys) == 1 else f"{len(keys)} senders"
        flash(f"{what} marked {STATUS_WORDS[status]}.", "ok")
    return _back(domain, "#senders-section")


def _domain_change(domain_id: int, change_id: int) -> tuple[Domain, PolicyChange]:
    _, domain = _managed_domain(domain_id)
    change = get_scoped(PolicyChange, change_id)
    if change.domain_id != domain.id:
        raise NotFound(f"change {change_id} not found")
    return domain, change


def _already(change: PolicyChange, wanted: tuple[str, ...]) -> bool:
    """A second click on a decision already taken: say what happened, do nothing."""
    if change.status in wanted:
        return False
    by = f" by {change.decided_by}" if change.decided_by else ""
    flash(f"This change to {change.to_stage} is already {change.status}{by}; nothing to do.", "ok")
    return True


@bp.post("/domains/<int:domain_id>/escalations")
def propose_change(domain_id: int) -> Response:
    _, domain = _managed_domain(domain_id)
    try:
        change = policy_service.propose(domain)
    except AppError as exc:
        gates = (exc.errors or {}).get("gates", []) if isinstance(exc.errors, dict) else []
        flash(" ".join([exc.detail, *[f"· {g}" for g in gates]]), "error")
    else:
        flash(f"Proposed: move to {change.to_stage}. It waits for approval.", "ok")
    return _back(domain, "#plan")


@bp.post("/domains/<int:domain_id>/escalations/<int:change_id>/approve")
def approve_change(domain_id: int, change_id: int) -> Response:
    domain, change = _domain_change(domain_id, change_id)
    if _already(change, ("proposed",)):
        return _back(domain, "#plan")
    try:
        policy_service.approve(change)
    except AppError as exc:
        flash(exc.detail, "error")
    else:
        flash(f"Approved: the move to {change.to_stage} will be issued in the change window.", "ok")
    return _back(domain, "#plan")


@bp.post("/domains/<int:domain_id>/escalations/<int:change_id>/reject")
def reject_change(domain_id: int, change_id: int) -> Response:
    domain, change = _domain_change(domain_id, change_id)
    if _already(change, ("proposed", "approved", "scheduled")):
        return _back(domain, "#plan")
    note = request.form.get("note", "").strip()[:2000] or None
    try:
        policy_service.reject(change, note)
    except AppError as exc:
        flash(exc.detail, "error")
    else:
        flash(f"Rejected: the domain stays at {change.from_stage}.", "ok")
    return _back(domain, "#plan")


def _local_input(value: str, zone: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value).replace(tzinfo=zone)
    except ValueError:
        return None


@bp.post("/domains/<int:domain_id>/escalations/<int:change_id>/schedule")
def schedule_change(domain_id: int, change_id: int) -> Response:
    domain, change = _domain_change(domain_id, change_id)
    if _already(change, ("approved", "scheduled")):
        return _back(domain, "#plan")
    tenant_zone = domain_read.tenant_zone(domain_read.tenant_of(domain))
    at = _local_input(request.form.get("at", ""), tenant_zone)
    if at is None:
        flash("Give a date and time for the change (for example 2026-12-24 06:00).", "error")
        return _back(domain, "#plan")
    try:
        policy_service.schedule(change, at)
    except AppError as exc:
        flash(exc.detail, "error")
    else:
        flash(
            f"Rescheduled: the change will be issued {domain_read.local_time(at, tenant_zone)}.",
            "ok",
        )
    return _back(domain, "#plan")


def _suggested_record(domain: Domain) -> str:
    """The next stage's record (else this stage's) to start the what-if from."""
    view = domain_read.read_plan(domain).view
    return str(view.get("next_record") or view.get("record") or "v=DMARC1; p=reject")


@bp.get("/domains/<int:domain_id>/what-if")
def what_if(domain_id: int) -> Any:
    """The what-if simulator: a record and a number of days in, per-sender outcomes out."""
    principal = principal_or_none()
    if principal is None:
        return redirect(url_for("web.login"))
    domain = get_scoped(Domain, domain_id)
    record = request.args.get("record") or _suggested_record(domain)
    days = request.args.get("days", 30, type=int) or 30
    result, error = None, None
    if "record" in request.args:
        try:
            result = policy_service.simulate_domain(domain, record, days)
        except AppError as exc:
            error = exc.detail
    return render_template(
        "domain/whatif.html",
        principal=principal,
        domain=domain,
        tenant=domain_read.tenant_of(domain),
        record=record,
        days=days,
        result=result,
        error=error,
    )


from msp.web import reports_pages  # noqa: E402,F401  (adds the reports pages' routes)
