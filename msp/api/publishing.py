"""``/api/v1``: a tenant's DNS provider accounts (CRUD and test), a domain's provider, zone
and mode, and its publish state (diff) and publish action.

Changing anything is for people who may change the tenant's data (tenant admins and MSP
staff); reading the state is for anyone who sees the domain. Objects of tenants out of reach
are 404.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from msp.api.schemas.publishing import (
    DelegationSchema,
    DomainProviderSchema,
    ProviderSchema,
    ProviderTestQuerySchema,
    ProviderTestSchema,
    ProviderUpdateSchema,
    PublishRequestSchema,
    PublishResultSchema,
    PublishStateSchema,
)
from msp.auth.decorators import require_auth, require_manage
from msp.domains.models import Domain
from msp.errors import NotFound
from msp.publishing import accounts, service
from msp.publishing.models import DnsProvider
from msp.publishing.settings import publish_settings
from msp.tenancy.models import Tenant
from msp.tenancy.scope import get_scoped

blp = Blueprint(
    "publishing",
    __name__,
    url_prefix="/api/v1",
    description="Publishing: DNS provider accounts, a domain's provider, publish and diff",
)


def _key() -> str | None:
    return current_app.config.get("MSP_ENCRYPTION_KEY")


def _managed_tenant(tenant_id: int) -> Tenant:
    tenant = get_scoped(Tenant, tenant_id)
    require_manage(tenant.id)
    return tenant


def _provider(tenant_id: int, provider_id: int) -> DnsProvider:
    tenant = _managed_tenant(tenant_id)
    row = get_scoped(DnsProvider, provider_id)
    if row.tenant_id != tenant.id:
        raise NotFound(f"dns_provider {provider_id} not found")
    return row


def _managed_domain(domain_id: int) -> Domain:
    domain = get_scoped(Domain, domain_id)
    require_manage(domain.tenant_id)
    return domain


@blp.route("/tenants/<int:tenant_id>/dns-providers")
class Providers(MethodView):
    @require_auth
    @blp.response(200, ProviderSchema(many=True))
    def get(self, tenant_id: int) -> Any:
        """The tenant's DNS provider accounts (secret options are never returned)."""
        rows = accounts.list_providers(_managed_tenant(tenant_id).id)
        return [accounts.provider_view(r) for r in rows]

    @require_auth
    @blp.arguments(ProviderSchema)
    @blp.response(201, ProviderSchema)
    def post(self, data: dict[str, Any], tenant_id: int) -> Any:
        """Add a DNS provider account."""
        tenant = _managed_tenant(tenant_id)
        row = accounts.add_provider(tenant, data["name"], data["kind"], data["options"], _key())
        return accounts.provider_view(row)


@blp.route("/tenants/<int:tenant_id>/dns-providers/<int:provider_id>")
class ProviderItem(MethodView):
    @require_auth
    @blp.response(200, ProviderSchema)
    def get(self, tenant_id: int, provider_id: int) -> Any:
        """One provider account."""
        return accounts.provider_view(_provider(tenant_id, provider_id))

    @require_auth
    @blp.arguments(ProviderUpdateSchema)
    @blp.response(200, ProviderSchema)
    def patch(self, data: dict[str, Any], tenant_id: int, provider_id: int) -> Any:
        """Rename or change options; secret options left out keep their value."""
        row = _provider(tenant_id, provider_id)
        row = accounts.update_provider(row, data.get("options") or {}, _key(), data.get("name"))
        return accounts.provider_view(row)

    @require_auth
    @blp.response(204)
    def delete(self, tenant_id: int, provider_id: int) -> None:
        """Remove the account (its domains fall back to manual publishing)."""
        accounts.delete_provider(_provider(tenant_id, provider_id))


@blp.route("/tenants/<int:tenant_id>/dns-providers/<int:provider_id>/test")
class ProviderTest(MethodView):
    @require_auth
    @blp.arguments(ProviderTestQuerySchema, location="query")
    @blp.response(200, ProviderTestSchema(many=True))
    def post(self, query: dict[str, Any], tenant_id: int, provider_id: int) -> Any:
        """Prove the credentials can read the zone (each zone: ok and what was read)."""
        row = _provider(tenant_id, provider_id)
        timeout = publish_settings(current_app.config).timeout
        return accounts.test_provider(row, query.get("zone"), _key(), timeout)


@blp.route("/domains/<int:domain_id>/dns-provider")
class DomainProvider(MethodView):
    @require_auth
    @blp.arguments(DomainProviderSchema)
    @blp.response(200, PublishStateSchema)
    def put(self, data: dict[str, Any], domain_id: int) -> Any:
        """Set the domain's provider account (of its own tenant), zone and publish mode."""
        domain = _managed_domain(domain_id)
        accounts.set_domain_provider(
            domain,
            data["provider_id"],
            zone=data["zone"],
            mode=data["mode"],
            delegated=data["delegated"],
            mta_sts_mode=data["mta_sts_mode"],
        )
        return service.state(domain)


@blp.route("/domains/<int:domain_id>/publish")
class Publish(MethodView):
    @require_auth
    @blp.response(200, PublishStateSchema)
    def get(self, domain_id: int) -> Any:
        """Publish mode, provider, zone, last publication and the open change's diff."""
        return service.state(get_scoped(Domain, domain_id))

    @require_auth
    @blp.arguments(PublishRequestSchema)
    @blp.response(200, PublishResultSchema)
    def post(self, data: dict[str, Any], domain_id: int) -> Any:
        """Write the issued change now (``dry_run``: only show what would be written;
        ``force``: write over a hand edit, administrators only, audited before and after)."""
        domain = _managed_domain(domain_id)
        if data["dry_run"]:
            return service.dry_run(domain)
        return service.publish_domain(domain, force=data["force"])


@blp.route("/domains/<int:domain_id>/delegation")
class Delegation(MethodView):
    @require_auth
    @blp.response(200, DelegationSchema)
    def get(self, domain_id: int) -> Any:
        """The CNAMEs a client publishes once to hand its records to the MSP's hosted zone,
        each with what DNS shows now (``check``: ok, missing, wrong or unknown; ``found``;
        ``problem`` in words)."""
        return service.delegation_status(get_scoped(Domain, domain_id))
