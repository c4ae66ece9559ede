"""Provider accounts (per tenant), each domain's provider/zone/mode, and the tenant's mode.

A provider account is loaded for a domain only through :func:`provider_for_domain`, which
requires the same tenant: an account of tenant A can never be attached to, or used for, a
domain of tenant B. Secrets are sealed with :mod:`msp.crypto` and never returned.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from msp.auth.audit import audit
from msp.crypto import SecretKeyError, decrypt, encrypt
from msp.domains.models import Domain
from msp.errors import Conflict, NotFound, ValidationFailed
from msp.extensions import db
from msp.publishing.models import DnsProvider, DomainPublishing
from msp.publishing.providers import (
    Account,
    ProviderConfigError,
    ProviderError,
    UnknownProvider,
    get_provider,
)
from msp.publishing.settings import Mode
from msp.tenancy.models import Tenant

MTA_STS_MODES = ("enforce", "testing", "none")


def seal(values: dict[str, str], key: str | None) -> str:
    return encrypt(json.dumps(values, sort_keys=True), key) if values else ""


def unseal(token: str, key: str | None) -> dict[str, str]:
    if not token:
        return {}
    return {str(k): str(v) for k, v in json.loads(decrypt(token, key)).items()}


def _split(kind: str, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    try:
        return get_provider(kind).split(options)
    except UnknownProvider as exc:
        raise ValidationFailed(str(exc), errors={"kind": [str(exc)]}) from exc
    except ProviderConfigError as exc:
        raise ValidationFailed(str(exc), errors={"options": exc.errors}) from exc


def list_providers(tenant_id: int) -> list[DnsProvider]:
    stmt = select(DnsProvider).where(DnsProvider.tenant_id == tenant_id)
    return list(db.session.scalars(stmt.order_by(DnsProvider.name)))


def provider_named(tenant_id: int, name: str) -> DnsProvider:
    row = db.session.scalar(
        select(DnsProvider).where(DnsProvider.tenant_id == tenant_id, DnsProvider.name == name)
    )
    if row is None:
        raise NotFound(f"DNS provider {name!r} not found")
    return row


def add_provider(
    tenant: Tenant, name: str, kind: str, options: dict[str, Any], key: str | None
) -> DnsProvider:
    """A new provider account of ``tenant`` (options validated, secrets sealed)."""
    exists = db.session.scalar(
        select(DnsProvider.id).where(DnsProvider.tenant_id == tenant.id, DnsProvider.name == name)
    )
    if exists is not None:
        raise Conflict(f"DNS provider {name!r} already exists")
    plain, secret = _split(kind, options)
    row = DnsProvider(
        tenant_id=tenant.id, name=name, kind=kind, config=plain, sealed_secrets=seal(secret, key)
    )
    db.session.add(row)
    db.session.flush()
    audit("dns_provider.create", "dns_provider", row.id, tenant_id=tenant.id, changes=plain)
    return row


def update_provider(
    row: DnsProvider, options: dict[str, Any], key: str | None, name: str | None = None
) -> DnsProvider:
    """Merge ``options`` into the account (a secret left out keeps its sealed value)."""
    merged = {**row.config, **unseal(row.sealed_secrets, key), **options}
    plain, secret = _split(row.kind, merged)
    row.config, row.sealed_secrets = plain, seal(secret, key)
    if name and name != row.name:
        if db.session.scalar(
            select(DnsProvider.id).where(
                DnsProvider.tenant_id == row.tenant_id, DnsProvider.name == name
            )
        ):
            raise Conflict(f"DNS provider {name!r} already exists")
        row.name = name
    changes = {**plain, "name": row.name, "secrets": sorted(set(options) & set(secret))}
    audit("dns_provider.update", "dns_provider", row.id, tenant_id=row.tenant_id, changes=changes)
    return row


def delete_provider(row: DnsProvider) -> None:
    audit("dns_provider.delete", "dns_provider", row.id, tenant_id=row.tenant_id)
    db.session.delete(row)


def secrets_set(row: DnsProvider) -> list[str]:
    """Names of the secret options that hold a value (the values are never shown)."""
    if not row.sealed_secrets:
        return []
    return sorted(get_provider(row.kind).secret_fields)


def account_of(row: DnsProvider, zone: str, key: str | None, timeout: float) -> Account:
    try:
        secrets = unseal(row.sealed_secrets, key)
    except SecretKeyError as exc:
        raise Conflict(f"the secrets of DNS provider {row.name!r} cannot be opened") from exc
    return Account(config=dict(row.config), secrets=secrets, zone=zone, timeout=timeout)


def publishing_of(domain: Domain) -> DomainPublishing | None:
    return db.session.scalar(
        select(DomainPublishing).where(
            DomainPublishing.tenant_id == domain.tenant_id,
            DomainPublishing.domain_id == domain.id,
        )
    )


def provider_for_domain(domain: Domain, provider_id: int) -> DnsProvider:
    """The account, only if it belongs to the domain's tenant (NotFound otherwise)."""
    row = db.session.scalar(
        select(DnsProvider).where(
            DnsProvider.id == provider_id, DnsProvider.tenant_id == domain.tenant_id
        )
    )
    if row is None:
        raise NotFound(f"DNS provider {provider_id} not found")
    return row


