"""DNS publishing in the browser: the tenant's "DNS publishing" settings tab (provider accounts
from the provider registry's declared fields, secrets never shown back, a connection test in
words, the tenant's publish mode) and the actions of the domain page's "Publishing" section
(provider, zone and mode of one domain; publish now; publish over a hand edit).

Every write goes through ``msp.publishing.accounts`` / ``service``, which validate and audit;
the domain page's read model is :mod:`msp.web.publishing_read`. Viewers see no write control
and are refused a forged POST; destructive actions confirm on a page of their own (no script
needed)."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from msp.auth.decorators import require_manage
from msp.domains.models import Domain
from msp.errors import AppError, Forbidden, NotFound, ValidationFailed
from msp.extensions import db
from msp.publishing import accounts, service
from msp.publishing.models import DnsProvider
from msp.publishing.providers import Provider, registry
from msp.publishing.settings import publish_settings
from msp.tenancy.models import Tenant
from msp.tenancy.scope import get_scoped
from msp.web.blueprint import bp
from msp.web.confirm import Confirmation, confirm_page
from msp.web.publishing_read import MODE_WORDS, field_label, provider_rows
from msp.web.views import signed_in

SETTINGS = "web.dns_settings"


def _key() -> str | None:
    return current_app.config.get("MSP_ENCRYPTION_KEY")


def _failed(exc: AppError) -> str:
    detail = exc.detail
    if isinstance(exc.errors, dict):
        parts = [f"{k}: {_words(v)}" for k, v in exc.errors.items()]
        detail += " (" + "; ".join(parts) + ")"
    return detail


def _words(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k} {_words(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)


def _back(tenant: Tenant, anchor: str = "") -> Response:
    return redirect(url_for(SETTINGS, tenant_id=tenant.id) + anchor)


def _managed(tenant_id: int) -> Tenant:
    tenant = get_scoped(Tenant, tenant_id)
    require_manage(tenant.id)
    return tenant


def _account(tenant: Tenant, provider_id: int) -> DnsProvider:
    row = get_scoped(DnsProvider, provider_id)
    if row.tenant_id != tenant.id:
        raise NotFound(f"DNS provider {provider_id} not found")
    return row


# --- the settings tab --------------------------------------------------------------------------


@bp.get("/tenants/<int:tenant_id>/settings/dns")
def dns_settings(tenant_id: int) -> Any:
    """Provider accounts (kind, name, zones, which secrets are set) and the publish mode."""
    principal = signed_in()
    tenant = get_scoped(Tenant, tenant_id)
    raw_mode = ((tenant.settings or {}).get("publishing") or {}).get("mode")
    return render_template(
        "settings/dns.html",
        principal=principal,
        tenant=tenant,
        accounts=provider_rows(tenant.id),
        providers=list(registry().values()),
        mode=raw_mode if raw_mode in MODE_WORDS else None,
        mode_words=MODE_WORDS,
        automatic_allowed=accounts.auto_escalation(tenant, None),
        field_label=field_label,
    )


def _options(provider: Provider, form: Any, prefix: str, *, keep_secrets: bool) -> dict[str, Any]:
    """The form's values of ``provider``'s declared fields (an empty secret keeps the stored one
    when editing; an empty plain field clears it)."""
    values: dict[str, Any] = {}
    for field in provider.fields:
        raw = str(form.get(f"{prefix}-{field.name}", "")).strip()
        if field.secret and keep_secrets and not raw:
            continue
        if raw or keep_secrets:
            values[field.name] = raw
    return values


def _provider_of(kind: str) -> Provider:
    provider = registry().get(kind)
    if provider is None:
        raise NotFound(f"no DNS provider kind {kind!r}")
    return provider


@bp.post("/tenants/<int:tenant_id>/settings/dns/providers")
def dns_provider_create(tenant_id: int) -> Response:
    """Add a provider account (options validated by its module, secrets sealed)."""
    tenant = _managed(tenant_id)
    kind = request.form.get("kind", "")
    provider = _provider_of(kind)
    name = request.form.get("name", "").strip()[:64]
    try:
        if not name:
            raise ValidationFailed("give the account a name")
        with db.session.begin_nested():
            options = _options(provider, request.form, kind, keep_secrets=False)
            row = accounts.add_provider(tenant, name, kind, options, _key())
    except AppError as exc:
        flash(f"{provider.label} not added: {_failed(exc)}.", "error")
        return _back(tenant, f"#add-{kind}")
    flash(f"DNS provider account {row.name} added. Test the connection next.", "ok")
    return _back(tenant, f"#provider-{row.id}")


@bp.post("/tenants/<int:tenant_id>/settings/dns/providers/<int:provider_id>")
def dns_provider_update(tenant_id: int, provider_id: int) -> Response:
    """Rename the account or change its options (an empty secret keeps its stored value)."""
    tenant = _managed(tenant_id)
    row = _account(tenant, provider_id)
    provider = _provider_of(row.kind)
    name = request.form.get("name", "").strip()[:64] or None
    options = _options(provider, request.form, f"edit-{row.id}", keep_secrets=True)
    try:
        with db.session.begin_nested():
            accounts.update_provider(row, options, _key(), name)
    except AppError as exc:
        flash(f"{row.name} not saved: {_failed(exc)}.", "error")
        return _back(tenant, f"#provider-{row.id}")
    flash(f"DNS provider account {row.name} saved.", "ok")
    return _back(tenant, f"#provider-{row.id}")


@bp.post("/tenants/<int:tenant_id>/settings/dns/providers/<int:provider_id>/test")
def dns_provider_test(tenant_id: int, provider_id: int) -> Response:
    """Read each zone with the account's credentials and say what happened (audited)."""
    tenant = _managed(tenant_id)
    row = _account(tenant, provider_id)
    zone = request.form.get("zone", "").strip() or None
    timeout = publish_settings(current_app.config).timeout
    try:
        results = accounts.test_provider(row, zone, _key(), timeout)
    except AppError as exc:
        flash(f"{row.name} was not tested: {exc.detail}.", "error")
        return _back(tenant, f"#provider-{row.id}")
    for result in results:
        if result["ok"]:
            flash(f"{row.name} can read zone {result['zone']}: {result['detail']}.", "ok")
        else:
            flash(
                f"{row.name} cannot read zone {result['zone']}: {result['detail']}. "
                "Check the server address and the key, then test again.",
                "error",
            )
    return _back(tenant, f"#provider-{row.id}")


