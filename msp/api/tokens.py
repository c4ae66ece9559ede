"""``/api/v1/tokens``: API tokens, shown once, stored hashed, revocable."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.pagination import PaginationParameters
from sqlalchemy import or_, select

from msp.api.pagination import page_of
from msp.api.schemas.users import IssuedTokenSchema, TokenSchema
from msp.auth import mfa, service
from msp.auth.audit import audit
from msp.auth.decorators import require_auth
from msp.auth.models import ApiToken, User
from msp.auth.principal import Principal
from msp.db import utcnow
from msp.errors import NotFound
from msp.extensions import db
from msp.tenancy.models import Tenant
from msp.tenancy.scope import get_scoped, require_principal

blp = Blueprint("tokens", __name__, url_prefix="/api/v1/tokens", description="API tokens")


def _visible(actor: Principal) -> Any:
    stmt = select(ApiToken).order_by(ApiToken.id)
    if actor.all_tenants:
        return stmt
    managed = [t for t in actor.tenant_roles if actor.can_manage(t)]
    return stmt.where(
        or_(
            ApiToken.tenant_id.in_(managed or [-1]), ApiToken.created_by_id == (actor.user_id or -1)
        )
    )


@blp.route("")
class Tokens(MethodView):
    @require_auth
    @blp.response(200, TokenSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: PaginationParameters) -> Any:
        """Tokens the caller may see (never their secrets)."""
        return page_of(_visible(require_principal()), pagination_parameters)

    @require_auth
    @blp.arguments(TokenSchema)
    @blp.response(201, IssuedTokenSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a token; its secret is in this response only."""
        actor = require_principal()
        if data["tenant_id"] is not None:
            get_scoped(Tenant, data["tenant_id"])  # 404 unless it exists and is reachable
        mfa.require_for_token(
            db.session.get(User, actor.user_id) if actor.user_id else None,
            data.get("mfa_code"),
            now=utcnow(),
            config=current_app.config,
        )
        issued = service.issue_token(
            actor,
            name=data["name"],
            tenant_id=data["tenant_id"],
            role=data["role"],
            days=data["expires_in_days"],
            now=utcnow(),
        )
        audit(
            "token.create",
            "api_token",
            issued.token.id,
            tenant_id=data["tenant_id"],
            changes={"name": data["name"], "role": data["role"]},
        )
        fields = TokenSchema().dump_fields
        return {**{name: getattr(issued.token, name) for name in fields}, "token": issued.secret}


@blp.route("/<int:token_id>")
class TokenItem(MethodView):
    @require_auth
    @blp.response(204)
    def delete(self, token_id: int) -> None:
        """Revoke a token."""
        token = db.session.scalar(_visible(require_principal()).where(ApiToken.id == token_id))
        if token is None:
            raise NotFound(f"token {token_id} not found")
        service.revoke_token(token, utcnow())
        audit("token.revoke", "api_token", token.id, tenant_id=token.tenant_id)
