"""Where a domain's records are written: its own provider account and zone, or, for a
delegated domain, the MSP's hosted zone (``MSP_HOSTED_*``) under ``<domain>.<label>.<zone>``,
which the client's one-time CNAMEs point at."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from flask import current_app

from msp.domains.models import Domain
from msp.errors import Conflict
from msp.publishing import accounts
from msp.publishing.delegation import DELEGATED_LABELS, cname_for
from msp.publishing.models import DomainPublishing
from msp.publishing.providers import Account, Provider, get_provider
from msp.publishing.settings import PublishSettings, publish_settings


def settings() -> PublishSettings:
    return publish_settings(current_app.config)


def encryption_key() -> str | None:
    return current_app.config.get("MSP_ENCRYPTION_KEY")


@dataclass(frozen=True)
class Target:
    """Where a domain's records are written: the provider, its account and the zone."""

    provider: Provider
    account: Account
    label: str
    provider_id: int | None
    delegated_zone: str | None = None

    def name_for(self, name: str, domain: str) -> str | None:
        """Where ``name`` is written; None when a delegated domain cannot delegate it."""
        if self.delegated_zone is None:
            return name
        for label in DELEGATED_LABELS:
            if name == f"{label}.{domain}":
                return f"{domain}.{label}.{self.delegated_zone}"
        return None


def hosted_target(cfg: PublishSettings) -> Target:
    """The MSP's own zone for delegated domains (``MSP_HOSTED_*``)."""
    if not cfg.hosted_zone or not cfg.hosted_kind:
        raise Conflict("no hosted zone is configured (MSP_HOSTED_ZONE, MSP_HOSTED_PROVIDER_KIND)")
    provider = get_provider(cfg.hosted_kind)
    options = dict(cfg.hosted_options)
    secrets = {k: v for k, v in options.items() if k in provider.secret_fields}
    account = Account(config=options, secrets=secrets, zone=cfg.hosted_zone, timeout=cfg.timeout)
    return Target(provider, account, f"hosted:{cfg.hosted_zone}", None, cfg.hosted_zone)


def target_of(domain: Domain, row: DomainPublishing | None) -> Target:
    """The domain's provider and zone (Conflict when none is set)."""
    cfg = settings()
    if row is not None and row.delegated:
        return hosted_target(cfg)
    if row is None or row.provider_id is None:
        raise Conflict(f"{domain.name} has no DNS provider")
    account_row = accounts.provider_for_domain(domain, row.provider_id)
    zone = row.zone or domain.name
    account = accounts.account_of(account_row, zone, encryption_key(), cfg.timeout)
    label = f"{account_row.name} ({account_row.kind})"
    return Target(get_provider(account_row.kind), account, label, account_row.id)


def delegation(domain: Domain) -> dict[str, Any]:
    """What a client publishes once to hand its records to the MSP's hosted zone: one CNAME
    per record (DMARC, TLS-RPT, the MTA-STS id) and the ``mta-sts`` host this app answers."""
    cfg = settings()
    if not cfg.hosted_zone:
        raise Conflict("no hosted zone is configured (MSP_HOSTED_ZONE)")
    pairs = (cname_for(domain.name, label, cfg.hosted_zone) for label in DELEGATED_LABELS)
    cnames = [{"name": name, "type": "CNAME", "value": value} for name, value in pairs]
    web_host = urlparse(str(current_app.config.get("MSP_BASE_URL") or "")).hostname
    if web_host:  # receivers fetch the MTA-STS policy file from this app
        cnames.append({"name": f"mta-sts.{domain.name}", "type": "CNAME", "value": f"{web_host}."})
    return {"domain": domain.name, "hosted_zone": cfg.hosted_zone, "records": cnames}
