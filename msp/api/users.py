"""``/api/v1/users``: MSP staff and tenant users; ``/api/v1/invitations/accept``: joining a
tenant with an invitation's one-time token."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.pagination import PaginationParameters

from msp.api.pagination import page_of
from msp.api.schemas.users import (
    AcceptInvitationSchema,
    InvitedSchema,
    UserSchema,
    UserUpdateSchema,
)
from msp.auth import invites, users
from msp.auth.decorators import require_auth, require_manage
from msp.auth.models import User
from msp.auth.principal import Principal
from msp.auth.request import current_session_raw
from msp.db import utcnow
from msp.errors import Forbidden, ValidationFailed
from msp.tenancy.models import Tenant
from msp.tenancy.scope import get_scoped, require_principal

blp = Blueprint("users", __name__, url_prefix="/api/v1", description="Users and invitations")


def _as_seen_by(actor: Principal, user: User) -> dict[str, Any]:
    """The user as ``actor`` may see them: where else they are a member is not its business."""
    shown = {
        name: getattr(user, name) for name in UserSchema().dump_fields if name != "memberships"
    }
    shown["memberships"] = [m for m in user.memberships if actor.reaches(m.tenant_id)]
    return shown


@blp.route("/users")
class Users(MethodView):
    @require_auth
    @blp.response(200, UserSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: PaginationParameters) -> Any:
        """Users the caller may see (with their memberships in tenants the caller reaches)."""
        actor = require_principal()
        rows = page_of(users.visible_user_ids_stmt(actor), pagination_parameters)
        return [_as_seen_by(actor, user) for user in rows]

    @require_auth
    @blp.arguments(UserSchema)
    @blp.response(201, UserSchema)
    @blp.alt_response(202, schema=InvitedSchema, description="invited by e-mail")
    def post(self, data: dict[str, Any]) -> Any:
        """Create a user: MSP staff by an msp_admin; tenant users directly by MSP staff who
        reach every tenant. Anyone else (a tenant's managers, restricted staff) invites the
        address instead (202, the same answer whether or not it has an account anywhere; the
        invitee chooses their own password)."""
        actor = require_principal()
        if data.get("msp_role") or actor.all_tenants:
            return users.create_user(actor, data)
        if data.get("tenant_id") is None:
            raise ValidationFailed(
                "a tenant user needs tenant_id", errors={"tenant_id": ["required"]}
            )
        tenant = get_scoped(Tenant, data["tenant_id"])
        require_manage(tenant.id)
        invitation, _raw = invites.invite(
            tenant,
            data["email"],
            data.get("tenant_role") or "tenant_viewer",
            by=actor,
            now=utcnow(),
        )
        response = jsonify(InvitedSchema().dump(invites.invited_answer(invitation)))
        response.status_code = 202
        return response


@blp.route("/invitations/accept")
class AcceptInvitation(MethodView):
    @blp.arguments(AcceptInvitationSchema)
    @blp.response(200, UserSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Accept an invitation with its one-time token (no other credential: the token came
        to the invited mailbox). A new address needs ``password``; an existing account joins."""
        return invites.accept(
            data["token"], password=data["password"], name=data["name"], now=utcnow()
        )


@blp.route("/users/<int:user_id>")
class UserItem(MethodView):
    @require_auth
    @blp.response(200, UserSchema)
    def get(self, user_id: int) -> Any:
        """One user (with their memberships in tenants the caller reaches)."""
        actor = require_principal()
        return _as_seen_by(actor, users.get_visible_user(actor, user_id))

    @require_auth
    @blp.arguments(UserUpdateSchema)
    @blp.response(200, UserSchema)
    def patch(self, data: dict[str, Any], user_id: int) -> Any:
        """Change a user (themself, or by an msp_admin)."""
        actor = require_principal()
        user = users.get_visible_user(actor, user_id)
        if not (actor.is_msp_admin or actor.user_id == user.id) or (
            actor.kind == "token" and not actor.is_msp_admin
        ):
            raise Forbidden("you may change only your own account")
        return users.update_user(actor, user, data, keep_session_raw=current_session_raw())
