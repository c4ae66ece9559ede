"""Web views: thin callers of the services, rendering Jinja templates.

MSP staff get the fleet (every tenant they reach); a client's users get their own tenant.
Writes (sender verdicts, approving an escalation) need a tenant_admin or MSP staff, and the
form's CSRF token.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from msp.auth import service
from msp.auth.principal import Principal, current_principal
from msp.auth.request import SESSION_KEY, client_ip
from msp.db import utcnow
from msp.domains.models import Domain
from msp.errors import AppError, Forbidden, NotFound, TooManyRequests, Unauthorized
from msp.extensions import csrf, db
from msp.tenancy.models import Tenant
from msp.tenancy.scope import get_scoped
from msp.web import pages

bp = Blueprint(
    "web", __name__, template_folder="templates", static_folder="static", static_url_path="/assets"
)


@bp.errorhandler(NotFound)
def not_found(error: NotFound) -> tuple[str, int]:
    return render_template("not_found.html", principal=current_principal()), 404


@bp.errorhandler(Forbidden)
def forbidden(error: Forbidden) -> tuple[str, int]:
    return render_template(
        "not_found.html", principal=current_principal(), message=error.detail
    ), 403


def _principal() -> Principal | None:
    return current_principal()


@bp.get("/")
def index() -> Response:
    if _principal() is None:
        return redirect(url_for("web.login"))
    return redirect(url_for("web.dashboard"))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    status = 200
    if request.method == "POST":
        csrf.protect()
        try:
            user = service.authenticate(
                request.form.get("email", ""),
                request.form.get("password", ""),
                client_ip(),
                current_app.config["MSP_LOGIN_RATE_LIMIT"],
                utcnow(),
            )
        except (Unauthorized, TooManyRequests) as exc:
            db.session.commit()  # keep the failed attempt for the rate limit
            error, status = exc.detail, exc.status
        else:
            session.clear()
            session[SESSION_KEY] = service.open_session(
                user,
                client_ip(),
                request.headers.get("User-Agent", ""),
                current_app.config["MSP_SESSION_HOURS"],
                utcnow(),
            )
            session.permanent = True
            return redirect(url_for("web.dashboard"))
    return render_template("login.html", error=error), status


@bp.post("/logout")
def logout() -> Response:
    csrf.protect()
    raw = session.pop(SESSION_KEY, None)
    if raw:
        service.close_session(raw, utcnow())
    return redirect(url_for("web.login"))


@bp.get("/dashboard")
def dashboard() -> Any:
    principal = _principal()
    if principal is None:
        return redirect(url_for("web.login"))
    rows = pages.fleet(principal)
    if not principal.is_msp and len(rows) == 1:
        return redirect(url_for("web.tenant_view", tenant_id=rows[0].tenant.id))
    return render_template("dashboard.html", principal=principal, rows=rows)


@bp.get("/tenants/<int:tenant_id>")
def tenant_view(tenant_id: int) -> Any:
    principal = _principal()
    if principal is None:
        return redirect(url_for("web.login"))
    tenant = get_scoped(Tenant, tenant_id)
    return render_template(
        "tenant.html", principal=principal, tenant=tenant, rows=pages.tenant_domains(tenant)
    )


@bp.get("/domains/<int:domain_id>")
def domain_view(domain_id: int) -> Any:
    principal = _principal()
    if principal is None:
        return redirect(url_for("web.login"))
    page = pages.domain_page(get_scoped(Domain, domain_id))
    return render_template(
        "domain.html",
        principal=principal,
        page=page,
        can_manage=principal.can_manage(page.domain.tenant_id),
    )


def _managed_domain(domain_id: int) -> Domain:
    principal = _principal()
    if principal is None:
        raise NotFound("not found")
    # Cookie sessions passed the CSRF check in load_principal; bearer tokens need none.
    domain = get_scoped(Domain, domain_id)
    if not principal.can_manage(domain.tenant_id):
        raise Forbidden("you may view this domain but not change it")
    return domain


@bp.post("/domains/<int:domain_id>/senders")
def sender_verdict(domain_id: int) -> Response:
    from msp.reports.service import set_sender_status

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
    from msp.policy import service as policy_service
    from msp.policy.models import PolicyChange

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
