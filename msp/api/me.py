"""``/api/v1/me``: who the caller is and what it reaches."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from msp.api.schemas.users import MeSchema
from msp.auth.decorators import require_auth
from msp.tenancy.scope import require_principal

blp = Blueprint("me", __name__, url_prefix="/api/v1/me", description="The caller")


@blp.get("")
@require_auth
@blp.response(200, MeSchema)
def me() -> Any:
    """The authenticated principal."""
    p = require_principal()
    return {
        "kind": p.kind,
        "id": p.id,
        "label": p.label,
        "msp_role": p.msp_role,
        "all_tenants": p.all_tenants,
        "tenant_roles": {str(k): v for k, v in p.tenant_roles.items()},
    }
