"""Forgotten passwords: a one-time reset link by e-mail (stored as a hash, valid one hour).

Asking for a link answers the same whether or not the address has an account; using it sets
the new password and ends every web session of the user (whoever knew the old password is
logged out everywhere)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from msp.auth.mail import MailSettings, OutgoingMail
from msp.auth.models import PasswordReset, User
from msp.auth.users import set_password
from msp.errors import NotFound
from msp.extensions import db

VALID_FOR = timedelta(hours=1)
# One e-mail per account in this time, however often the form is sent (no mail bombing).
RESEND_AFTER = timedelta(minutes=2)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def request_reset(
    email: str, *, now: datetime, mail: MailSettings | None = None
) -> OutgoingMail | None:
    """The reset e-mail to send if ``email`` is an active account (None otherwise, or if one
    was sent moments ago). The caller sends it without waiting (``send_in_background``) and
    answers the same either way."""
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()[:254]))
    if user is None or not user.is_active:
        return None
    recent = db.session.scalar(
        select(PasswordReset.id).where(
            PasswordReset.user_id == user.id, PasswordReset.created_at > now - RESEND_AFTER
        )
    )
    if recent is not None:
        return None
    raw = secrets.token_urlsafe(32)
    db.session.add(
        PasswordReset(
            user_id=user.id, token_hash=_digest(raw), created_at=now, expires_at=now + VALID_FOR
        )
    )
    db.session.flush()
    settings = mail if mail is not None else MailSettings.from_config(current_app.config)
    text = (
        "Someone (we hope you) asked to reset the password of your DMARC platform account.\n\n"
        f"Choose a new password here (the link works once, for one hour):\n"
        f"{settings.link('/reset/' + raw)}\n\n"
        "If it was not you, ignore this e-mail: your password stays as it is.\n"
    )
    return OutgoingMail(settings, user.email, "Reset your password", text)


def open_reset(raw: str, now: datetime) -> PasswordReset:
    row = db.session.scalar(
        select(PasswordReset).where(PasswordReset.token_hash == _digest(raw)).with_for_update()
    )
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise NotFound("this reset link is not valid (used or expired); ask for a new one")
    return row


def reset_password(raw: str, password: str, *, now: datetime) -> User:
    """Set the new password, use up every open link of the user, end all their sessions."""
    row = open_reset(raw, now)
    user = db.session.get_one(User, row.user_id)
    set_password(user, password, keep_session_raw=None, actor=("user", user.id, user.email))
    for other in db.session.scalars(
        select(PasswordReset).where(
            PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None)
        )
    ):
        other.used_at = now
    return user
