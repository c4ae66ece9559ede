"""``/api/v1/audit``: the audit log, scoped to the caller's tenants."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from flask_smorest.pagination import PaginationParameters
from sqlalchemy import select

from msp.api.pagination import page_of
from msp.api.schemas.users import AuditQuerySchema, AuditSchema
from msp.auth.decorators import require_auth
from msp.auth.models import AuditLog
from msp.tenancy.scope import require_principal

blp = Blueprint("audit", __name__, url_prefix="/api/v1/audit", description="Audit log")


@blp.get("")
@require_auth
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, AuditSchema(many=True))
@blp.paginate()
def audit_log(args: dict[str, Any], pagination_parameters: PaginationParameters) -> Any:
    """Changes, newest first; tenant users see their tenants' rows, MSP-level rows are staff's."""
    actor = require_principal()
    stmt = select(AuditLog).order_by(AuditLog.at.desc(), AuditLog.id.desc())
    if not actor.all_tenants:
        stmt = stmt.where(AuditLog.tenant_id.in_(sorted(actor.tenant_roles) or [-1]))
    if "tenant_id" in args:
        stmt = stmt.where(AuditLog.tenant_id == args["tenant_id"])
    if "action" in args:
        stmt = stmt.where(AuditLog.action == args["action"])
    return page_of(stmt, pagination_parameters)
