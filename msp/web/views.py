"""Web views: thin callers of the services, rendering Jinja templates."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from msp.auth import service
from msp.auth.request import SESSION_KEY, client_ip
from msp.db import utcnow
from msp.domains.models import Domain
from msp.errors import NotFound, TooManyRequests, Unauthorized
from msp.extensions import csrf, db
from msp.tenancy.models import Tenant
from msp.tenancy.scope import get_scoped, scoped_select

bp = Blueprint(
    "web", __name__, template_folder="templates", static_folder="static", static_url_path="/assets"
)


def _principal_or_login() -> Any:
    from msp.auth.principal import current_principal

    return current_principal()


@bp.get("/")
def index() -> Response:
    if _principal_or_login() is None:
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
    principal = _principal_or_login()
    if principal is None:
        return redirect(url_for("web.login"))
    counts = dict(
        db.session.execute(select(Domain.tenant_id, func.count()).group_by(Domain.tenant_id)).all()
    )
    tenants = db.session.scalars(scoped_select(Tenant).order_by(Tenant.name)).all()
    return render_template("dashboard.html", principal=principal, tenants=tenants, counts=counts)


@bp.get("/tenants/<int:tenant_id>")
def tenant_view(tenant_id: int) -> Any:
    principal = _principal_or_login()
    if principal is None:
        return redirect(url_for("web.login"))
    try:
        tenant = get_scoped(Tenant, tenant_id)
    except NotFound:
        return render_template("not_found.html"), 404
    domains = db.session.scalars(
        scoped_select(Domain).where(Domain.tenant_id == tenant.id).order_by(Domain.name)
    ).all()
    return render_template("tenant.html", principal=principal, tenant=tenant, domains=domains)
