"""Health endpoints: ``/healthz`` (process alive), ``/readyz`` (database and Redis reachable)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import text

from msp.extensions import db
from msp.queues import dispatcher

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> tuple[dict[str, Any], int]:
    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # the check reports any failure as not ready
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        dispatcher().connection.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return {"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503