@bp.route(
    "/tenants/<int:tenant_id>/settings/dns/providers/<int:provider_id>/remove",
    methods=["GET", "POST"],
)
def dns_provider_remove(tenant_id: int, provider_id: int) -> Any:
    """GET asks (works without script); POST removes the account (its domains go manual)."""
    signed_in()  # a page: an anonymous visitor is sent to the login first
    tenant = _managed(tenant_id)
    row = _account(tenant, provider_id)
    if request.method == "GET":
        zones = accounts.zones_of(row)
        return confirm_page(
            Confirmation(
                title=f"Remove DNS provider account {row.name}?",
                consequence=(
                    "Nothing is written through it any more; "
                    + (
                        f"the domains it publishes ({', '.join(zones)}) go back to manual "
                        "publishing."
                        if zones
                        else "no domain publishes through it."
                    )
                ),
                button=f"Remove {row.name}",
                post_url=url_for(
                    "web.dns_provider_remove", tenant_id=tenant.id, provider_id=row.id
                ),
                cancel_url=url_for(SETTINGS, tenant_id=tenant.id) + f"#provider-{row.id}",
            )
        )
    name = row.name
    accounts.delete_provider(row)
    flash(f"DNS provider account {name} removed.", "ok")
    return _back(tenant)


@bp.post("/tenants/<int:tenant_id>/settings/dns/mode")
def dns_mode(tenant_id: int) -> Response:
    """The tenant's default publish mode (automatic only with automatic escalation)."""
    tenant = _managed(tenant_id)
    try:
        with db.session.begin_nested():
            mode = accounts.set_tenant_mode(tenant, request.form.get("mode", ""))
    except AppError as exc:
        flash(f"Publish mode not changed: {_failed(exc)}.", "error")
        return _back(tenant, "#mode")
    flash(f"Publish mode of {tenant.name}: {MODE_WORDS[mode][0]}.", "ok")
    return _back(tenant, "#mode")


