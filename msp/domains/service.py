"""Adding, changing and removing domains: FQDN validation, IDNA normalisation, uniqueness, and
what a tenant may claim (no public suffixes, nothing under another tenant's domain)."""

from __future__ import annotations

import re
import secrets
from typing import Any

import idna
from flask import has_app_context
from sqlalchemy import select

from msp.auth.audit import audit
from msp.auth.principal import Principal, current_principal
from msp.db import utcnow
from msp.dns.psl import is_public_suffix
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


def _ancestors(name: str) -> list[str]:
    labels = name.split(".")
    return [".".join(labels[i:]) for i in range(1, len(labels) - 1)]


def check_claimable(tenant: Tenant, name: str, *, allow_nested: bool = False) -> None:
    """Refuse what nobody may claim: a public suffix (``co.uk``, ``github.io``), a managed
    name, or a name under a domain another tenant manages (unless MSP staff allow it)."""
    if is_public_suffix(name):
        raise ValidationFailed(
            f"{name} is a public suffix, not a domain one organisation controls",
            errors={"name": ["public suffix"]},
        )
    if db.session.scalar(select(Domain.id).where(Domain.name == name)) is not None:
        raise Conflict(f"domain {name} is already managed")
    if allow_nested:
        return
    parent = db.session.scalar(
        select(Domain.name).where(Domain.name.in_(_ancestors(name)), Domain.tenant_id != tenant.id)
    )
    if parent is not None:
        raise Conflict(f"{name} is under a domain another client manages; MSP staff can allow it")


def _trusted(actor: Principal | None) -> bool:
    """Operators (CLI, jobs: no principal) and MSP staff add domains verified at once."""
    return actor is None or actor.is_msp


def add_domain(
    tenant: Tenant,
    raw_name: str,
    *,
    by: Principal | None = None,
    allow_nested: bool = False,
    **fields: Any,
) -> Domain:
    """Add a domain. A tenant's own users add it unverified, with a token to publish (its
    reports wait until control is shown); ``allow_nested`` counts only for MSP staff."""
    name = normalise_fqdn(raw_name)
    actor = by if by is not None else (current_principal() if has_app_context() else None)
    run_domain_add_checks(tenant)  # billing: the plan's domain limit (msp/areas.py)
    check_claimable(tenant, name, allow_nested=allow_nested and _trusted(actor))
    trusted = _trusted(actor)
    domain = Domain(
        verified_at=utcnow() if trusted else None,
        verification_token=None if trusted else secrets.token_hex(16),
        tenant_id=tenant.id,
        name=name,
        dkim_selectors=validate_selectors(fields.get("dkim_selectors") or []),
        check_interval_minutes=fields.get("check_interval_minutes"),
        parked=bool(fields.get("parked", False)),
        settings=fields.get("settings") or {},
    )
    db.session.add(domain)
    db.session.flush()
    audit(
        "domain.create",
        "domain",
        domain.id,
        tenant_id=tenant.id,
        changes={"name": name, "verified": domain.verified_at is not None},
    )
    if domain.verified_at is not None:
        route_waiting_reports(domain)
    return domain


def route_waiting_reports(domain: Domain) -> None:
    """Reports that arrived before the domain was added (or verified) are routed now."""
    enqueue(
        "workers.reports.route_unrouted_for_domain",
        queue=REPORTS,
        job_id=f"route-unrouted-{domain.id}",
        domain_id=domain.id,
    )


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
