"""The console's shell: what every page shares. The navigation (links only to endpoints that
are registered, so pages built in parallel appear when they land), the HTML error pages of web
routes (404, 403, 400 for a failed CSRF check) and the "view as client" read-only session flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from msp.auth.principal import Principal, current_principal
from msp.errors import AppError, Forbidden
from msp.web.blueprint import bp

VIEW_AS_KEY = "view_as_tenant"
# The endpoints that still accept a POST while viewing as a client: leaving that view, and
# leaving altogether.
VIEW_AS_ALLOWED_POSTS = frozenset({"web.view_as_stop", "web.logout", "web.login"})


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str
    endpoint: str


def endpoint_url(endpoint: str, **values: Any) -> str | None:
    """The URL of ``endpoint``, or None while the page is not (yet) registered."""
    if endpoint not in current_app.view_functions:
        return None
    return url_for(endpoint, **values)


def _nav_items(principal: Principal) -> list[tuple[str, str, dict[str, Any]]]:
    if principal.is_msp and view_as_tenant() is None:
        items: list[tuple[str, str, dict[str, Any]]] = [("Portfolio", "web.dashboard", {})]
        if principal.all_tenants:  # only staff who reach every client create clients
            items.append(("Add a client", "web.onboard_tenant", {}))
    else:
        items = [("Overview", "web.dashboard", {})]
    items += [("Reports", "web.reports", {}), ("Settings", "web.settings", {})]
    items.append(("Account", "web.account", {}))
    return items


def navigation(principal: Principal | None) -> list[NavLink]:
    if principal is None:
        return []
    links = []
    for label, endpoint, values in _nav_items(principal):
        url = endpoint_url(endpoint, **values)
        if url is not None:
            links.append(NavLink(label, url, endpoint))
    return links


def view_as_tenant() -> int | None:
    """The tenant an MSP staff member is viewing as its client sees it, if any."""
    principal = current_principal()
    value = session.get(VIEW_AS_KEY)
    if principal is None or not principal.is_msp or not isinstance(value, int):
        return None
    return value


def can_write(tenant_id: int | None = None) -> bool:
    """Whether write controls show: never while viewing as a client; else the API's rule."""
    principal = current_principal()
    if principal is None or view_as_tenant() is not None:
        return False
    if tenant_id is None:
        return principal.is_msp
    return principal.can_manage(tenant_id)


@bp.app_context_processor
def shell_context() -> dict[str, Any]:
    principal = current_principal()
    return {
        "nav": navigation(principal),
        "endpoint_url": endpoint_url,
        "can_write": can_write,
        "read_only_view": view_as_tenant(),
        "current_endpoint": request.endpoint if request else None,
    }


@bp.before_request
def refuse_writes_when_viewing_as_client() -> None:
    writing = request.method not in {"GET", "HEAD", "OPTIONS"}
    if writing and view_as_tenant() is not None and request.endpoint not in VIEW_AS_ALLOWED_POSTS:
        raise Forbidden("you are viewing as the client (read only): leave that view first")


def error_page(status: int, title: str, message: str) -> tuple[str, int]:
    return render_template(
        "errors/error.html",
        principal=current_principal(),
        status=status,
        title=title,
        message=message,
    ), status


@bp.errorhandler(AppError)
def app_error(error: AppError) -> tuple[str, int]:
    titles = {404: "Page not found", 403: "Not allowed", 400: "Request refused"}
    return error_page(error.status, titles.get(error.status, error.title), error.detail)


@bp.errorhandler(CSRFError)
def csrf_error(error: CSRFError) -> tuple[str, int]:
    return error_page(
        400,
        "The form had expired",
        "For your safety the form could not be sent (its security token was missing or "
        "out of date). Go back, reload the page and try again.",
    )


def _is_api(path: str) -> bool:
    return path.startswith("/api/")


@bp.app_errorhandler(404)
def not_found_anywhere(error: HTTPException) -> Any:
    """Unknown URLs outside the API get the HTML page; the API keeps its problem details."""
    if _is_api(request.path):
        return current_app.extensions["msp_api"].handle_http_exception(error)
    return error_page(404, "Page not found", "There is nothing at this address.")


@bp.app_errorhandler(405)
def method_not_allowed_anywhere(error: HTTPException) -> Any:
    if _is_api(request.path):
        return current_app.extensions["msp_api"].handle_http_exception(error)
    return error_page(405, "Not possible here", "This page cannot be used that way.")
