"""The console's start pages: the portfolio (MSP staff), a tenant's dashboard (what its users
see, and staff when they open it), and "view as client" for MSP staff.

Views are thin: the read models live in ``portfolio.py`` and ``tenant_dashboard.py``. Account
pages live in ``account.py``, the domain page in ``domain_pages.py``.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from msp.auth.audit import audit
from msp.auth.principal import Principal
from msp.db import utcnow
from msp.errors import Forbidden, Unauthorized
from msp.extensions import db
from msp.response_cache import cached
from msp.tenancy.models import Tenant
from msp.tenancy.scope import get_scoped, scoped_select
from msp.web.blueprint import bp, principal_or_none
from msp.web.portfolio import PortfolioQuery, portfolio
from msp.web.shell import VIEW_AS_KEY, view_as_tenant
from msp.web.tenant_dashboard import tenant_dashboard
from msp.web.words import FILTERS

for _name, _filter in FILTERS.items():
    bp.add_app_template_filter(_filter, _name)


def signed_in() -> Principal:
    principal = principal_or_none()
    if principal is None:
        raise Unauthorized("log in first")
    return principal


@bp.errorhandler(Unauthorized)
def to_login(error: Unauthorized) -> Response:
    return redirect(url_for("web.login", next=request.path))


@bp.get("/")
def index() -> Response:
    if principal_or_none() is None:
        return redirect(url_for("web.login"))
    return redirect(url_for("web.dashboard"))


@bp.get("/dashboard")
@cached
def dashboard() -> Any:
    """MSP staff: the portfolio. A client's user: their tenant's dashboard."""
    principal = signed_in()
    viewing = view_as_tenant()
    if viewing is not None:
        return redirect(url_for("web.tenant_view", tenant_id=viewing))
    if not principal.is_msp:
        tenants = list(db.session.scalars(scoped_select(Tenant).order_by(Tenant.name).limit(2)))
        if len(tenants) == 1:
            return redirect(url_for("web.tenant_view", tenant_id=tenants[0].id))
    page = portfolio(principal, PortfolioQuery.from_args(request.args), utcnow())
    return render_template("portfolio.html", principal=principal, page=page)


@bp.post("/tenants/<int:tenant_id>/view-as")
def view_as_start(tenant_id: int) -> Response:
    """Open the tenant's console as its users see it: read only, and audited."""
    principal = signed_in()
    tenant = get_scoped(Tenant, tenant_id)
    if not principal.is_msp:
        raise Forbidden("only MSP staff can view a client's console as the client")
    audit("tenant.view_as", "tenant", tenant.id, tenant_id=tenant.id, changes={"read_only": True})
    session[VIEW_AS_KEY] = tenant.id
    flash(f"You are now seeing {tenant.name}'s console as its users do (read only).", "warning")
    return redirect(url_for("web.tenant_view", tenant_id=tenant.id))


@bp.post("/view-as/stop")
def view_as_stop() -> Response:
    signed_in()
    tenant_id = session.pop(VIEW_AS_KEY, None)
    if isinstance(tenant_id, int):
        return redirect(url_for("web.tenant_view", tenant_id=tenant_id))
    return redirect(url_for("web.dashboard"))


@bp.get("/tenants/<int:tenant_id>")
@cached
def tenant_view(tenant_id: int) -> Any:
    """A client's dashboard: its domains, their road to p=reject, compliance, freshness."""
    principal = signed_in()
    viewing = view_as_tenant()
    if viewing is not None and viewing != tenant_id:
        raise Forbidden("you are viewing another client's console: leave that view first")
    tenant = get_scoped(Tenant, tenant_id)
    page = tenant_dashboard(tenant, utcnow().date())
    return render_template("tenant.html", principal=principal, page=page)
