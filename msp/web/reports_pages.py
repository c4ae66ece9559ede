"""The reports pages: upload report files, the list of received files with their status and
reason, reprocess, and (MSP staff) the unrouted files with "add this domain to a tenant".

Thin views over the services the API uses (``msp/api/reports.py``): ``upload_tenant`` and
``receive_many`` for uploads, ``reprocess`` for a file, ``add_domain`` for an unrouted domain
(which routes the waiting files itself). Lists go through ``scoped_select``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import Select, func, select
from werkzeug.wrappers import Response

from msp.auth.principal import Principal
from msp.domains.service import add_domain
from msp.errors import AppError, Forbidden, NotFound
from msp.extensions import db
from msp.reports.models import RawReport
from msp.reports.service import receive_many, reprocess, upload_tenant
from msp.tenancy.models import Tenant
from msp.tenancy.scope import get_scoped, scoped_select
from msp.web.blueprint import bp, principal_or_none
from msp.web.shell import view_as_tenant

PER_PAGE = 50
RAW_STATUSES = ("pending", "ingested", "duplicate", "rejected", "unrouted")
STATUS_WORDS = {
    "pending": "Waiting to be read",
    "ingested": "Read and stored",
    "duplicate": "Already received before",
    "rejected": "Could not be read",
    "unrouted": "No tenant manages its domain",
}
REPROCESSABLE = ("rejected", "unrouted")


@dataclass(frozen=True)
class RawPage:
    rows: list[RawReport]
    total: int
    page: int
    pages: int


def _principal() -> Principal:
    principal = principal_or_none()
    if principal is None:
        raise NotFound("not found")
    return principal


def _page_of(stmt: Select[Any], page: int) -> RawPage:
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    pages = max(1, -(-(total or 0) // PER_PAGE))
    page = min(max(page, 1), pages)
    rows = list(db.session.scalars(stmt.limit(PER_PAGE).offset((page - 1) * PER_PAGE)))
    return RawPage(rows, total or 0, page, pages)


def _tenants(principal: Principal) -> list[Tenant]:
    return list(db.session.scalars(scoped_select(Tenant).order_by(Tenant.name)))


def _manageable(principal: Principal) -> list[Tenant]:
    return [t for t in _tenants(principal) if principal.can_manage(t.id)]


@bp.get("/reports")
def reports() -> Any:
    """Received report files, newest first, with their status and the reason."""
    principal = principal_or_none()
    if principal is None:
        return redirect(url_for("web.login"))
    status = request.args.get("status")
    stmt = scoped_select(RawReport).order_by(RawReport.id.desc())
    if status in RAW_STATUSES:
        stmt = stmt.where(RawReport.status == status)
    raws = _page_of(stmt, request.args.get("page", 1, type=int) or 1)
    names = {t.id: t.name for t in _tenants(principal)}
    return render_template(
        "reports/list.html",
        principal=principal,
        raws=raws,
        status_filter=status if status in RAW_STATUSES else None,
        statuses=RAW_STATUSES,
        status_words=STATUS_WORDS,
        reprocessable=REPROCESSABLE,
        tenant_names=names,
        can_upload=view_as_tenant() is None and (principal.is_msp or bool(_manageable(principal))),
        can_manage=lambda raw: (
            view_as_tenant() is None
            and (principal.can_manage(raw.tenant_id) if raw.tenant_id else principal.is_msp)
        ),
    )


@bp.route("/reports/upload", methods=["GET", "POST"])
def report_upload() -> Any:
    """A form for report files (XML, gzip, zip, e-mail); many at once."""
    principal = principal_or_none()
    if principal is None:
        return redirect(url_for("web.login"))
    tenants = _manageable(principal)
    if not principal.is_msp and not tenants:
        raise Forbidden("you may view reports but not upload them")
    if request.method == "POST":
        return _receive(principal)
    return render_template(
        "reports/upload.html", principal=principal, tenants=tenants, max_files=PER_PAGE
    )


def _receive(principal: Principal) -> Any:
    files = [(f.filename or "upload", f.read()) for f in request.files.getlist("files")]
    tenant_id = request.form.get("tenant_id", type=int)
    try:
        received = receive_many(files, tenant_id=upload_tenant(principal, tenant_id))
    except AppError as exc:
        flash(f"Nothing was uploaded: {exc.detail}.", "error")
        if request.headers.get("X-Upload") == "script":
            return jsonify({"next": url_for("web.report_upload")})
        return redirect(url_for("web.report_upload"))
    count = len(received)
    flash(
        f"{count} file{'' if count == 1 else 's'} received; each is read in the background "
        "and its status below changes when it is done.",
        "ok",
    )
    if request.headers.get("X-Upload") == "script":
        # the upload script navigates itself: a redirect followed by XHR would eat the message
        return jsonify({"next": url_for("web.reports")})
    return redirect(url_for("web.reports"))


@bp.post("/reports/raw/<int:raw_id>/reprocess")
def report_reprocess(raw_id: int) -> Response:
    principal = _principal()
    raw = get_scoped(RawReport, raw_id)
    allowed = principal.can_manage(raw.tenant_id) if raw.tenant_id else principal.is_msp
    if not allowed:
        raise Forbidden("you may view this file but not reprocess it")
    if raw.status not in REPROCESSABLE:
        flash(
            f"{raw.filename or 'The file'} is {STATUS_WORDS.get(raw.status, raw.status)}; "
            "nothing to reprocess.",
            "ok",
        )
    else:
        reprocess(raw)
        flash(f"{raw.filename or 'The file'} will be read again.", "ok")
    return redirect(url_for("web.reports", status=request.form.get("back_status") or None))


@bp.get("/reports/unrouted")
def unrouted_reports() -> Any:
    """Files about domains no tenant manages yet, by domain (MSP staff)."""
    principal = principal_or_none()
    if principal is None:
        return redirect(url_for("web.login"))
    if not principal.is_msp:
        raise NotFound("not found")
    rows = db.session.execute(
        scoped_select(RawReport)
        .with_only_columns(
            RawReport.domain,
            func.count(),
            func.min(RawReport.received_at),
            func.max(RawReport.received_at),
            func.count(func.distinct(RawReport.org_name)),
        )
        .where(RawReport.status == "unrouted")
        .group_by(RawReport.domain)
        .order_by(func.count().desc(), RawReport.domain)
        .limit(200)
    ).all()
    return render_template(
        "reports/unrouted.html",
        principal=principal,
        rows=rows,
        tenants=_manageable(principal),
    )


@bp.post("/reports/unrouted/assign")
def unrouted_assign() -> Response:
    """Add an unrouted domain to a tenant; its waiting files are routed by the domain's
    creation (``add_domain`` enqueues that), as through the API."""
    principal = _principal()
    if not principal.is_msp:
        raise NotFound("not found")
    tenant = get_scoped(Tenant, request.form.get("tenant_id", 0, type=int) or 0)
    if not principal.can_manage(tenant.id):
        raise Forbidden("you may not add domains to this tenant")
    try:
        domain = add_domain(tenant, request.form.get("domain", ""))
    except AppError as exc:
        flash(f"Not added: {exc.detail}", "error")
        return redirect(url_for("web.unrouted_reports"))
    flash(
        f"{domain.name} now belongs to {tenant.name}; its waiting reports are being routed.", "ok"
    )
    return redirect(url_for("web.domain_view", domain_id=domain.id))
