"""Whole responses of the heavy read-only views, kept in Redis until the data changes.

A view decorated with :func:`cached` answers a GET from Redis when the same credential (web
session or API token) asked for the same URL, in the same "view as client" state, since the
last commit that wrote anything (``msp.generation``) and within ``MSP_PAGE_CACHE_SECONDS``
(times such as "3 hours ago" age by at most that much). Authentication and the reach checks
of ``load_principal`` run before it on every request; the entry belongs to one credential,
so nobody is served what another principal was shown. Not kept: anything but a 200, a
response that sets a cookie, a request with messages waiting to be flashed, and the
arguments a view names as live (``live=1`` asks for a fresh evaluation).

Redis unreachable: the view runs as if there were no cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import Response, current_app, request, session
from werkzeug.datastructures import Headers

from msp import generation

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

PREFIX = "msp:response:"
LIVE_ARGS = frozenset({"live"})
_KEPT_TYPES = ("text/html", "application/json")


def _credential() -> str | None:
    """The request's credential (read before ``load_principal`` has checked it: an entry is
    only ever used after it has)."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return "t:" + header.removeprefix("Bearer ").strip()
    raw = session.get("sid")
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
    view_as = session.get("view_as_tenant")
    material = "\n".join((credential, str(view_as), request.full_path))
    return PREFIX + hashlib.sha256(material.encode()).hexdigest()


def _load(key: str, generation_now: bytes) -> Response | None:
    generation.read(key)  # fetched already with the principal, on most requests
    entry = generation.fetched(key)
    if entry is None:
        return None
    head, _, body = entry.partition(b"\n\n")
    meta = json.loads(head)
    if meta.get("generation") != generation_now.decode():
        return None
    return Response(body, status=200, headers=Headers(meta["headers"]))


def _keep(key: str, generation_then: bytes, response: Response) -> None:
    if (
        response.status_code != 200
        or response.direct_passthrough
        or response.is_streamed
        or "Set-Cookie" in response.headers
        or response.mimetype not in _KEPT_TYPES
    ):
        return
    headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
    head = json.dumps({"generation": generation_then.decode(), "headers": headers})
    try:
        generation.redis().set(
            key,
            head.encode() + b"\n\n" + response.get_data(),
            ex=int(current_app.config["MSP_PAGE_CACHE_SECONDS"]),
        )
    except Exception as exc:  # redis.RedisError: the next request computes it again
        log.warning("response not kept in cache: %s", exc)


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
        response = current_app.make_response(view(*args, **kwargs))  # type: ignore[arg-type]
        _keep(key, generation_now, response)
        return response

    return wrapper
