"""``/api/v1/domains`` and ``/api/v1/tenants/{id}/domains``: the client domains."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.pagination import PaginationParameters

from msp.api.pagination import page_of
from msp.api.schemas.domains import DomainQuerySchema, DomainSchema, DomainUpdateSchema
from msp.auth.decorators import require_auth, require_manage
from msp.domains import service
from msp.domains.models import Domain
from msp.tenancy.models import Tenant
from msp.tenancy.scope import get_scoped, scoped_select

blp = Blueprint("domains", __name__, url_prefix="/api/v1", description="Domains")


@blp.route("/domains")
class Domains(MethodView):
    @require_auth
    @blp.arguments(DomainQuerySchema, location="query")
    @blp.response(200, DomainSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: PaginationParameters) -> Any:
        """List the domains the caller reaches."""
        stmt = scoped_select(Domain).order_by(Domain.name)
        if "tenant_id" in args:
            stmt = stmt.where(Domain.tenant_id == args["tenant_id"])
        if args.get("q"):
            stmt = stmt.where(Domain.name.contains(args["q"].lower()))
        return page_of(stmt, pagination_parameters)


@blp.route("/tenants/<int:tenant_id>/domains")
class TenantDomains(MethodView):
    @require_auth
    @blp.response(200, DomainSchema(many=True))
    @blp.paginate()
    def get(self, tenant_id: int, pagination_parameters: PaginationParameters) -> Any:
        """List one tenant's domains."""
        tenant = get_scoped(Tenant, tenant_id)
        stmt = scoped_select(Domain).where(Domain.tenant_id == tenant.id).order_by(Domain.name)
        return page_of(stmt, pagination_parameters)

    @require_auth
    @blp.arguments(DomainSchema)
    @blp.response(201, DomainSchema)
    def post(self, data: dict[str, Any], tenant_id: int) -> Any:
        """Add a domain to a tenant."""
        tenant = get_scoped(Tenant, tenant_id)
        require_manage(tenant.id)
        name = data.pop("name")
        return service.add_domain(tenant, name, **data)


@blp.route("/domains/<int:domain_id>")
class DomainItem(MethodView):
    @require_auth
    @blp.response(200, DomainSchema)
    def get(self, domain_id: int) -> Any:
        """One domain."""
        return get_scoped(Domain, domain_id)

    @require_auth
    @blp.arguments(DomainUpdateSchema)
    @blp.response(200, DomainSchema)
    def patch(self, data: dict[str, Any], domain_id: int) -> Any:
        """Change a domain's settings."""
        domain = get_scoped(Domain, domain_id)
        require_manage(domain.tenant_id)
        return service.update_domain(domain, data)

    @require_auth
    @blp.response(204)
    def delete(self, domain_id: int) -> None:
        """Stop managing a domain (its data goes with it)."""
        domain = get_scoped(Domain, domain_id)
        require_manage(domain.tenant_id)
        service.remove_domain(domain)
