"""Whole responses of the heavy read-only views, kept in Redis until the data changes.

A view decorated with :func:`cached` answers a GET from Redis when the same credential (web
session or API token) asked for the same URL, in the same "view as client" state, since the
last commit that wrote anything it shows (``msp.generation``: a view that loaded exactly one
tenant's objects through ``get_scoped`` depends on that tenant's data only, any other on every
tenant's; both on whatever was written outside the report jobs) and within
``MSP_PAGE_CACHE_SECONDS`` (times such as "3 hours ago" age by about that much: an entry past
that age is still served while one request draws it again, so a busy page is never drawn by
every worker at once, and a process draws one such entry at a time, so entries that age
together are not all drawn at once either; likewise a page over every tenant while reports
arrive, for ``REPORTS_LAG_SECONDS`` at most: a user's own change shows at once).
Authentication and the reach checks of ``load_principal`` run before it on every request;
the entry belongs to one credential, so nobody is served what another principal was shown.
Not kept: anything but a 200, a response that sets a cookie, a request with messages waiting
to be flashed, and the arguments a view names as live (``live=1`` asks for a fresh
evaluation).

Redis unreachable: the view runs as if there were no cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import Response, current_app, g, request, session
from werkzeug.datastructures import Headers

from msp import generation, mirror

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

PREFIX = "msp:response:"
LIVE_ARGS = frozenset({"live"})
REDRAW_SECONDS = 30  # how long one request may take to draw an aged entry again
# How late a page over every tenant may show reports that arrived (while one request draws it).
REPORTS_LAG_SECONDS = 15
_REDRAW_SLOT = threading.Semaphore(1)  # redraws of entries still served meanwhile, per process
_KEPT_TYPES = ("text/html", "application/json")


def _tenant_of(key: str, value: bytes) -> int | None:
    """An entry's tag for the mirror: the one tenant it depends on, None if it spans tenants."""
    del key
    tenant = json.loads(value.partition(b"\n\n")[0]).get("tenant")
    return tenant if isinstance(tenant, int) else None


mirror.tag_values(PREFIX, _tenant_of)


def _credential() -> str | None:
    """The request's credential (read before ``load_principal`` has checked it: an entry is
    only ever used after it has)."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return "t:" + header.removeprefix("Bearer ").strip()
    raw = session.get("sid")  # msp.auth.request.SESSION_KEY (auth imports this module)
    return f"s:{raw}" if isinstance(raw, str) else None


def key_for_request() -> str | None:
    """The entry's key, or None when this request must not be answered from (or kept in) the
    cache."""
    if request.method != "GET" or not current_app.config.get("MSP_PAGE_CACHE_SECONDS"):
        return None
    if LIVE_ARGS.intersection(request.args) or session.get("_flashes"):
        return None
    credential = _credential()
    if credential is None:
        return None
    view_as = session.get("view_as_tenant")  # msp.web.shell.VIEW_AS_KEY
    material = "\n".join((credential, str(view_as), request.full_path))
    return PREFIX + hashlib.sha256(material.encode()).hexdigest()


def reading_tenant(tenant_id: int) -> None:
    """The view being drawn reads this tenant's data (``get_scoped`` says so): its counter is
    read now, before the data, so that the entry is kept only if it has not moved since."""
    if g.get("msp_drawing") is None:
        return
    g.msp_drawing.add(tenant_id)
    generation.read(generation.tenant_key(tenant_id))


def _drawn_tenant() -> int | None:
    """The one tenant whose objects the view loaded, if it loaded one tenant's only."""
    tenants: set[int] = g.pop("msp_drawing", set())
    return next(iter(tenants)) if len(tenants) == 1 else None


