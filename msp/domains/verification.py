"""Proof that a tenant controls a domain it added, before its reports are routed to it.

Two proofs count, both read through the DNS checker's resolver: a TXT record
``msp-verify=<token>`` at ``_msp-verify.<domain>`` (the token is shown to the tenant), or the
domain's published DMARC record whose ``rua`` names this tenant's own report address. MSP staff
may also vouch for a domain (:func:`mark_verified`). Every change of state is audited."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from msp.auth.audit import audit
from msp.dns.resolver import Answer, Resolver, ResolverSettings
from msp.domains.models import Domain
from msp.domains.service import route_waiting_reports

VERIFY_LABEL = "_msp-verify"
TXT_PREFIX = "msp-verify="


@dataclass(frozen=True)
class Instructions:
    """What the tenant publishes: a TXT record ``value`` at ``name``."""

    name: str
    value: str


@dataclass(frozen=True)
class VerificationResult:
    verified: bool
    method: str  # "txt", "dmarc_rua", "staff", "already" or "" (not verified)
    detail: str


def instructions(domain: Domain) -> Instructions | None:
    if domain.verification_token is None:
        return None
    return Instructions(f"{VERIFY_LABEL}.{domain.name}", TXT_PREFIX + domain.verification_token)


def _rua_addresses(record: str) -> set[str]:
    """The ``rua`` URIs of one DMARC record, lower-case, without a ``!size`` suffix."""
    found: set[str] = set()
    for tag in record.split(";"):
        key, _, value = tag.strip().partition("=")
        if key.strip().lower() == "rua":
            found |= {uri.strip().split("!")[0].lower() for uri in value.split(",") if uri.strip()}
    return found


async def _lookups(settings: ResolverSettings, domain: str) -> tuple[Answer, Answer]:
    resolver = Resolver(settings)
    try:
        return await asyncio.gather(
            resolver.lookup(f"{VERIFY_LABEL}.{domain}", "TXT"),
            resolver.lookup(f"_dmarc.{domain}", "TXT"),
        )
    finally:
        await resolver.close()


def proof_in(
    domain: Domain, token_txt: tuple[str, ...], dmarc_txt: tuple[str, ...], report_address: str
) -> str:
    """Which proof these TXT strings show ("txt", "dmarc_rua" or ""): ``token_txt`` from
    ``_msp-verify.<domain>``, ``dmarc_txt`` from ``_dmarc.<domain>``. Pure, so the DNS
    checker can call it with what it has already fetched."""
    expected = instructions(domain)
    if expected is not None and any(r.strip() == expected.value for r in token_txt):
        return "txt"
    dmarc = [r for r in dmarc_txt if r.strip().lower().startswith("v=dmarc1")]
    if len(dmarc) == 1 and report_address.lower() in _rua_addresses(dmarc[0]):
        return "dmarc_rua"
    return ""


def record_proof(domain: Domain, method: str, *, now: datetime) -> bool:
    """Mark the domain verified by ``method`` (from :func:`proof_in`) if it is not yet."""
    if not method or domain.verified_at is not None:
        return False
    _set_verified(domain, method, now)
    return True


def verify(
    domain: Domain, resolver: ResolverSettings, *, report_address: str, now: datetime
) -> VerificationResult:
    """Look for either proof now; on success the domain is verified (and audited).

    ``report_address`` is the tenant's ``rua`` URI (``mailto:<token>@<reports domain>``)."""
    if domain.verified_at is not None:
        return VerificationResult(True, "already", "the domain is verified")
    token_txt, dmarc = asyncio.run(_lookups(resolver, domain.name))
    method = proof_in(domain, token_txt.records, dmarc.records, report_address)
    if not method:
        detail = (
            "DNS did not answer; try again later"
            if token_txt.failed and dmarc.failed
            else "neither the verification TXT record nor a DMARC rua with this tenant's "
            "report address was found"
        )
        return VerificationResult(False, "", detail)
    record_proof(domain, method, now=now)
    return VerificationResult(True, method, f"verified by {method}")


def mark_verified(domain: Domain, *, now: datetime) -> VerificationResult:
    """MSP staff vouch for the domain (the caller checks that the actor is MSP staff)."""
    if domain.verified_at is None:
        _set_verified(domain, "staff", now)
    return VerificationResult(True, "staff", "marked verified by MSP staff")


def _set_verified(domain: Domain, method: str, now: datetime) -> None:
    domain.verified_at = now
    audit(
        "domain.verify",
        "domain",
        domain.id,
        tenant_id=domain.tenant_id,
        changes={"name": domain.name, "method": method},
    )
    route_waiting_reports(domain)
