"""Web views: thin callers of the services, rendering Jinja templates.

MSP staff get the fleet (every tenant they reach); a client's users get their own tenant.
Account pages live in ``account.py``, the domain page and its actions in ``domain_pages.py``.
"""

from __future__ import annotations

from typing import Any

from flask import (
    redirect,
    render_template,
    url_for,
)
from werkzeug.wrappers import Response

from msp.auth.principal import Principal, current_principal
from msp.errors import Forbidden, NotFound
from msp.tenancy.models import Tenant
from msp.tenancy.scope import get_scoped
from msp.web import pages
from msp.web.blueprint import bp, principal_or_none


@bp.errorhandler(NotFound)
def not_found(error: NotFound) -> tuple[str, int]:
    return render_template("not_found.html", principal=current_principal()), 404


@bp.errorhandler(Forbidden)
def forbidden(error: Forbidden) -> tuple[str, int]:
    return render_template(
        "not_found.html", principal=current_principal(), message=error.detail
    ), 403


def _principal() -> Principal | None:
    return principal_or_none()


@bp.get("/")
def index() -> Response:
    if _principal() is None:
        return redirect(url_for("web.login"))
    return redirect(url_for("web.dashboard"))


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
