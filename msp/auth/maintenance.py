"""Housekeeping of authentication records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_

from msp.auth.models import LoginAttempt, UserSession
from msp.extensions import db


def prune(before: datetime) -> dict[str, int]:
    sessions = db.session.execute(
        delete(UserSession).where(
            or_(UserSession.expires_at < before, UserSession.revoked_at < before)
        )
    )
    attempts = db.session.execute(delete(LoginAttempt).where(LoginAttempt.at < before))
    return {"sessions": sessions.rowcount, "login_attempts": attempts.rowcount}  # type: ignore[attr-defined]
