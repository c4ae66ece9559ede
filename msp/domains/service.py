"""Adding, changing and removing domains: FQDN validation, IDNA normalisation, uniqueness."""

from __future__ import annotations

import re
from typing import Any

import idna
from sqlalchemy import select

from msp.auth.audit import audit
from msp.domains.models import Domain
from msp.errors import Conflict, ValidationFailed
from msp.extensions import db
from msp.hooks import run_domain_add_checks
from msp.queues import REPORTS, enqueue
from msp.tenancy.models import Tenant

LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
SELECTOR_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62})$")
EDITABLE = ("dkim_selectors", "check_interval_minutes", "parked", "settings")


def normalise_fqdn(raw: str) -> str:
    """The domain in lower-case A-label form; ValidationFailed if it is not a valid FQDN."""
    name = raw.strip().rstrip(".")
    try:
        # IDNA 2008 with UTS 46 mapping (the idna package), not Python's IDNA 2003 codec,
        # which maps "straße" to "strasse": a different, possibly someone else's, domain.
        ascii_name = idna.encode(name, uts46=True).decode("ascii").lower() if name else ""
    except UnicodeError as exc:
        raise ValidationFailed(
            f"{raw!r} is not a valid domain name (IDNA: {exc})", errors={"name": ["invalid IDNA"]}
        ) from exc
    labels = ascii_name.split(".")
    if (
        len(labels) < 2
        or len(ascii_name) > 253
        or not all(LABEL_RE.match(x) for x in labels)
        or labels[-1].isdigit()
    ):
        raise ValidationFailed(
            f"{raw!r} is not a fully qualified domain name",
            errors={"name": ["not a fully qualified domain name"]},
        )
    return ascii_name


def validate_selectors(selectors: list[str]) -> list[str]:
    cleaned = sorted({s.strip().lower() for s in selectors})
    bad = [s for s in cleaned if not SELECTOR_RE.match(s)]
    if bad:
        raise ValidationFailed(
            f"invalid DKIM selector(s): {', '.join(bad)}", errors={"dkim_selectors": bad}
        )
    return cleaned


def add_domain(tenant: Tenant, raw_name: str, **fields: Any) -> Domain:
    name = normalise_fqdn(raw_name)
    run_domain_add_checks(tenant)  # billing: the plan's domain limit (msp/areas.py)
    if db.session.scalar(select(Domain.id).where(Domain.name == name)) is not None:
        raise Conflict(f"domain {name} is already managed")
    domain = Domain(
        tenant_id=tenant.id,
        name=name,
        dkim_selectors=validate_selectors(fields.get("dkim_selectors") or []),
        check_interval_minutes=fields.get("check_interval_minutes"),
        parked=bool(fields.get("parked", False)),
        settings=fields.get("settings") or {},
    )
    db.session.add(domain)
    db.session.flush()
    audit("domain.create", "domain", domain.id, tenant_id=tenant.id, changes={"name": name})
    # Reports that arrived before the domain was added are routed now.
    enqueue(
        "workers.reports.route_unrouted_for_domain",
        queue=REPORTS,
        job_id=f"route-unrouted-{domain.id}",
        domain_id=domain.id,
    )
    return domain


def update_domain(domain: Domain, changes: dict[str, Any]) -> Domain:
    if "dkim_selectors" in changes:
        changes = {**changes, "dkim_selectors": validate_selectors(changes["dkim_selectors"])}
    for key in EDITABLE:
        if key in changes:
            setattr(domain, key, changes[key])
    audit("domain.update", "domain", domain.id, tenant_id=domain.tenant_id, changes=changes)
    return domain


def remove_domain(domain: Domain) -> None:
    audit(
        "domain.delete",
        "domain",
        domain.id,
        tenant_id=domain.tenant_id,
        changes={"name": domain.name},
    )
    db.session.delete(domain)


def domain_by_name(name: str) -> Domain | None:
    return db.session.scalar(select(Domain).where(Domain.name == normalise_fqdn(name)))
