"""How the app answers while PostgreSQL is unreachable: 503 with a problem document.

Without this, a request that cannot reach the database ends in an unhandled
``OperationalError``: a 500 "internal error", which tells clients and load balancers that the
request itself is at fault and should not be retried. The outage is the server's and
temporary, so every such request answers 503 with ``Retry-After``; the pool's next checkout
reconnects by itself once the database is back (nothing here holds a connection).

It is registered as an API module in msp/areas.py (a blueprint without routes whose only
content is this app-wide handler).
"""

from __future__ import annotations

import logging

from flask import Response, jsonify
from flask_smorest import Blueprint
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from msp.extensions import db

RETRY_AFTER_SECONDS = 5
log = logging.getLogger(__name__)

blp = Blueprint("recovery", __name__, description="Answers while the database is unreachable.")


def database_unavailable(error: Exception) -> tuple[Response, int, dict[str, str]]:
    """A 503 problem document for a request whose database connection failed."""
    log.warning("database unreachable: %s", str(error).splitlines()[0][:200])
    try:
        db.session.rollback()  # the failed connection goes back invalidated, not reused
    except Exception:  # the rollback meets the same outage; the reply is what matters
        log.debug("rollback during the outage failed", exc_info=True)
    body = jsonify(
        {
            "type": "about:blank",
            "title": "Service Unavailable",
            "status": 503,
            "detail": "the database is unreachable; retry in a few seconds",
        }
    )
    body.content_type = "application/problem+json"
    return body, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}


blp.app_errorhandler(OperationalError)(database_unavailable)
blp.app_errorhandler(PoolTimeout)(database_unavailable)
