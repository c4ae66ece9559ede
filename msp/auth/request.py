"""Finding the principal of a request: a bearer API token, or the web session cookie."""

from __future__ import annotations

from dataclasses import replace

from flask import current_app, g, request, session

from msp.auth import mfa, principal_cache, service
from msp.auth.audit import set_origin
from msp.auth.guards import guard_request
from msp.auth.models import User
from msp.auth.principal import Principal, set_principal
from msp.db import utcnow
from msp.errors import Forbidden

SESSION_KEY = "sid"


def current_session_raw() -> str | None:
    """The web session id of this request (None for API tokens and anonymous callers)."""
    raw = g.get("session_raw")
    return raw if isinstance(raw, str) else None


def client_ip() -> str:
    return (request.remote_addr or "")[:45]


def _owes_second_factor(user: User) -> bool:
    return mfa.required(user, current_app.config) and not mfa.enabled(user)


def load_principal() -> None:
    """before_request: set the principal (or None). A bad token is an error, not anonymity.

    The request guards run first: nothing reads the path or body before they have."""
    guard_request()
    set_origin(client_ip())
    set_principal(None)
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        set_principal(_token_principal(header.removeprefix("Bearer ").strip()))
        return
    raw = session.get(SESSION_KEY)
    if not raw:
        return
    principal = _session_principal(raw)
    if principal is None:
        session.pop(SESSION_KEY, None)
        return
    set_principal(principal)
    g.session_raw = raw
    if request.method not in {"GET", "HEAD", "OPTIONS"}:
        # Cookie-authenticated writes need the CSRF token (API tokens do not).
        current_app.extensions["csrf"].protect()
    if request.path.startswith("/api/") and principal.owes_second_factor:
        # The web pages send such a user to the set-up; the API refuses them.
        raise Forbidden("set up a second factor on your account first")


def _token_principal(raw: str) -> Principal:
    now = utcnow()
    principal = principal_cache.load(f"t:{raw}", now)
    if principal is None:
        token = service.resolve_token(raw, now)
        principal = service.principal_for_token(token)
        principal_cache.keep(f"t:{raw}", principal, service.token_fresh_until(token, now), now)
    return principal


def _session_principal(raw: str) -> Principal | None:
    now = utcnow()
    principal = principal_cache.load(f"s:{raw}", now)
    if principal is None:
        found = service.resolve_session(raw, now)
        if found is None:
            return None
        principal = replace(
            service.principal_for_user(found.user),
            owes_second_factor=_owes_second_factor(found.user),
        )
        principal_cache.keep(f"s:{raw}", principal, found.expires_at, now)
    return principal