def _check_zone(domain: Domain, zone: str) -> str:
    zone = zone.rstrip(".").lower()
    if domain.name != zone and not domain.name.endswith("." + zone):
        raise ValidationFailed(
            f"{zone} is not {domain.name} or a parent of it", errors={"zone": ["not a parent"]}
        )
    return zone


def _check_mode(mode: str | None, tenant: Tenant, domain: Domain | None) -> str | None:
    if mode is None:
        return None
    if mode not in {m.value for m in Mode}:
        raise ValidationFailed(f"unknown mode {mode!r}", errors={"mode": ["unknown"]})
    if mode == Mode.AUTOMATIC.value and not auto_escalation(tenant, domain):
        raise ValidationFailed(
            "automatic publishing needs automatic escalation (policy auto_escalate)",
            errors={"mode": ["the tenant has not opted into automatic escalation"]},
        )
    return mode


def auto_escalation(tenant: Tenant, domain: Domain | None) -> bool:
    from msp.policy import settings as policy_settings

    own = (domain.settings or {}).get("policy") if domain is not None else None
    return policy_settings.resolve((tenant.settings or {}).get("policy"), own).auto_escalate


def set_domain_provider(
    domain: Domain,
    provider_id: int | None,
    *,
    zone: str | None = None,
    mode: str | None = None,
    delegated: bool = False,
    mta_sts_mode: str | None = None,
) -> DomainPublishing:
    """Attach a provider account (of the domain's own tenant), the zone and the mode."""
    tenant = db.session.get(Tenant, domain.tenant_id)
    assert tenant is not None
    row = publishing_of(domain) or DomainPublishing(tenant_id=domain.tenant_id, domain_id=domain.id)
    row.provider_id = provider_for_domain(domain, provider_id).id if provider_id else None
    row.zone = _check_zone(domain, zone) if zone else None
    row.mode = _check_mode(mode, tenant, domain)
    row.delegated = delegated
    if mta_sts_mode not in (None, *MTA_STS_MODES):
        raise ValidationFailed("unknown MTA-STS mode", errors={"mta_sts_mode": ["unknown"]})
    row.mta_sts_mode = mta_sts_mode
    db.session.add(row)
    db.session.flush()
    changes = {
        "provider_id": row.provider_id,
        "zone": row.zone,
        "mode": row.mode,
        "delegated": row.delegated,
        "mta_sts_mode": row.mta_sts_mode,
    }
    audit("domain.dns_provider", "domain", domain.id, tenant_id=domain.tenant_id, changes=changes)
    return row


def set_tenant_mode(tenant: Tenant, mode: str) -> str:
    """The tenant's default publish mode (stored under ``publishing`` in its settings)."""
    checked = _check_mode(mode, tenant, None)
    assert checked is not None
    settings = dict(tenant.settings or {})
    settings["publishing"] = {**(settings.get("publishing") or {}), "mode": checked}
    tenant.settings = settings
    audit("tenant.publish_mode", "tenant", tenant.id, tenant_id=tenant.id, changes={"mode": mode})
    return checked


def effective_mode(tenant: Tenant, domain: Domain, row: DomainPublishing | None) -> Mode:
    """The domain's override, else the tenant's mode, else manual. ``automatic`` falls back to
    ``on_approval`` when the opt-in into automatic escalation was withdrawn since."""
    raw = (row.mode if row else None) or ((tenant.settings or {}).get("publishing") or {}).get(
        "mode"
    )
    mode = Mode(raw) if raw in {m.value for m in Mode} else Mode.MANUAL
    if mode is Mode.AUTOMATIC and not auto_escalation(tenant, domain):
        return Mode.ON_APPROVAL
    return mode


def provider_view(row: DnsProvider) -> dict[str, Any]:
    """The account as it may be shown: plain options and the names of the secrets set."""
    return {
        "id": row.id,
        "tenant_id": row.tenant_id,
        "name": row.name,
        "kind": row.kind,
        "options": dict(row.config),
        "secrets_set": secrets_set(row),
        "created_at": row.created_at,
    }


def zones_of(row: DnsProvider) -> list[str]:
    """The zones of the domains this account publishes (what its test reads)."""
    stmt = (
        select(DomainPublishing.zone, Domain.name)
        .join(Domain, Domain.id == DomainPublishing.domain_id)
        .where(DomainPublishing.provider_id == row.id, DomainPublishing.tenant_id == row.tenant_id)
    )
    return sorted({zone or name for zone, name in db.session.execute(stmt)})


def test_provider(
    row: DnsProvider, zone: str | None, key: str | None, timeout: float
) -> list[dict[str, Any]]:
    """Read each zone (given, else the zones of its domains) with the account's credentials.
    Each result says ``ok`` and what was read or why not."""
    zones = [zone.rstrip(".").lower()] if zone else zones_of(row)
    if not zones:
        raise ValidationFailed(
            f"DNS provider {row.name!r} publishes no domain yet: name a zone to test",
            errors={"zone": ["required"]},
        )
    provider = get_provider(row.kind)
    results = []
    for name in zones:
        try:
            detail, ok = provider.test(account_of(row, name, key, timeout)), True
        except ProviderError as exc:
            detail, ok = str(exc), False
        results.append({"zone": name, "ok": ok, "detail": detail})
    audit(
        "dns_provider.test",
        "dns_provider",
        row.id,
        tenant_id=row.tenant_id,
        changes={"results": results},
    )
    return results
