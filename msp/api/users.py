"""``/api/v1/users``: MSP staff and tenant users."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.pagination import PaginationParameters

from msp.api.pagination import page_of
from msp.api.schemas.users import UserSchema, UserUpdateSchema
from msp.auth import users
from msp.auth.decorators import require_auth
from msp.auth.request import current_session_raw
from msp.errors import Forbidden
from msp.tenancy.scope import require_principal

blp = Blueprint("users", __name__, url_prefix="/api/v1/users", description="Users")


@blp.route("")
class Users(MethodView):
    @require_auth
    @blp.response(200, UserSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: PaginationParameters) -> Any:
        """Users the caller may see."""
        return page_of(users.visible_user_ids_stmt(require_principal()), pagination_parameters)

    @require_auth
    @blp.arguments(UserSchema)
    @blp.response(201, UserSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a user (MSP staff by an msp_admin, tenant users by the tenant's managers)."""
        return users.create_user(require_principal(), data)


@blp.route("/<int:user_id>")
class UserItem(MethodView):
    @require_auth
    @blp.response(200, UserSchema)
    def get(self, user_id: int) -> Any:
        """One user."""
        return users.get_visible_user(require_principal(), user_id)

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
