"""The console's shell: what every page shares. The navigation (links only to endpoints that
are registered, so pages built in parallel appear when they land), the HTML error pages of every
route outside the API (any HTTP error, a failed CSRF check, an unexpected fault as 500, the
database out of reach as 503) and the "view as client" read-only session flag.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import current_app, g, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from msp.auth.principal import Principal, current_principal
from msp.db import utcnow
from msp.errors import AppError, Forbidden
from msp.web.blueprint import bp

log = logging.getLogger(__name__)

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


# What a technician reads for each HTTP error (title, what happened / what to do).
ERROR_WORDS: dict[int, tuple[str, str]] = {
    400: ("Request refused", "The request could not be understood. Go back and try again."),
    403: ("Not allowed", "Your account may not do this."),
    404: ("Page not found", "There is nothing at this address."),
    405: ("Not possible here", "This page cannot be used that way."),
    409: ("Already changed", "Someone changed this in the meantime. Reload the page."),
    413: ("File too large", "What you sent is larger than this installation accepts."),
    422: ("Not accepted", "Some of what you entered is not valid. Go back and correct it."),
    429: ("Too many attempts", "Wait a minute before you try again."),
    500: (
        "Something went wrong on our side",
        "The page could not be shown because of a fault in the service. Nothing you did "
        "caused it. Try again in a minute; if it keeps happening, give the reference below "
        "to whoever looks after this service.",
    ),
    502: ("A connected service did not answer", "Try again in a minute."),
    503: (
        "The service is briefly unavailable",
        "The service cannot reach its database right now. Try again in a few seconds.",
    ),
}


def error_words(status: int) -> tuple[str, str]:
    """The title and message of an HTTP error, in words (server faults read as 500's)."""
    if status in ERROR_WORDS:
        return ERROR_WORDS[status]
    return ERROR_WORDS[500 if status >= 500 else 400]


def error_page(status: int, title: str, message: str) -> tuple[str, int]:
    """The HTML error page; a plain page if the page itself cannot be drawn (during a fault
    the template, the navigation or the session may be what is broken)."""
    try:
        page = render_template(
            "errors/error.html",
            principal=current_principal(),
            status=status,
            title=title,
            message=message,
            # the request id the logs carry beside the fault's traceback
            reference=g.get("msp_request_id") if status >= 500 else None,
            now_utc=utcnow().strftime("%d %b %Y %H:%M"),
        )
    except Exception:  # the fallback must answer whatever broke
        log.exception("the error page itself could not be drawn")
        page = (
            f"<!doctype html><html lang=en><meta charset=utf-8><title>{escape(title)}</title>"
            f"<main><h1>{escape(title)}</h1><p>{escape(message)}</p>"
            f"<p>Error {status}. <a href=/>Back to the start page</a></p></main></html>"
        )
    return page, status


@bp.errorhandler(AppError)
def app_error(error: AppError) -> tuple[str, int]:
    title, message = error_words(error.status)
    # An AppError's detail speaks to the user (it names what is wrong); a server-side one may
    # not, so those keep the plain message.
    detail = error.detail if error.status < 500 and error.detail != error.title else message
    return error_page(error.status, title, detail)


@bp.errorhandler(CSRFError)
def csrf_error(error: CSRFError) -> tuple[str, int]:
    return error_page(
        400,
        "The form had expired",
        "For your safety the form could not be sent (its security token was missing or "
        "out of date). Go back, reload the page and try again.",
    )


@bp.errorhandler(OperationalError)
@bp.errorhandler(PoolTimeout)
def database_unavailable(error: Exception) -> tuple[str, int, dict[str, str]]:
    """The database is out of reach: the API's 503 (rollback, Retry-After) as a page."""
    from msp.recovery import database_unavailable as api_answer

    _body, status, headers = api_answer(error)
    title, message = error_words(status)
    page, _ = error_page(status, title, message)
    return page, status, headers


def _is_api(path: str) -> bool:
    return path.startswith("/api/")


@bp.app_errorhandler(HTTPException)
def http_error_anywhere(error: HTTPException) -> Any:
    """Every HTTP error outside the API (unknown URL, wrong method, a file too large, an
    unexpected fault as 500, ...) is an HTML page; the API keeps its problem details."""
    if _is_api(request.path):
        return current_app.extensions["msp_api"].handle_http_exception(error)
    status = error.code or 500
    if status < 400:
        return error
    # (Flask has logged an unexpected fault with its traceback before it reaches this page.)
    title, message = error_words(status)
    page, status = error_page(status, title, message)
    response = current_app.make_response((page, status))
    for key, value in error.get_headers():
        if key.lower() != "content-type":
            response.headers[key] = value
    return response