def _load(key: str, generation_now: bytes) -> Response | None:
    """The kept response, unless the data changed since, or it has aged past the setting and
    this request is the one chosen to draw it again (the others go on serving it meanwhile:
    an entry that merely aged is still right, only its "3 hours ago" are older)."""
    generation.read(key)  # fetched already with the principal, on most requests
    entry = generation.fetched(key)
    if entry is None:
        return None
    head, _, body = entry.partition(b"\n\n")
    meta = json.loads(head)
    if meta.get("generation") != generation_now.decode():
        mirror.forget(key)  # drawn again here or elsewhere: the next request reads Redis
        return None
    age = time.time() - float(meta.get("made", 0))
    # An entry of one tenant's data is deleted when that data changes: being here is enough.
    # One spanning tenants holds the every-tenant counter, fetched with KEY: when that moved,
    # only reports arrived for some tenants since (nothing else is attributed). One request
    # draws it again; the others serve it meanwhile, for REPORTS_LAG_SECONDS at most, so a page
    # over every tenant is not drawn by every request while reports keep arriving.
    tenants_now = (generation.fetched(generation.TENANTS_KEY) or b"0").decode()
    late = meta.get("tenant") is None and meta.get("tenants") != tenants_now
    aged = age > (REPORTS_LAG_SECONDS if late else _seconds())
    if late or aged:
        mirror.forget(key)
        if late and aged:
            return None
        # A redraw that could wait: one at a time per process (the kept entry is still served
        # meanwhile), so entries that age together are drawn one after another, not at once.
        if _REDRAW_SLOT.acquire(blocking=False):
            if _redraw_claimed(key):
                g.msp_redraw_slot = True  # released once drawn (cached)
                return None
            _REDRAW_SLOT.release()
    return Response(body, status=200, headers=Headers(meta["headers"]))


def _seconds() -> int:
    return int(current_app.config["MSP_PAGE_CACHE_SECONDS"])


def _redraw_claimed(key: str) -> bool:
    """Whether this request may draw an aged entry again (one request per entry at a time)."""
    try:
        return bool(generation.redis().set(f"{key}:redraw", b"1", nx=True, ex=REDRAW_SECONDS))
    except Exception:  # redis.RedisError: draw it, as without the cache
        return True


def _keep(key: str, generation_then: bytes, response: Response) -> None:
    tenant = _drawn_tenant()
    if (
        response.status_code != 200
        or response.direct_passthrough
        or response.is_streamed
        or "Set-Cookie" in response.headers
        or response.mimetype not in _KEPT_TYPES
    ):
        return
    headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
    meta = {
        "generation": generation_then.decode(),
        "tenant": tenant,
        "tenants": (generation.fetched(generation.TENANTS_KEY) or b"0").decode(),
        "made": time.time(),
        "headers": headers,
    }
    value = json.dumps(meta).encode() + b"\n\n" + response.get_data()
    ttl = 2 * _seconds()  # twice as long as it is fresh: an aged entry is served while redrawn
    mirror.forget(key)  # this process reads the new entry from Redis once, then from its copy
    if tenant is not None:
        seen = generation.fetched(generation.tenant_key(tenant))  # read before the data
        generation.keep_for_tenant(tenant, seen, key, value, ttl)
        _drop(f"{key}:redraw")
        return
    try:
        pipe = generation.redis().pipeline(transaction=False)
        pipe.set(key, value, ex=ttl)
        pipe.delete(f"{key}:redraw")
        pipe.execute()
    except Exception as exc:  # redis.RedisError: the next request computes it again
        log.warning("response not kept in cache: %s", exc)


def _drop(key: str) -> None:
    try:
        generation.redis().delete(key)
    except Exception as exc:  # redis.RedisError: it expires by itself
        log.warning("could not delete %s: %s", key, exc)


def cached(view: Callable[P, R]) -> Callable[P, R | Response]:
    """Answer the view's GET from the cache while the data has not changed (see module)."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Response:
        key = key_for_request()
        generation_now = generation.current() if key is not None else None
        if key is None or generation_now is None:
            return view(*args, **kwargs)
        hit = _load(key, generation_now)
        if hit is not None:
            return hit
        g.msp_drawing = set()  # the tenants whose objects the view loads (reading_tenant)
        try:
            drawn = view(*args, **kwargs)
            response = current_app.make_response(drawn)  # type: ignore[arg-type]
            _keep(key, generation_now, response)
        finally:
            g.pop("msp_drawing", None)
            if g.pop("msp_redraw_slot", False):
                _REDRAW_SLOT.release()
        return response

    return wrapper
