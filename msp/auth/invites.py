"""E-mail invitations to a tenant: the only way a tenant's managers add people.

The inviter learns nothing about the address (whether it has an account, and where): the
answer is the same for every address, the one-time link goes only to the mailbox, and whoever
opens it either joins with their existing account or creates one. The link's token is stored
as a hash, valid for seven days, used once."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from msp.auth.audit import audit
from msp.auth.mail import MailSettings, send_mail
from msp.auth.models import TENANT_ROLES, Invitation, Membership, User
from msp.auth.passwords import hash_password
from msp.auth.principal import Principal
from msp.errors import Conflict, NotFound, ValidationFailed
from msp.extensions import db
from msp.tenancy.models import Tenant

VALID_FOR = timedelta(days=7)
EMAIL_RE = re.compile(r"^[^@\s<>,;\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z0-9-]{2,63}$")


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _mail_settings(mail: MailSettings | None) -> MailSettings:
    return mail if mail is not None else MailSettings.from_config(current_app.config)


def normalise_email(raw: str) -> str:
    email = raw.strip().lower()
    if not EMAIL_RE.match(email):
        raise ValidationFailed("not an e-mail address", errors={"email": ["invalid"]})
    return email


def _is_member(tenant_id: int, email: str) -> bool:
    stmt = (
        select(Membership.id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.tenant_id == tenant_id, User.email == email)
    )
    return db.session.scalar(stmt) is not None


def invite(
    tenant: Tenant,
    email: str,
    role: str,
    *,
    by: Principal | None,
    now: datetime,
    mail: MailSettings | None = None,
) -> tuple[Invitation, str]:
    """A new invitation (an open one to the same address is replaced) and its raw token,
    e-mailed to the address. A member already of this tenant is a Conflict: the tenant's
    managers see their own members anyway, so this says nothing about other tenants."""
    email = normalise_email(email)
    if role not in TENANT_ROLES:
        raise ValidationFailed(
            "role is tenant_admin or tenant_viewer", errors={"role": ["invalid"]}
        )
    if _is_member(tenant.id, email):
        raise Conflict(f"{email} is a member of this tenant already")
    for old in pending(tenant, now=now):
        if old.email == email:
            old.revoked_at = now
    raw = secrets.token_urlsafe(32)
    invitation = Invitation(
        tenant_id=tenant.id,
        email=email,
        role=role,
        token_hash=_digest(raw),
        expires_at=now + VALID_FOR,
        invited_by_id=by.user_id if by is not None else None,
    )
    db.session.add(invitation)
    db.session.flush()
    audit(
        "invitation.create",
        "invitation",
        invitation.id,
        tenant_id=tenant.id,
        changes={"email": email, "role": role},
    )
    _send_invitation(_mail_settings(mail), tenant, invitation, raw, by)
    return invitation, raw


def invited_answer(invitation: Invitation) -> dict[str, Any]:
    """What the inviter is told: the same for every address, with an account anywhere or not."""
    return {
        "status": "invited",
        "email": invitation.email,
        "tenant_id": invitation.tenant_id,
        "role": invitation.role,
        "expires_at": invitation.expires_at,
    }


def _send_invitation(
    settings: MailSettings, tenant: Tenant, invitation: Invitation, raw: str, by: Principal | None
) -> bool:
    who = by.label if by is not None and by.kind == "user" else "Your service provider"
    role = "an administrator" if invitation.role == "tenant_admin" else "a viewer"
    text = (
        f"{who} invited you to {tenant.name} on the DMARC platform, as {role}.\n\n"
        f"Accept the invitation here (the link works once, for 7 days):\n"
        f"{settings.link('/invite/' + raw)}\n\n"
        "If you did not expect this e-mail, ignore it: nothing happens unless the link is used.\n"
    )
    return send_mail(settings, invitation.email, f"Invitation to {tenant.name}", text)


def pending(tenant: Tenant, *, now: datetime | None = None) -> list[Invitation]:
    """The tenant's open invitations (not accepted, revoked or expired), newest first."""
    stmt = (
        select(Invitation)
        .where(
            Invitation.tenant_id == tenant.id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .order_by(Invitation.id.desc())
    )
    if now is not None:
        stmt = stmt.where(Invitation.expires_at > now)
    return list(db.session.scalars(stmt))


def revoke(invitation: Invitation, *, by: Principal | None, now: datetime) -> None:
    if invitation.revoked_at is None and invitation.accepted_at is None:
        invitation.revoked_at = now
        audit(
            "invitation.revoke",
            "invitation",
            invitation.id,
            tenant_id=invitation.tenant_id,
            changes={"email": invitation.email, "by": by.label if by else "system"},
        )


def open_invitation(raw_token: str, now: datetime) -> Invitation:
    """The open invitation this raw token names; NotFound for any other token (unknown,
    used, revoked or expired look alike)."""
    invitation = db.session.scalar(
        select(Invitation).where(Invitation.token_hash == _digest(raw_token)).with_for_update()
    )
    if invitation is None or not invitation.is_open(now):
        raise NotFound("this invitation link is not valid (used, revoked or expired)")
    return invitation


def account_exists(email: str) -> bool:
    """For the invitee's own page only (they hold the link, so they own the address)."""
    return db.session.scalar(select(User.id).where(User.email == email)) is not None


def accept(raw_token: str, *, password: str | None, name: str, now: datetime) -> User:
    """Join the invitation's tenant: an existing account joins as it is (its password is not
    touched); a new address gets an account with ``password`` and ``name``."""
    invitation = open_invitation(raw_token, now)
    user = db.session.scalar(select(User).where(User.email == invitation.email))
    if user is None:
        if not password:
            raise ValidationFailed("choose a password", errors={"password": ["required"]})
        user = User(email=invitation.email, name=name[:200], password_hash=hash_password(password))
        db.session.add(user)
        db.session.flush()
    elif user.msp_role is not None or not user.is_active:
        raise ValidationFailed(
            "this account cannot join a tenant through an invitation",
            errors={"email": ["not available"]},
        )
    if not _is_member(invitation.tenant_id, invitation.email):
        db.session.add(
            Membership(tenant_id=invitation.tenant_id, user_id=user.id, role=invitation.role)
        )
    invitation.accepted_at = now
    db.session.flush()
    audit(
        "invitation.accept",
        "invitation",
        invitation.id,
        tenant_id=invitation.tenant_id,
        changes={"email": invitation.email, "role": invitation.role, "user_id": user.id},
        actor=("user", user.id, user.email),
    )
    return user
