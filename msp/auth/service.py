"""Authentication: logins with a rate limit, web sessions, API tokens, and principals from them."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm.attributes import set_committed_value

from msp import generation
from msp.auth.models import (
    MSP_ROLES,
    TENANT_ROLES,
    ApiToken,
    LoginAttempt,
    Membership,
    User,
    UserSession,
)
from msp.auth.passwords import verify_password
from msp.auth.principal import Principal
from msp.errors import Forbidden, TooManyRequests, Unauthorized, ValidationFailed
from msp.extensions import db

TOKEN_PREFIX = "msp_"
RATE_WINDOW = timedelta(minutes=15)
BACKOFF_FREE_FAILURES = 5  # wrong passwords an account may have before it waits at all
BACKOFF_MAX_SECONDS = 60
LAST_USED_EVERY = timedelta(minutes=1)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def principal_for_user(user: User) -> Principal:
    roles = {m.tenant_id: m.role for m in user.memberships}
    return Principal(
        kind="user",
        id=user.id,
        label=user.email,
        msp_role=user.msp_role,
        all_tenants=user.msp_role == "msp_admin"
        or (user.msp_role == "msp_staff" and not user.staff_restricted),
        tenant_roles=roles,
        user_id=user.id,
    )


def lesser_tenant_role(token_role: str, owner: Principal, tenant_id: int) -> str:
    """The weaker of a tenant token's role and what its owner may do in that tenant now."""
    if owner.can_manage(tenant_id):
        return token_role
    return "tenant_viewer"


def principal_for_token(token: ApiToken) -> Principal:
    """A token never reaches further than its creator does now (CLI-made tokens: as issued)."""
    label = f"token:{token.name}"
    creator = db.session.get(User, token.created_by_id) if token.created_by_id else None
    if token.created_by_id is not None and (creator is None or not creator.is_active):
        raise Unauthorized("API token's owner is no longer active")
    if token.tenant_id is not None:
        role = token.role
        if creator is not None:
            owner = principal_for_user(creator)
            if not owner.reaches(token.tenant_id):
                raise Unauthorized("API token's owner no longer reaches its tenant")
            role = lesser_tenant_role(role, owner, token.tenant_id)
        return Principal(
            kind="token",
            id=token.id,
            label=label,
            tenant_roles={token.tenant_id: role},
            user_id=token.created_by_id,
        )
    if creator is None:
        return Principal(
            kind="token", id=token.id, label=label, msp_role=token.role, all_tenants=True
        )
    owner = principal_for_user(creator)
    if owner.msp_role is None:
        raise Unauthorized("API token's owner is no longer MSP staff")
    msp_role = token.role if owner.msp_role == "msp_admin" else owner.msp_role
    return Principal(
        kind="token",
        id=token.id,
        label=label,
        msp_role=msp_role,
        all_tenants=owner.all_tenants,
        tenant_roles=owner.tenant_roles,
        user_id=creator.id,
    )


# --- logins ----------------------------------------------------------------------------------


def check_login_rate(ip: str, limit: int, now: datetime) -> None:
    failures = db.session.scalar(
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.ip == ip, LoginAttempt.at > now - RATE_WINDOW)
    )
    if (failures or 0) >= limit:
        raise TooManyRequests("too many failed logins from this address; try again later")


def account_backoff_seconds(failures: int) -> int:
    """How long an account waits after its last failure: none for the first few, then
    doubling, capped so that nobody can keep a victim out for long by guessing wrong."""
    if failures < BACKOFF_FREE_FAILURES:
        return 0
    return int(min(2 ** (failures - BACKOFF_FREE_FAILURES + 1), BACKOFF_MAX_SECONDS))


def check_account_backoff(email: str, now: datetime) -> None:
    """Per account (whether or not it exists, so the answer tells nothing): a short back-off."""
    recent = list(
        db.session.scalars(
            select(LoginAttempt.at)
            .where(LoginAttempt.email == email, LoginAttempt.at > now - RATE_WINDOW)
            .order_by(LoginAttempt.at.desc())
            .limit(BACKOFF_FREE_FAILURES + 8)
        )
    )
    wait = account_backoff_seconds(len(recent))
    if wait and recent[0] + timedelta(seconds=wait) > now:
        left = int((recent[0] + timedelta(seconds=wait) - now).total_seconds()) + 1
        raise TooManyRequests(
            f"too many failed logins for this account; try again in {left} seconds"
        )


def record_login_failure(email: str, ip: str, now: datetime) -> None:
    """A wrong password or second-factor code: counts for the address and the account."""
    db.session.add(LoginAttempt(ip=ip, email=email.strip().lower()[:254], at=now))
    db.session.flush()


