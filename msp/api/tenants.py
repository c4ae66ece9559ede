"""``/api/v1/tenants``: the MSP's clients, their members and invitations."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.pagination import PaginationParameters
from sqlalchemy import select

from msp.api.pagination import page_of
from msp.api.schemas.tenants import (
    MembershipRoleSchema,
    MembershipSchema,
    TenantSchema,
    TenantUpdateSchema,
)
from msp.api.schemas.users import InvitationSchema, InvitedSchema
from msp.auth import invites, users
from msp.auth.decorators import (
    require_auth,
    require_manage,
    require_msp,
    require_msp_admin,
    require_msp_unrestricted,
    require_unrestricted_msp,
)
from msp.auth.models import Invitation, Membership
from msp.db import utcnow
from msp.errors import Forbidden, NotFound
from msp.tenancy import service
from msp.tenancy.models import Tenant
from msp.tenancy.scope import get_scoped, scoped_select

blp = Blueprint("tenants", __name__, url_prefix="/api/v1/tenants", description="Tenants")


@blp.route("")
class Tenants(MethodView):
    @require_auth
    @blp.response(200, TenantSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: PaginationParameters) -> Any:
        """List the tenants the caller reaches."""
        return page_of(scoped_select(Tenant).order_by(Tenant.slug), pagination_parameters)

    @require_msp_unrestricted
    @blp.arguments(TenantSchema)
    @blp.response(201, TenantSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a tenant (MSP staff who reach every tenant)."""
        return service.create_tenant(
            data["slug"], data.get("name"), data["timezone"], data["plan"], data["settings"]
        )


@blp.route("/<int:tenant_id>")
class TenantItem(MethodView):
    @require_auth
    @blp.response(200, TenantSchema)
    def get(self, tenant_id: int) -> Any:
        """One tenant."""
        return get_scoped(Tenant, tenant_id)

    @require_msp
    @blp.arguments(TenantUpdateSchema)
    @blp.response(200, TenantSchema)
    def patch(self, data: dict[str, Any], tenant_id: int) -> Any:
        """Change a tenant (MSP staff; plan and status only by staff who reach every tenant)."""
        if {"plan", "status"} & data.keys():
            require_unrestricted_msp()
        return service.update_tenant(get_scoped(Tenant, tenant_id), data)

    @require_msp_admin
    @blp.response(204)
    def delete(self, tenant_id: int) -> None:
        """Delete a tenant and all its data (MSP admin)."""
        service.delete_tenant(get_scoped(Tenant, tenant_id))


@blp.route("/<int:tenant_id>/members")
class Members(MethodView):
    @require_auth
    @blp.response(200, MembershipSchema(many=True))
    @blp.paginate()
    def get(self, tenant_id: int, pagination_parameters: PaginationParameters) -> Any:
        """The tenant's memberships."""
        tenant = get_scoped(Tenant, tenant_id)
        stmt = select(Membership).where(Membership.tenant_id == tenant.id).order_by(Membership.id)
        return page_of(stmt, pagination_parameters)

    @require_auth
    @blp.arguments(MembershipSchema)
    @blp.response(201, MembershipSchema)
    def post(self, data: dict[str, Any], tenant_id: int) -> Any:
        """Give a user the caller already sees a role in the tenant (MSP staff; a tenant's own
        managers add people by invitation)."""
        tenant = get_scoped(Tenant, tenant_id)
        actor = require_manage(tenant.id)
        if not actor.is_msp:
            raise Forbidden("add people to a tenant by e-mail invitation")
        # Only users the caller may see already: adding is never a way to look someone up.
        user = users.get_visible_user(actor, data["user_id"])
        return users.add_membership(tenant.id, user, data["role"])


def _membership_of(tenant: Tenant, membership_id: int) -> Membership:
    membership = get_scoped(Membership, membership_id)
    if membership.tenant_id != tenant.id:
        raise NotFound(f"membership {membership_id} not found")
    return membership


@blp.route("/<int:tenant_id>/members/<int:membership_id>")
class MemberItem(MethodView):
    @require_auth
    @blp.arguments(MembershipRoleSchema)
    @blp.response(200, MembershipSchema)
    def patch(self, data: dict[str, Any], tenant_id: int, membership_id: int) -> Any:
        """Change a member's role."""
        tenant = get_scoped(Tenant, tenant_id)
        require_manage(tenant.id)
        return users.change_role(_membership_of(tenant, membership_id), data["role"])

    @require_auth
    @blp.response(204)
    def delete(self, tenant_id: int, membership_id: int) -> None:
        """Remove a membership."""
        tenant = get_scoped(Tenant, tenant_id)
        require_manage(tenant.id)
        users.remove_membership(_membership_of(tenant, membership_id))


@blp.route("/<int:tenant_id>/invitations")
class Invitations(MethodView):
    @require_auth
    @blp.response(200, InvitationSchema(many=True))
    def get(self, tenant_id: int) -> Any:
        """The tenant's open invitations."""
        return invites.pending(get_scoped(Tenant, tenant_id), now=utcnow())

    @require_auth
    @blp.arguments(InvitationSchema)
    @blp.response(202, InvitedSchema)
    def post(self, data: dict[str, Any], tenant_id: int) -> Any:
        """Invite an address to the tenant (an e-mail with a one-time link, valid 7 days)."""
        tenant = get_scoped(Tenant, tenant_id)
        actor = require_manage(tenant.id)
        invitation, _raw = invites.invite(
            tenant, data["email"], data["role"], by=actor, now=utcnow()
        )
        return invites.invited_answer(invitation)


@blp.route("/<int:tenant_id>/invitations/<int:invitation_id>")
class InvitationItem(MethodView):
    @require_auth
    @blp.response(204)
    def delete(self, tenant_id: int, invitation_id: int) -> None:
        """Revoke an open invitation."""
        tenant = get_scoped(Tenant, tenant_id)
        actor = require_manage(tenant.id)
        invitation = get_scoped(Invitation, invitation_id)
        if invitation.tenant_id != tenant.id:
            raise NotFound(f"invitation {invitation_id} not found")
        invites.revoke(invitation, by=actor, now=utcnow())
