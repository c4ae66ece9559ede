"""``/api/v1/domains`` and ``/api/v1/tenants/{id}/domains``: the client domains."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.pagination import PaginationParameters

from msp.api.pagination import page_of
from msp.api.schemas.domains import (
    DomainQuerySchema,
    DomainSchema,
    DomainUpdateSchema,
    VerificationSchema,
)
from msp.auth.decorators import require_auth, require_manage, require_msp
from msp.db import utcnow
from msp.dns.settings import checker_options
from msp.domains import service, verification
from msp.domains.models import Domain
from msp.domains.verification import VerificationResult
from msp.extensions import db
from msp.policy.loader import report_address
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
        actor = require_manage(tenant.id)
        name = data.pop("name")
        return service.add_domain(tenant, name, by=actor, **data)


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


def _report_address(domain: Domain) -> str:
    return report_address(db.session.get_one(Tenant, domain.tenant_id), current_app.config)


def _verification_answer(domain: Domain, result: VerificationResult | None) -> dict[str, Any]:
    steps = verification.instructions(domain)
    return {
        "verified": domain.verified_at is not None,
        "method": result.method if result else "",
        "detail": result.detail if result else "",
        "verified_at": domain.verified_at,
        "txt_name": steps.name if steps else None,
        "txt_value": steps.value if steps else None,
        "report_address": _report_address(domain),
    }


@blp.route("/domains/<int:domain_id>/verification")
class DomainVerification(MethodView):
    @require_auth
    @blp.response(200, VerificationSchema)
    def get(self, domain_id: int) -> Any:
        """How to show control of the domain, and whether it is verified."""
        return _verification_answer(get_scoped(Domain, domain_id), None)

    @require_auth
    @blp.response(200, VerificationSchema)
    def post(self, domain_id: int) -> Any:
        """Check the DNS now for either proof (the TXT token, or the DMARC rua)."""
        domain = get_scoped(Domain, domain_id)
        require_manage(domain.tenant_id)
        result = verification.verify(
            domain,
            checker_options(current_app.config).resolver,
            report_address=_report_address(domain),
            now=utcnow(),
        )
        return _verification_answer(domain, result)


@blp.route("/domains/<int:domain_id>/mark-verified")
class DomainMarkVerified(MethodView):
    @require_msp
    @blp.response(200, VerificationSchema)
    def post(self, domain_id: int) -> Any:
        """MSP staff vouch for the domain: its reports are routed from now on (audited)."""
        domain = get_scoped(Domain, domain_id)
        result = verification.mark_verified(domain, now=utcnow())
        return _verification_answer(domain, result)
