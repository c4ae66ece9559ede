"""The TOTP second factor (pyotp): enrolment with a QR code (segno, inline SVG), ten one-time
recovery codes stored as hashes, and the check at login and before a token is created.

The secret is stored encrypted with ``MSP_ENCRYPTION_KEY``; a code's time step is remembered
so the same code is never accepted twice. Required for MSP staff when
``MSP_MFA_REQUIRED_FOR_STAFF`` is on (by default in production), optional for everyone else."""

from __future__ import annotations

import hashlib
import io
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyotp
import segno
from sqlalchemy import select

from msp.auth.audit import audit
from msp.auth.models import RecoveryCode, User
from msp.auth.settings import mfa_required_for_staff
from msp.crypto import SecretKeyError, decrypt, encrypt
from msp.errors import Forbidden, ValidationFailed
from msp.extensions import db

ISSUER = "MSP DMARC"
RECOVERY_CODES = 10
STEP_SECONDS = 30


@dataclass(frozen=True)
class Enrolment:
    secret: str  # shown as text too, for authenticator apps without a camera
    uri: str
    qr_svg: str


def _digest(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").strip().lower().encode()).hexdigest()


def required(user: User, config: Mapping[str, Any]) -> bool:
    """Whether this user must have a second factor (MSP staff, when the setting says so)."""
    return user.msp_role is not None and mfa_required_for_staff(config)


def enabled(user: User) -> bool:
    return user.mfa_enabled_at is not None


def begin(user: User, *, key: str | None) -> Enrolment:
    """A new (not yet active) secret for the user, until a code from it is confirmed."""
    if enabled(user):
        raise ValidationFailed("a second factor is already set up; turn it off first")
    secret = pyotp.random_base32()
    try:
        user.totp_secret = encrypt(secret, key)
    except SecretKeyError as exc:
        raise ValidationFailed(
            "second factors cannot be set up here: MSP_ENCRYPTION_KEY is not set"
        ) from exc
    return enrolment_of(user, key=key)


def enrolment_of(user: User, *, key: str | None) -> Enrolment:
    """The pending enrolment's secret, URI and QR code (to show the page again)."""
    if user.totp_secret is None:
        raise ValidationFailed("start the set-up first")
    secret = decrypt(user.totp_secret, key)
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=4, xmldecl=False, svgns=True)
    return Enrolment(secret, uri, buffer.getvalue().decode())


def _totp_step(user: User, code: str, now: datetime, key: str | None) -> int | None:
    """The time step ``code`` is valid for (one step of clock drift allowed), if any."""
    if user.totp_secret is None:
        return None
    cleaned = code.replace(" ", "").strip()
    if not cleaned.isdigit() or len(cleaned) != 6:
        return None
    totp = pyotp.TOTP(decrypt(user.totp_secret, key))
    current = int(now.timestamp()) // STEP_SECONDS
    for step in (current, current - 1, current + 1):
        if secrets.compare_digest(totp.at(step * STEP_SECONDS), cleaned):
            return step
    return None


def confirm(user: User, code: str, *, now: datetime, key: str | None) -> list[str]:
    """Activate the pending secret with a code from it; the ten recovery codes (shown once)."""
    step = _totp_step(user, code, now, key)
    if step is None:
        raise ValidationFailed(
            "that code is not right; try the current one", errors={"code": ["wrong"]}
        )
    user.totp_last_step = step
    user.mfa_enabled_at = now
    codes = _new_recovery_codes(user)
    audit("user.mfa_enable", "user", user.id, tenant_id=None)
    return codes


def _new_recovery_codes(user: User) -> list[str]:
    for old in db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)):
        db.session.delete(old)
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(8)
        code = f"{raw[:4]}-{raw[4:8]}-{raw[8:12]}-{raw[12:]}"
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_digest(code)))
        codes.append(code)
    db.session.flush()
    return codes


def regenerate_recovery_codes(user: User) -> list[str]:
    if not enabled(user):
        raise ValidationFailed("set up a second factor first")
    audit("user.mfa_recovery_codes", "user", user.id, tenant_id=None)
    return _new_recovery_codes(user)


def check(user: User, code: str, *, now: datetime, key: str | None) -> bool:
    """A valid, unused TOTP code or recovery code of the user (a recovery code is used up)."""
    if not enabled(user):
        return False
    step = _totp_step(user, code, now, key)
    if step is not None:
        if user.totp_last_step is not None and step <= user.totp_last_step:
            return False  # replayed
        user.totp_last_step = step
        return True
    row = db.session.scalar(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _digest(code),
            RecoveryCode.used_at.is_(None),
        )
    )
    if row is None:
        return False
    row.used_at = now
    audit("user.mfa_recovery_used", "user", user.id, tenant_id=None)
    return True


def disable(user: User) -> None:
    user.totp_secret = None
    user.mfa_enabled_at = None
    user.totp_last_step = None
    for old in db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)):
        db.session.delete(old)
    audit("user.mfa_disable", "user", user.id, tenant_id=None)


def require_for_token(
    user: User | None, code: str | None, *, now: datetime, config: Mapping[str, Any]
) -> None:
    """Creating a token needs a fresh second factor from a user who has one (or must)."""
    if user is None:
        return
    if required(user, config) and not enabled(user):
        raise Forbidden("set up a second factor on your account before creating tokens")
    if enabled(user) and not check(user, code or "", now=now, key=config.get("MSP_ENCRYPTION_KEY")):
        raise Forbidden("creating a token needs a current code from your authenticator app")