# --- the domain page's actions -----------------------------------------------------------------


def _managed_domain(domain_id: int) -> Domain:
    signed_in()
    domain = get_scoped(Domain, domain_id)
    require_manage(domain.tenant_id)
    return domain


def _to_domain(domain: Domain) -> Response:
    return redirect(url_for("web.domain_view", domain_id=domain.id) + "#publishing")


@bp.post("/domains/<int:domain_id>/publishing")
def domain_publishing(domain_id: int) -> Response:
    """The domain's provider account, zone and publish mode (blank: the client's default)."""
    domain = _managed_domain(domain_id)
    form = request.form
    current = accounts.publishing_of(domain)
    raw_id = form.get("provider_id", "")
    delegated = bool(current and current.delegated)
    if form.get("hosted") == "1":  # the form offers the hosted zone: its checkbox decides
        delegated = form.get("delegated") == "on"
    try:
        with db.session.begin_nested():
            accounts.set_domain_provider(
                domain,
                int(raw_id) if raw_id.isdigit() else None,
                zone=form.get("zone", "").strip() or None,
                mode=form.get("mode") or None,
                delegated=delegated,
                mta_sts_mode=current.mta_sts_mode if current else None,
            )
    except AppError as exc:
        flash(f"Publishing of {domain.name} not changed: {_failed(exc)}.", "error")
        return _to_domain(domain)
    flash(f"Publishing of {domain.name} saved.", "ok")
    return _to_domain(domain)


@bp.route("/domains/<int:domain_id>/publish", methods=["GET", "POST"])
def domain_publish(domain_id: int) -> Any:
    """GET asks; POST writes the issued change now through the provider. ``force`` (admins
    only) writes over a hand edit."""
    principal = signed_in()
    domain = _managed_domain(domain_id)
    force = request.values.get("force") == "1"
    if force and not service.may_publish_over_hand_edit(principal, domain.tenant_id):
        raise Forbidden("only an administrator may publish over a hand edit")
    if request.method == "GET":
        return confirm_page(
            Confirmation(
                title=(
                    f"Publish over the hand edit of {domain.name}?"
                    if force
                    else f"Publish {domain.name}'s record now?"
                ),
                consequence=(
                    "The record someone edited by hand in the client's DNS is replaced by the "
                    "engine's record. Their change is lost (it stays in the audit log)."
                    if force
                    else "The approved record is written through the DNS provider now, "
                    "whatever the publish mode; the next DNS check verifies it."
                ),
                button=f"Publish over the hand edit of {domain.name}"
                if force
                else f"Publish {domain.name} now",
                post_url=url_for("web.domain_publish", domain_id=domain.id),
                cancel_url=url_for("web.domain_view", domain_id=domain.id) + "#publishing",
                fields=(("force", "1"),) if force else (),
            )
        )
    try:
        result = service.publish_domain(domain, force=force)
    except AppError as exc:
        flash(f"Nothing was published: {exc.detail}.", "error")
        return _to_domain(domain)
    flash(*_outcome_words(domain, result))
    return _to_domain(domain)


def _outcome_words(domain: Domain, result: dict[str, Any]) -> tuple[str, str]:
    publication = result.get("publication") or {}
    outcome = result.get("outcome")
    if outcome == "written":
        return (
            f"Written for {domain.name} via {publication.get('provider')}; "
            "the DNS check that follows verifies it.",
            "ok",
        )
    if outcome == "held":
        return (
            f"Not written: the record of {domain.name} was edited by hand "
            f"({publication.get('error')}).",
            "error",
        )
    if outcome == "retrying":
        return (
            f"The DNS provider refused ({publication.get('error')}); it is tried again later.",
            "error",
        )
    if outcome == "failed":
        return (f"The DNS provider kept refusing: {publication.get('error')}.", "error")
    if outcome == "waiting":
        return (
            f"Not written yet for {domain.name}: the client's DNS does not delegate the record "
            f"to the MSP's zone yet ({publication.get('error')}); it is written once it does.",
            "error",
        )
    return (f"Nothing to write for {domain.name} ({outcome}).", "ok")
