"""Who a credential (web session or API token) is, kept in Redis between requests that read.

Resolving a credential reads its row, its user and the user's memberships: three or four
statements on every request, more than the rest of a page answered from the response cache.
For GET and HEAD requests the resolved :class:`Principal` is kept under a digest of the
credential together with the data generation (``msp.generation``) read before it was
resolved, and used again only while that generation holds, so any committed write (a session
ended, a token revoked, a membership or role changed, a user deactivated) makes the next
request resolve the credential again. It is also kept no longer than the credential stays
valid (its expiry; for a token, the next write of ``last_used_at``) nor than
``MSP_PAGE_CACHE_SECONDS``. Writes (POST, PUT, PATCH, DELETE) always resolve from the database.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from datetime import datetime
from typing import Any

from flask import current_app, request

from msp import generation, mirror, response_cache
from msp.auth.principal import Principal

log = logging.getLogger(__name__)

PREFIX = "msp:principal:"
_READS = frozenset({"GET", "HEAD"})
# Copied in each process's mirror until anything but report data moves (credentials are never
# report data).
mirror.tag_values(PREFIX, lambda key, value: mirror.GLOBAL)


def _key(credential: str) -> str | None:
    if request.method not in _READS or not current_app.config.get("MSP_PAGE_CACHE_SECONDS"):
        return None
    return PREFIX + hashlib.sha256(credential.encode()).hexdigest()


def _principal(data: dict[str, Any]) -> Principal:
    roles = {int(tenant): role for tenant, role in data.pop("tenant_roles").items()}
    return Principal(**data, tenant_roles=roles)


def load(credential: str, now: datetime) -> Principal | None:
    """The principal kept for ``credential``, if nothing was written since and it is valid."""
    key = _key(credential)
    if key is None:
        return None
    # The page this request may be answered with is fetched in the same round trip.
    generation_now = generation.read(key, response_cache.key_for_request())
    entry = generation.fetched(key)
    if generation_now is None or entry is None:
        return None
    kept = json.loads(entry)
    if kept["generation"] != generation_now.decode() or kept["valid_until"] <= now.timestamp():
        mirror.forget(key)  # resolved again: the next request reads the new entry
        return None
    return _principal(kept["principal"])


def keep(credential: str, principal: Principal, valid_until: datetime, now: datetime) -> None:
    """Keep what ``credential`` resolved to, under the generation read before resolving it."""
    key = _key(credential)
    generation_then = generation.current() if key is not None else None
    seconds = min(
        int((valid_until - now).total_seconds()), int(current_app.config["MSP_PAGE_CACHE_SECONDS"])
    )
    if key is None or generation_then is None or seconds <= 0:
        return
    entry = {
        "generation": generation_then.decode(),
        "valid_until": valid_until.timestamp(),
        "principal": asdict(principal),
    }
    mirror.forget(key)
    try:
        generation.redis().set(key, json.dumps(entry), ex=seconds)
    except Exception as exc:  # redis.RedisError: the next request resolves it again
        log.warning("principal not kept: %s", exc)