def authenticate(email: str, password: str, ip: str, limit: int, now: datetime) -> User:
    """The active user with these credentials. A failure counts against ``ip`` (the address
    limit) and against the account (a short back-off), separately: behind a shared proxy
    address one account's guesses do not lock others out, and a victim waits seconds, not
    a lock-out."""
    email = email.strip().lower()[:254]
    check_login_rate(ip, limit, now)
    check_account_backoff(email, now)
    user = db.session.scalar(select(User).where(User.email == email))
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_active:
        record_login_failure(email, ip, now)
        raise Unauthorized("wrong e-mail or password")
    user.last_login_at = now
    return user


def open_session(user: User, ip: str, user_agent: str, hours: int, now: datetime) -> str:
    raw = secrets.token_urlsafe(32)
    db.session.add(
        UserSession(
            session_hash=_digest(raw),
            user_id=user.id,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
            ip=ip,
            user_agent=user_agent[:255],
        )
    )
    db.session.flush()
    return raw


@dataclass(frozen=True)
class OpenSession:
    """A web session that still signs its user in, and until when."""

    user: User
    expires_at: datetime


def resolve_session(raw: str, now: datetime) -> OpenSession | None:
    row = db.session.scalar(select(UserSession).where(UserSession.session_hash == _digest(raw)))
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    user = db.session.get(User, row.user_id)
    return OpenSession(user, row.expires_at) if user is not None and user.is_active else None


def close_session(raw: str, now: datetime) -> None:
    row = db.session.scalar(select(UserSession).where(UserSession.session_hash == _digest(raw)))
    if row is not None:
        row.revoked_at = now


def end_sessions(user_id: int, now: datetime, *, keep_raw: str | None = None) -> int:
    """End the user's open web sessions but the one ``keep_raw`` names; how many ended."""
    stmt = select(UserSession).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
    )
    if keep_raw is not None:
        stmt = stmt.where(UserSession.session_hash != _digest(keep_raw))
    rows = list(db.session.scalars(stmt))
    for row in rows:
        row.revoked_at = now
    return len(rows)


# --- API tokens ------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once, never stored


def issue_token(
    creator: Principal, *, name: str, tenant_id: int | None, role: str, days: int, now: datetime
) -> IssuedToken:
    """A new token, no stronger than its creator: MSP-wide only from MSP staff."""
    if tenant_id is None:
        if role not in MSP_ROLES or not creator.is_msp:
            raise Forbidden("only MSP staff may create MSP-wide tokens")
        if role == "msp_admin" and not creator.is_msp_admin:
            raise Forbidden("only an msp_admin may create msp_admin tokens")
    else:
        if role not in TENANT_ROLES:
            raise ValidationFailed(
                "a tenant token's role is tenant_admin or tenant_viewer",
                errors={"role": ["invalid for a tenant token"]},
            )
        if not creator.can_manage(tenant_id) and not (
            role == "tenant_viewer" and creator.reaches(tenant_id)
        ):
            raise Forbidden("you may not create tokens of that role for this tenant")
    if not 1 <= days <= 730:
        raise ValidationFailed(
            "expires_in_days must be 1 to 730", errors={"expires_in_days": ["out of range"]}
        )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        tenant_id=tenant_id,
        role=role,
        prefix=secret[:12],
        token_hash=_digest(secret),
        created_by_id=creator.user_id,
        expires_at=now + timedelta(days=days),
    )
    db.session.add(token)
    db.session.flush()
    return IssuedToken(token=token, secret=secret)


def resolve_token(raw: str, now: datetime) -> ApiToken:
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(raw)))
    if token is None:
        raise Unauthorized("unknown API token")
    if token.revoked_at is not None:
        raise Unauthorized("API token revoked")
    if token.expires_at <= now:
        raise Unauthorized("API token expired")
    # At most one write a minute per token: reads should not each pay for (and, on SQLite,
    # serialise on) an UPDATE of the token row.
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        _note_use(token, now)
    return token


def _note_use(token: ApiToken, now: datetime) -> None:
    """Write the token's last use. No cached read shows it (the tokens page reads the row), so
    this bookkeeping does not move the data generation: a busy token would otherwise empty
    every cache of the deployment once a minute."""
    db.session.flush()  # anything pending is a real change: it counts, outside the block below
    with generation.unnoticed():
        db.session.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
    set_committed_value(token, "last_used_at", now)


def token_fresh_until(token: ApiToken, now: datetime) -> datetime:
    """Until when what the token resolved to stays true without a look at its row: its expiry,
    or the next time its ``last_used_at`` is due to be written."""
    return min(token.expires_at, (token.last_used_at or now) + LAST_USED_EVERY)


def revoke_token(token: ApiToken, now: datetime) -> None:
    if token.revoked_at is None:
        token.revoked_at = now


def tenant_ids_of_user(user_id: int) -> list[int]:
    return list(
        db.session.scalars(select(Membership.tenant_id).where(Membership.user_id == user_id))
    )
