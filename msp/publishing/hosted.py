"""The transport records of delegated domains, written into the MSP's hosted zone: the
MTA-STS id (``<domain>._mta-sts.<zone> TXT "v=STSv1; id=..."``, RFC 8461 3.1) and TLS-RPT
(``<domain>._smtp._tls.<zone> TXT "v=TLSRPTv1; rua=..."``, RFC 8460 3). With the client's
CNAMEs and ``mta-sts.<domain>`` pointed at this app, the client has MTA-STS and TLS reports.

The id is a digest of the policy text this app serves, so it changes exactly when the policy
does (the MX hosts or the mode). The hosted zone is the MSP's own: its RRsets are read and
swapped as read, with no hand edits to respect. A record whose CNAME (``_mta-sts``,
``_smtp._tls``) the client has not published yet is not written: an event
(``publishing.waiting``) names the CNAME and its exact value, once while it stays missing.
Never commits.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import current_app
from sqlalchemy import select

from msp.auth.audit import audit
from msp.domains.models import Domain
from msp.errors import Conflict
from msp.events import Event, emit_event
from msp.extensions import db
from msp.publishing import accounts
from msp.publishing import delegation as cnames
from msp.publishing.models import DomainPublishing
from msp.publishing.mta_sts import PREFIX, policy_text
from msp.publishing.plan import owned
from msp.publishing.providers import RRset
from msp.publishing.targets import hosted_target, settings
from msp.tenancy.models import Tenant


def policy_id(text: str) -> str:
    """RFC 8461 3.1: 1-32 alphanumerics; a digest of the served policy."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def transport_records(domain: Domain, tenant: Tenant) -> dict[str, str]:
    """The values to publish, by hosted name (empty when no policy is served)."""
    from msp.policy.loader import report_address

    text = policy_text(PREFIX + domain.name)
    if text is None:
        return {}
    zone = settings().hosted_zone
    rua = report_address(tenant, current_app.config)
    return {
        f"{domain.name}._mta-sts.{zone}": f"v=STSv1; id={policy_id(text)}",
        f"{domain.name}._smtp._tls.{zone}": f"v=TLSRPTv1; rua={rua}",
    }


def publish_transport(domain_id: int) -> list[dict[str, Any]]:
    """Write the delegated domain's transport records that differ (ProviderError propagates:
    the job retries)."""
    domain = db.session.get(Domain, domain_id)
    tenant = db.session.get(Tenant, domain.tenant_id) if domain else None
    row = accounts.publishing_of(domain) if domain else None
    if domain is None or tenant is None or row is None or not row.delegated:
        raise Conflict(f"domain {domain_id} is not delegated")
    target = hosted_target(settings())
    records = transport_records(domain, tenant)
    waiting = _missing_cnames(domain, target.delegated_zone or "", records)
    written = []
    for name, value in records.items():
        if name in waiting:
            continue
        current = target.provider.read(target.account, name, "TXT")
        if tuple(v for v in current.values if owned("TXT", v)) == (value,):
            continue
        others = tuple(v for v in current.values if not owned("TXT", v))
        new = RRset(name, "TXT", settings().ttl, tuple(sorted((*others, value))))
        target.provider.write(target.account, current, new)
        written.append({"name": name, "before": list(current.values), "after": [value]})
    if written:
        audit(
            "dns.publish_transport",
            "domain",
            domain.id,
            tenant_id=domain.tenant_id,
            changes={"records": written},
        )
    return written


TRANSPORT_WAITING = (
    "MTA-STS / TLS-RPT not written: waiting for the client's CNAME into the MSP's zone: "
)


def _missing_cnames(domain: Domain, zone: str, records: dict[str, str]) -> set[str]:
    """The hosted names (``<domain>._mta-sts.<zone>``) whose client CNAME DNS does not show
    yet; an event says which, once while the same ones stay missing."""
    if not records:
        return set()
    by_label = {n.removeprefix(f"{domain.name}.").removesuffix(f".{zone}"): n for n in records}
    checks = cnames.check(domain.name, zone, current_app.config, by_label)
    missing = [c for c in checks if not c.ok]
    if missing:
        summary = TRANSPORT_WAITING + "; ".join(c.problem or c.name for c in missing)
        if _last_transport_wait(domain) != summary:
            payload = {"summary": summary, "missing": [c.as_dict() for c in missing]}
            emit_event(
                domain.tenant_id,
                "publishing.waiting",
                payload,
                domain_id=domain.id,
                severity="warning",
            )
    return {by_label[c.name.removesuffix(f".{domain.name}")] for c in missing}


def _last_transport_wait(domain: Domain) -> str | None:
    """The summary of the domain's last transport wait event (None: none lately)."""
    recent = db.session.scalars(
        select(Event)
        .where(
            Event.tenant_id == domain.tenant_id,
            Event.domain_id == domain.id,
            Event.kind == "publishing.waiting",
        )
        .order_by(Event.id.desc())
        .limit(10)
    )
    for event in recent:
        summary = str(event.payload.get("summary") or "")
        if summary.startswith(TRANSPORT_WAITING):
            return summary
    return None


def transport_domain_ids() -> list[int]:
    """Delegated domains that have an MTA-STS policy served (every tenant: for the sweep)."""
    stmt = select(DomainPublishing.domain_id).where(
        DomainPublishing.delegated.is_(True), DomainPublishing.mta_sts_mode.is_not(None)
    )
    return list(db.session.scalars(stmt.order_by(DomainPublishing.domain_id)))
