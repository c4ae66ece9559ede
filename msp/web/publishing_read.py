"""What the publishing pages show, read without writing: the tenant's provider accounts as they
may be shown (never a secret), and a domain's "Publishing" section: the effective publish mode
and where it comes from, the provider and zone, the last publication in words, the open
change, and (only when asked, since it reads the provider) the dry-run diff.

Each figure comes from ``msp.publishing.accounts`` / ``service``; this module only gathers and
words them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app

from msp.domains.models import Domain
from msp.errors import Conflict
from msp.extensions import db
from msp.policy.changes import open_change
from msp.policy.models import PolicyChange
from msp.publishing import accounts, service
from msp.publishing.models import DnsProvider, DomainPublishing, Publication
from msp.publishing.providers import UnknownProvider, get_provider
from msp.publishing.settings import Mode, publish_settings
from msp.tenancy.models import Tenant

# mode -> (short name, what it means)
MODE_WORDS: dict[str, tuple[str, str]] = {
    Mode.MANUAL.value: (
        "manual",
        "a person copies each approved record into the client's DNS; nothing is written for them",
    ),
    Mode.ON_APPROVAL.value: (
        "on approval",
        "a change a person approved is written through the DNS provider in its change "
        "window; a rollback is written at once",
    ),
    Mode.AUTOMATIC.value: (
        "automatic",
        "as on approval, and the steps the engine approves itself (automatic escalation) "
        "are written too",
    ),
}
PUBLICATION_WORDS = {
    "pending": "waiting to be written",
    "retrying": "the DNS provider refused; it is tried again",
    "written": "written",
    "held": "held: the record was edited by hand, so nothing was written",
    "failed": "not written: the DNS provider kept refusing",
    "waiting": "not written yet: the client has not published the CNAME into the MSP's zone",
}


ACRONYMS = {"tsig": "TSIG", "api": "API", "id": "ID", "url": "URL", "aws": "AWS", "ip": "IP"}


def field_label(name: str) -> str:
    """A provider option's name as a label: ``tsig_name`` -> "TSIG name"."""
    words = [ACRONYMS.get(word, word) for word in name.split("_")]
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]]) if words else name


@dataclass(frozen=True)
class AccountRow:
    """A provider account as the settings tab shows it."""

    row: DnsProvider
    label: str
    fields: tuple[Any, ...]
    zones: list[str]
    secrets_set: list[str]


def provider_rows(tenant_id: int) -> list[AccountRow]:
    rows = []
    for row in accounts.list_providers(tenant_id):
        try:
            provider = get_provider(row.kind)
            label, fields = provider.label, provider.fields
        except UnknownProvider:
            label, fields = f"{row.kind} (no longer available)", ()
        rows.append(
            AccountRow(row, label, fields, accounts.zones_of(row), accounts.secrets_set(row))
        )
    return rows


@dataclass(frozen=True)
class PublishingSection:
    """The domain page's "Publishing" section."""

    mode: str
    mode_source: str
    override: str | None
    row: DomainPublishing | None
    provider: DnsProvider | None
    zone: str
    accounts: list[DnsProvider]
    hosted_zone: str | None
    automatic_allowed: bool
    last: Publication | None
    last_verified_at: Any
    change: PolicyChange | None
    diff: dict[str, Any] | None
    diff_error: str | None

    @property
    def connected(self) -> bool:
        return self.provider is not None or bool(self.row and self.row.delegated)

    @property
    def can_publish(self) -> bool:
        """An issued change that has not been written yet, and somewhere to write it."""
        if not self.connected or self.change is None or self.change.status != "published":
            return False
        last = self.last
        return not (last and last.change_id == self.change.id and last.status == "written")

    @property
    def held(self) -> bool:
        """The open change's publication is held by a hand edit."""
        last = self.last
        return bool(
            self.change and last and last.change_id == self.change.id and last.status == "held"
        )


def _mode_source(tenant: Tenant, row: DomainPublishing | None, mode: Mode) -> str:
    own = row.mode if row else None
    tenant_mode = ((tenant.settings or {}).get("publishing") or {}).get("mode")
    chosen = own or tenant_mode
    if chosen == Mode.AUTOMATIC.value and mode is not Mode.AUTOMATIC:
        return (
            "automatic was chosen, but the client no longer opts into automatic escalation, "
            "so only changes a person approved are written"
        )
    if own:
        return "set for this domain"
    if tenant_mode:
        return f"{tenant.name}'s default (DNS publishing settings)"
    return "nobody chose a mode yet, so nothing is written for this client"


def _diff(domain: Domain) -> tuple[dict[str, Any] | None, str | None]:
    try:
        return service.dry_run(domain), None
    except Conflict as exc:
        return None, exc.detail


def publishing_section(domain: Domain, *, with_diff: bool = False) -> PublishingSection:
    """Read the section; ``with_diff`` also reads the provider for the dry-run diff."""
    tenant = db.session.get(Tenant, domain.tenant_id)
    assert tenant is not None  # a domain's tenant is a foreign key
    row = accounts.publishing_of(domain)
    mode = accounts.effective_mode(tenant, domain, row)
    provider = db.session.get(DnsProvider, row.provider_id) if row and row.provider_id else None
    last = service.last_publication(domain)
    last_change = db.session.get(PolicyChange, last.change_id) if last and last.change_id else None
    change = open_change(domain)
    diff, diff_error = (None, None)
    if with_diff and change is not None and (provider is not None or (row and row.delegated)):
        diff, diff_error = _diff(domain)
    elif with_diff:
        diff_error = "there is no open change, or no DNS provider to read"
    return PublishingSection(
        mode=mode.value,
        mode_source=_mode_source(tenant, row, mode),
        override=row.mode if row else None,
        row=row,
        provider=provider,
        zone=(row.zone if row else None) or domain.name,
        accounts=accounts.list_providers(tenant.id),
        hosted_zone=publish_settings(current_app.config).hosted_zone,
        automatic_allowed=accounts.auto_escalation(tenant, domain),
        last=last,
        last_verified_at=last_change.verified_at if last_change else None,
        change=change,
        diff=diff,
        diff_error=diff_error,
    )
