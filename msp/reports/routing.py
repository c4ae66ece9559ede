"""Which tenant a report belongs to: by its policy domain, guarded by the report address.

A report goes to the tenant owning its ``policy_published`` domain or the nearest parent domain
(the organisational domain above it). When it arrived on a tenant's own address
(``<report_token>@<reports domain>``) or was uploaded by a tenant's user, that domain must belong
to that same tenant: nobody can push data into another tenant. A domain nobody owns leaves the
report unrouted until the domain is added.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from msp.domains.models import Domain
from msp.extensions import db
from msp.tenancy.models import Tenant


@dataclass(frozen=True)
class Route:
    """Where a report goes: ``status`` is ``routed``, ``unrouted`` or ``rejected``."""

    status: str
    tenant_id: int | None = None
    domain_id: int | None = None
    domain_name: str | None = None
    reason: str | None = None


def candidate_names(name: str) -> list[str]:
    """The domain itself, then each parent with at least two labels."""
    labels = name.lower().rstrip(".").split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)] or [name.lower()]


def owning_domain(name: str) -> Domain | None:
    candidates = candidate_names(name)
    found = db.session.scalars(select(Domain).where(Domain.name.in_(candidates)))
    rows = {d.name: d for d in found}
    return next((rows[c] for c in candidates if c in rows), None)


def token_tenant(recipients: Iterable[str], reports_domain: str | None) -> Tenant | None:
    """The tenant whose report address is among ``recipients``, if any."""
    if not reports_domain:
        return None
    suffix = "@" + reports_domain.lower().rstrip(".")
    tokens = [r.split("@", 1)[0] for r in recipients if r.lower().endswith(suffix)]
    if not tokens:
        return None
    return db.session.scalar(select(Tenant).where(Tenant.report_token.in_(tokens)))


def route(
    policy_domain: str,
    *,
    recipients: Iterable[str] = (),
    reports_domain: str | None = None,
    required_tenant_id: int | None = None,
) -> Route:
    """Decide the tenant and domain of a report about ``policy_domain``."""
    via_token = token_tenant(recipients, reports_domain)
    domain = owning_domain(policy_domain)
    if via_token is not None and required_tenant_id not in (None, via_token.id):
        return Route("rejected", reason="report address and uploader belong to different tenants")
    expected = via_token.id if via_token is not None else required_tenant_id
    if domain is None:
        return Route("unrouted", reason=f"no tenant manages {policy_domain}")
    if expected is not None and domain.tenant_id != expected:
        return Route(
            "rejected",
            reason=f"{policy_domain} does not belong to the tenant this report was sent to",
        )
    return Route("routed", tenant_id=domain.tenant_id, domain_id=domain.id, domain_name=domain.name)
