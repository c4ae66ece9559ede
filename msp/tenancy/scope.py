"""The one way to load tenant-owned rows: scoped to the current principal, 404 outside it."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, false, select

from msp import response_cache
from msp.auth.principal import Principal, current_principal
from msp.errors import NotFound, Unauthorized
from msp.extensions import db
from msp.tenancy.models import Tenant

M = TypeVar("M")


def require_principal() -> Principal:
    principal = current_principal()
    if principal is None:
        raise Unauthorized("authentication required")
    return principal


def _tenant_column(model: Any) -> Any:
    if model is Tenant:
        return Tenant.id
    column = getattr(model, "tenant_id", None)
    if column is None:
        raise TypeError(f"{model.__name__} is not tenant-owned")
    return column


def scope_filter(stmt: Select[Any], model: Any, principal: Principal) -> Select[Any]:
    """``stmt`` limited to the rows of ``model`` that ``principal`` may see."""
    if principal.all_tenants:
        return stmt
    column = _tenant_column(model)
    if not principal.tenant_roles:
        return stmt.where(false())
    return stmt.where(column.in_(sorted(principal.tenant_roles)))


def scoped_select(model: type[M]) -> Select[Any]:
    return scope_filter(select(model), model, require_principal())


def get_scoped(model: type[M], object_id: int) -> M:
    """The row with this id if the current principal reaches its tenant; NotFound otherwise."""
    stmt = scoped_select(model).where(model.id == object_id)  # type: ignore[attr-defined]
    row: M | None = db.session.scalar(stmt)
    if row is None:
        raise NotFound(f"{model.__name__.lower()} {object_id} not found")
    tenant_id = object_id if model is Tenant else getattr(row, "tenant_id", None)
    if isinstance(tenant_id, int):
        response_cache.reading_tenant(tenant_id)  # a kept page depends on this tenant's data
    return row
