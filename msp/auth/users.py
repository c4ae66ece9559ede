"""Managing users and memberships, with the rule of who may grant which role."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from msp.auth.audit import audit
from msp.auth.models import Membership, User
from msp.auth.passwords import hash_password
from msp.auth.principal import Principal
from msp.auth.service import end_sessions
from msp.db import utcnow
from msp.errors import Conflict, Forbidden, NotFound, ValidationFailed
from msp.extensions import db
from msp.tenancy.models import Tenant


def create_user(actor: Principal | None, data: dict[str, Any]) -> User:
    """A new user: MSP staff only by an msp_admin; tenant users by whoever manages the tenant."""
    email = data["email"].strip().lower()
    msp_role = data.get("msp_role")
    tenant_id = data.get("tenant_id")
    if msp_role and tenant_id is not None:
        raise ValidationFailed(
            "MSP staff belong to no tenant; assign them with a membership",
            errors={"tenant_id": ["not allowed with msp_role"]},
        )
    if tenant_id is not None and db.session.get(Tenant, tenant_id) is None:
        raise NotFound(f"tenant {tenant_id} not found")
    if actor is not None:
        if msp_role and not actor.is_msp_admin:
            raise Forbidden("only an msp_admin may create MSP staff")
        if not msp_role:
            if tenant_id is None:
                raise ValidationFailed(
                    "a tenant user needs tenant_id and tenant_role",
                    errors={"tenant_id": ["required"]},
                )
            if not actor.can_manage(tenant_id):
                raise NotFound(f"tenant {tenant_id} not found")
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"a user with e-mail {email} exists already")
    user = User(
        email=email,
        name=data.get("name", ""),
        msp_role=msp_role,
        staff_restricted=bool(data.get("staff_restricted")),
        password_hash=hash_password(data["password"]) if data.get("password") else None,
    )
    db.session.add(user)
    db.session.flush()
    if tenant_id is not None and not msp_role:
        add_membership(tenant_id, user, data.get("tenant_role") or "tenant_viewer")
    audit(
        "user.create",
        "user",
        user.id,
        tenant_id=tenant_id,
        changes={"email": email, "msp_role": msp_role},
    )
    return user


def add_membership(tenant_id: int, user: User, role: str) -> Membership:
    if role == "staff" and user.msp_role != "msp_staff":
        raise ValidationFailed(
            "only msp_staff users can be assigned as staff",
            errors={"role": ["invalid for this user"]},
        )
    if role != "staff" and user.msp_role is not None:
        raise ValidationFailed(
            "MSP staff reach tenants through assignment, not tenant roles",
            errors={"role": ["invalid for MSP staff"]},
        )
    existing = db.session.scalar(
        select(Membership).where(Membership.tenant_id == tenant_id, Membership.user_id == user.id)
    )
    if existing is not None:
        raise Conflict("the user is a member of this tenant already")
    membership = Membership(tenant_id=tenant_id, user_id=user.id, role=role)
    db.session.add(membership)
    db.session.flush()
    audit(
        "membership.create",
        "membership",
        membership.id,
        tenant_id=tenant_id,
        changes={"user_id": user.id, "role": role},
    )
    return membership


def change_role(membership: Membership, role: str) -> Membership:
    """A member's new role, under the same rules as adding them."""
    user = membership.user
    if (role == "staff") != (user.msp_role == "msp_staff"):
        raise ValidationFailed(
            "staff assignments are for msp_staff users, tenant roles for everyone else",
            errors={"role": ["invalid for this user"]},
        )
    _keep_an_administrator(membership, role)
    if membership.role != role:
        audit(
            "membership.update",
            "membership",
            membership.id,
            tenant_id=membership.tenant_id,
            changes={"user_id": membership.user_id, "role": [membership.role, role]},
        )
        membership.role = role
    return membership


def _keep_an_administrator(membership: Membership, new_role: str | None) -> None:
    """A client keeps at least one administrator of its own: the last one can be neither
    removed nor demoted (someone else is made administrator first)."""
    if membership.role != "tenant_admin" or new_role == "tenant_admin":
        return
    others = db.session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(
            Membership.tenant_id == membership.tenant_id,
            Membership.role == "tenant_admin",
            Membership.id != membership.id,
        )
    )
    if not others:
        raise Conflict(
            "this is the client's last administrator: make someone else administrator first",
            errors={"role": ["the last administrator of this client"]},
        )


def remove_membership(membership: Membership) -> None:
    _keep_an_administrator(membership, None)
    audit(
        "membership.delete",
        "membership",
        membership.id,
        tenant_id=membership.tenant_id,
        changes={"user_id": membership.user_id},
    )
    db.session.delete(membership)


def set_password(
    user: User,
    password: str,
    *,
    keep_session_raw: str | None,
    actor: tuple[str, int | None, str] | None = None,
) -> int:
    """A new password ends the user's other web sessions (``keep_session_raw``, the one making
    the change, stays; None ends them all, as a reset does). API tokens are left alone: they
    are separate credentials with their own revocation. How many sessions ended."""
    user.password_hash = hash_password(password)
    ended = end_sessions(user.id, utcnow(), keep_raw=keep_session_raw)
    audit(
        "user.password",
        "user",
        user.id,
        tenant_id=None,
        changes={"sessions_ended": ended},
        actor=actor,
    )
    return ended


def update_user(
    actor: Principal,
    user: User,
    changes: dict[str, Any],
    *,
    keep_session_raw: str | None = None,
) -> User:
    if ({"msp_role", "staff_restricted"} & changes.keys()) and not actor.is_msp_admin:
        raise Forbidden("only an msp_admin may change MSP roles")
    if "password" in changes:
        changes = dict(changes)
        set_password(user, changes.pop("password"), keep_session_raw=keep_session_raw)
    for key in ("name", "is_active", "msp_role", "staff_restricted"):
        if key in changes:
            setattr(user, key, changes[key])
    audit(
        "user.update",
        "user",
        user.id,
        tenant_id=None,
        changes={k: v for k, v in changes.items() if k != "password"},
    )
    return user


def visible_user_ids_stmt(actor: Principal) -> Any:
    """Users the actor may see: everyone for MSP-wide staff, else members of reachable tenants."""
    stmt = select(User).order_by(User.id)
    if actor.all_tenants:
        return stmt
    member_ids = select(Membership.user_id).where(
        Membership.tenant_id.in_(sorted(actor.tenant_roles) or [-1])
    )
    return stmt.where(User.id.in_(member_ids))


def get_visible_user(actor: Principal, user_id: int) -> User:
    user = db.session.scalar(visible_user_ids_stmt(actor).where(User.id == user_id))
    if not isinstance(user, User):
        raise NotFound(f"user {user_id} not found")
    return user
