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
from msp.reports import bulk
from msp.tenancy.models import Tenant


@dataclass(frozen=True)
class Owner:
    """The domain row a report belongs to (what routing needs of it)."""

    id: int
    tenant_id: int
    name: str


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


def owning_domains(names: Iterable[str]) -> dict[str, Owner | None]:
    """The domain owning each name: itself or its nearest parent (one query per 500 names).

    Only verified domains own reports: a domain a tenant added without showing control yet
    leaves its reports unrouted, and they are routed when it is verified.
    """
    wanted = {name: candidate_names(name) for name in set(names)}
    every = sorted({c for candidates in wanted.values() for c in candidates})
    found: dict[str, Owner] = {}
    for start in range(0, len(every), 500):
        stmt = select(Domain.id, Domain.tenant_id, Domain.name).where(
            bulk.one_of(Domain.name, every[start : start + 500]), Domain.verified_at.is_not(None)
        )
        found.update(
            {name: Owner(id_, tenant_id, name) for id_, tenant_id, name in db.session.execute(stmt)}
        )
    return {
        name: next((found[c] for c in candidates if c in found), None)
        for name, candidates in wanted.items()
    }


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
    return route_many(
        [policy_domain],
        recipients=recipients,
        reports_domain=reports_domain,
        required_tenant_id=required_tenant_id,
    )[policy_domain]


def route_many(
    policy_domains: Iterable[str],
    *,
    recipients: Iterable[str] = (),
    reports_domain: str | None = None,
    required_tenant_id: int | None = None,
) -> dict[str, Route]:
    """:func:`route` for several reports that arrived the same way.

    One query for the report address's tenant, one per 500 candidate names (the names and
    their parent domains).
    """
    via_token = token_tenant(recipients, reports_domain)
    token_id = via_token.id if via_token is not None else None
    owners = owning_domains(policy_domains)
    return {
        name: decide(name, owner, token_id, required_tenant_id) for name, owner in owners.items()
    }


def decide(
    policy_domain: str,
    owner: Owner | None,
    token_tenant_id: int | None,
    required_tenant_id: int | None,
) -> Route:
    """The routing rule itself, on facts already loaded."""
    if token_tenant_id is not None and required_tenant_id not in (None, token_tenant_id):
        return Route("rejected", reason="report address and uploader belong to different tenants")
    expected = token_tenant_id if token_tenant_id is not None else required_tenant_id
    if owner is None:
        return Route("unrouted", reason=f"no tenant manages {policy_domain}")
    if expected is not None and owner.tenant_id != expected:
        return Route(
            "rejected",
            reason=f"{policy_domain} does not belong to the tenant this report was sent to",
        )
    return Route("routed", tenant_id=owner.tenant_id, domain_id=owner.id, domain_name=owner.name)
