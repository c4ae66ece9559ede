"""The onboarding wizard: a new client (name, time zone, plan, change window), its domains
(one or a pasted list), the exact records to publish for each domain with a "check now" that
runs the DNS checker and turns each record green or red, then inviting the client's people.

Every write goes through the services the API uses (create_tenant, add_domain,
check_domain_now), which audit; the records come from the policy area's record builder with the
tenant's report address, so the wizard never spells a record itself."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from msp.auth.decorators import require_manage, require_unrestricted_msp
from msp.billing.entitlements import PLANS
from msp.dns import service as dns_service
from msp.domains import verification
from msp.domains.models import Domain
from msp.domains.service import add_domain
from msp.errors import AppError, NotFound, ValidationFailed
from msp.extensions import db
from msp.policy.loader import domain_settings, record_options, report_address
from msp.policy.records import DmarcRecord, dmarc_for_stage, record_mismatches
from msp.policy.settings import WEEKDAYS
from msp.policy.stages import Stage
from msp.publishing import delegation
from msp.publishing import service as publishing_service
from msp.publishing.delegation import CnameCheck
from msp.publishing.settings import publish_settings
from msp.tenancy.models import Tenant
from msp.tenancy.scope import get_scoped
from msp.tenancy.service import SLUG_RE, create_tenant
from msp.web.blueprint import bp
from msp.web.tenant_dashboard import address_warning
from msp.web.verification_pages import check_verification
from msp.web.views import signed_in

MAX_DOMAINS_AT_ONCE = 200
COMMON_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Berlin",
    "Europe/Paris",
    "Europe/Amsterdam",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Toronto",
    "Australia/Sydney",
    "Asia/Singapore",
)
DAY_NAMES = dict(
    zip(
        WEEKDAYS,
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        strict=True,
    )
)


@dataclass(frozen=True)
class RecordToPublish:
    """One DNS record the client (or the MSP) publishes, and what the last check found."""

    key: str
    title: str
    who: str
    name: str
    rtype: str
    value: str
    why: str
    status: str  # ok | missing | unchecked
    found: str


@dataclass(frozen=True)
class DomainRecords:
    domain: Domain
    checked_at: Any
    records: list[RecordToPublish]
    # the one-time CNAMEs into the MSP's hosted zone (empty when none is configured)
    delegation: list[RecordToPublish] = field(default_factory=list)

    @property
    def all_ok(self) -> bool:
        return all(r.status == "ok" for r in self.records)


# --- step 1: the client ------------------------------------------------------------------------


def slug_from(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63].strip("-")


def _tenant_form(form: Any) -> tuple[str, dict[str, Any]]:
    name = form.get("name", "").strip()
    if not name:
        raise ValidationFailed("the client needs a name", errors={"name": ["required"]})
    slug = form.get("slug", "").strip().lower() or slug_from(name)
    days = [d for d in form.getlist("window_days") if d in WEEKDAYS] or list(WEEKDAYS[:4])
    hours = form.get("window_hours", "4")
    window = {
        "days": days,
        "start": form.get("window_start", "10:00") or "10:00",
        "hours": int(hours) if hours.isdigit() else hours,
    }
    fields = {
        "name": name[:200],
        "timezone": form.get("timezone", "UTC").strip() or "UTC",
        "plan": form.get("plan", "standard") if form.get("plan") in PLANS else "standard",
        "settings": {"policy": {"change_window": window}},
    }
    return slug, fields


def _form_context(form: Any, errors: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "form": form,
        "errors": errors or {},
        "zones": COMMON_ZONES,
        "plans": list(PLANS),
        "day_names": DAY_NAMES,
        "step": 1,
    }


@bp.route("/onboard", methods=["GET", "POST"])
def onboard_tenant() -> Any:
    """Step 1: a new client."""
    principal = signed_in()
    require_unrestricted_msp()
    if request.method == "GET":
        return render_template("onboard/tenant.html", principal=principal, **_form_context({}))
    try:
        slug, fields = _tenant_form(request.form)
        if not SLUG_RE.match(slug):
            raise ValidationFailed(
                "short name: letters, digits and hyphens only",
                errors={"slug": ["letters, digits and hyphens only"]},
            )
        tenant = create_tenant(slug, **fields)
    except AppError as exc:
        context = _form_context(request.form, _flat_errors(exc))
        return render_template(
            "onboard/tenant.html", principal=principal, failure=exc.detail, **context
        ), 422
    flash(f"Client {tenant.name} created. Now add its domains.", "ok")
    return redirect(url_for("web.onboard_domains", tenant_id=tenant.id))


def _flat_errors(exc: AppError) -> dict[str, Any]:
    errors = exc.errors if isinstance(exc.errors, dict) else {}
    settings = errors.get("settings")
    if isinstance(settings, dict):
        errors = {**errors, "window": str(settings.get("policy", settings))}
    return errors


# --- step 2: the domains -----------------------------------------------------------------------


def split_domains(text: str) -> list[str]:
    """Names from a pasted list: one per line, or separated by commas, semicolons or spaces."""
    seen: dict[str, None] = {}
    for part in re.split(r"[\s,;]+", text):
        name = part.strip().strip(".").lower()
        if name:
            seen.setdefault(name, None)
    return list(seen)


def add_domains(tenant: Tenant, names: list[str]) -> tuple[list[Domain], dict[str, str]]:
    """Add each name on its own (a savepoint each): one bad name does not lose the others."""
    added, failed = [], {}
    for name in names[:MAX_DOMAINS_AT_ONCE]:
        try:
            with db.session.begin_nested():
                added.append(add_domain(tenant, name))
        except AppError as exc:
            failed[name] = exc.detail
    for name in names[MAX_DOMAINS_AT_ONCE:]:
        failed[name] = f"not added: at most {MAX_DOMAINS_AT_ONCE} domains at once"
    return added, failed


def _managed_tenant(tenant_id: int) -> Tenant:
    tenant = get_scoped(Tenant, tenant_id)
    require_manage(tenant.id)
    return tenant


@bp.route("/onboard/<int:tenant_id>/domains", methods=["GET", "POST"])
def onboard_domains(tenant_id: int) -> Any:
    """Step 2: the client's domains, one or a pasted list."""
    principal = signed_in()
    tenant = _managed_tenant(tenant_id)
    existing = _domains(tenant)
    if request.method == "GET":
        return render_template(
            "onboard/domains.html",
            principal=principal,
            tenant=tenant,
            existing=existing,
            failed={},
            text="",
            step=2,
        )
    names = split_domains(request.form.get("domains", ""))
    if not names:
        failed = {"": "write at least one domain name, such as example.com"}
        return render_template(
            "onboard/domains.html",
            principal=principal,
            tenant=tenant,
            existing=existing,
            failed=failed,
            text="",
            step=2,
        ), 422
    added, failed = add_domains(tenant, names)
    if added:
        flash(
            f"Added {len(added)} domain{'s' if len(added) != 1 else ''}: "
            + ", ".join(d.name for d in added),
            "ok",
        )
    if failed:
        # 200 when some were added: the response commits them (an error status rolls back).
        return render_template(
            "onboard/domains.html",
            principal=principal,
            tenant=tenant,
            existing=_domains(tenant),
            failed=failed,
            text="\n".join(failed),
            step=2,
        ), 200 if added else 422
    return redirect(url_for("web.onboard_records", tenant_id=tenant.id))


def _domains(tenant: Tenant) -> list[Domain]:
    return list(
        db.session.scalars(
            select(Domain).where(Domain.tenant_id == tenant.id).order_by(Domain.name)
        )
    )


# --- step 3: the records -----------------------------------------------------------------------


def _dmarc_status(expected: DmarcRecord, domain: Domain, result: dict[str, Any]) -> tuple[str, str]:
    dmarc = result.get("dmarc") or {}
    if dmarc.get("location") != f"_dmarc.{domain.name}" or not dmarc.get("record"):
        return "missing", "no DMARC record at this name yet"
    problems = record_mismatches(expected, dmarc.get("tags") or {})
    if problems:
        return "missing", f"found {dmarc['record']!r}, which differs: " + "; ".join(problems)
    return "ok", f"found {dmarc['record']}"


def _authorisation_status(address: str, result: dict[str, Any]) -> tuple[str, str]:
    for destination in (result.get("dmarc") or {}).get("destinations") or []:
        if address in str(destination.get("uri", "")):
            if destination.get("authorized"):
                return "ok", "the reports domain accepts reports for this domain"
            if destination.get("authorized") is False:
                return "missing", "the reports domain has not authorised this domain yet"
    return "unchecked", "checked once the DMARC record names the report address"


def _tls_status(address: str, result: dict[str, Any]) -> tuple[str, str]:
    tls = result.get("tls_rpt") or {}
    if f"mailto:{address}" in (tls.get("rua") or []):
        return "ok", f"found {tls.get('record')}"
    if tls.get("record"):
        return "missing", f"found {tls['record']!r}, which does not send reports to us"
    return "missing", "no TLS-RPT record yet"


def records_for(tenant: Tenant, domain: Domain, config: Any) -> DomainRecords:
    """The records to publish for ``domain``, each marked by the latest DNS check."""
    options = record_options(tenant, domain_settings(tenant, domain), config)
    stage = Stage.PARKED if domain.parked else Stage.MONITOR
    expected = dmarc_for_stage(stage, options)
    address = report_address(tenant, config).removeprefix("mailto:")
    reports_host = address.partition("@")[2]
    run = dns_service.latest_run(domain.id)
    result = run.result if run else {}

    def status(pair: tuple[str, str]) -> tuple[str, str]:
        return pair if run else ("unchecked", "not checked yet: press Check now")

    dmarc = status(_dmarc_status(expected, domain, result))
    auth = status(_authorisation_status(address, result))
    tls = status(_tls_status(address, result))
    records = [
        RecordToPublish(
            "dmarc",
            "DMARC policy",
            "the client's DNS",
            f"_dmarc.{domain.name}",
            "TXT",
            expected.text(),
            "starts in monitoring (p=none): nothing is blocked, receivers send us daily reports"
            if stage is Stage.MONITOR
            else "a parked domain sends no mail: reject everything claiming to be it",
            *dmarc,
        ),
        RecordToPublish(
            "report-auth",
            "Report authorisation",
            "the MSP's DNS (once per domain)",
            f"{domain.name}._report._dmarc.{reports_host}",
            "TXT",
            "v=DMARC1",
            f"reports go to another domain ({reports_host}); receivers only send "
            "them if that domain says it accepts them (RFC 7489 section 7.1)",
            *auth,
        ),
        RecordToPublish(
            "tls-rpt",
            "TLS reporting",
            "the client's DNS",
            f"_smtp._tls.{domain.name}",
            "TXT",
            f"v=TLSRPTv1; rua=mailto:{address}",
            "receivers report failed encrypted deliveries to the client's mail servers",
            *tls,
        ),
    ]
    proof = verification_record(domain, checked=run is not None)
    return DomainRecords(
        domain,
        run.checked_at if run else None,
        [proof, *records] if proof else records,
        delegation_records(domain),
    )


def verification_record(domain: Domain, *, checked: bool) -> RecordToPublish | None:
    """The TXT record that proves control of a domain a client's user added (its reports wait
    until then); None for a domain MSP staff added (verified from the start)."""
    steps = verification.instructions(domain)
    if steps is None:
        return None
    if domain.verified_at is not None:
        status = ("ok", "verified: its reports are routed to this client")
    elif checked:
        status = ("missing", "not found yet: the domain's reports wait until it is")
    else:
        status = ("unchecked", "not checked yet: press Check now")
    return RecordToPublish(
        "verify",
        "Proof of control",
        "the client's DNS",
        steps.name,
        "TXT",
        steps.value,
        "shows that the client controls this domain, so its reports are routed to it",
        *status,
    )


def delegation_records(
    domain: Domain, found: dict[str, CnameCheck] | None = None
) -> list[RecordToPublish]:
    """The CNAMEs that hand the records to the MSP's hosted zone (``MSP_HOSTED_ZONE``); their
    status only after a check (``found``: what the lookup saw, by name)."""
    if not publish_settings(current_app.config).hosted_zone:
        return []
    records = []
    for cname in publishing_service.delegation(domain)["records"]:
        seen = (found or {}).get(cname["name"])
        if seen is None and found is not None:  # the mta-sts host: receivers fetch it
            status = ("unchecked", "not looked up here: receivers fetch the MTA-STS policy there")
        elif seen is None:
            status = ("unchecked", "checked when you press Check now")
        elif seen.ok:
            status = ("ok", f"found: points at {seen.found}")
        else:
            status = ("missing", seen.problem or "not found")
        records.append(
            RecordToPublish(
                "cname-" + cname["name"].split(".", 1)[0].strip("_"),
                f"Delegation of {cname['name']}",
                "the client's DNS (once)",
                cname["name"],
                "CNAME",
                cname["value"],
                "the MSP then publishes this record in its own zone",
                *status,
            )
        )
    return records


def _check_delegation(checked: DomainRecords) -> DomainRecords:
    """Look the delegation CNAMEs up now (Check now) and mark each."""
    hosted = publish_settings(current_app.config).hosted_zone
    if not checked.delegation or not hosted:
        return checked
    found = delegation.check(checked.domain.name, hosted, current_app.config)
    return replace(
        checked,
        delegation=delegation_records(checked.domain, {c.name: c for c in found}),
    )


@bp.get("/onboard/<int:tenant_id>/records")
def onboard_records(tenant_id: int) -> Any:
    """Step 3: the exact records to publish, with their live status."""
    principal = signed_in()
    tenant = _managed_tenant(tenant_id)
    config = current_app.config
    domains = [records_for(tenant, d, config) for d in _domains(tenant)]
    return render_template(
        "onboard/records.html",
        principal=principal,
        tenant=tenant,
        domains=domains,
        warning=address_warning(config),
        step=3,
    )


@bp.post("/onboard/<int:tenant_id>/domains/<int:domain_id>/check")
def onboard_check(tenant_id: int, domain_id: int) -> Any:
    """Check now: run the DNS checker for one domain and show its records' status."""
    signed_in()
    tenant = _managed_tenant(tenant_id)
    domain = get_scoped(Domain, domain_id)
    if domain.tenant_id != tenant.id:
        raise NotFound(f"domain {domain_id} not found")
    view = dns_service.check_domain_now(domain.id)
    if domain.verified_at is None and domain.verification_token is not None:
        check_verification(domain)
    checked = _check_delegation(records_for(tenant, domain, current_app.config))
    if request.headers.get("HX-Request"):
        return render_template("onboard/_domain_records.html", item=checked, tenant=tenant)
    good = sum(r.status == "ok" for r in checked.records)
    cnames = [r for r in checked.delegation if r.status != "unchecked"]
    delegated = (
        f" Delegation: {sum(r.status == 'ok' for r in cnames)} of {len(cnames)} CNAMEs found."
        if cnames
        else ""
    )
    flash(
        f"{domain.name} checked (grade {view.grade}): {good} of {len(checked.records)} "
        f"records in place.{delegated}",
        "ok" if checked.all_ok else "warning",
    )
    return redirect(url_for("web.onboard_records", tenant_id=tenant.id) + f"#domain-{domain.id}")


@bp.get("/onboard/<int:tenant_id>/people")
def onboard_people(tenant_id: int) -> Response | str:
    """Step 4: invite the client's people (the people page does the inviting)."""
    principal = signed_in()
    tenant = _managed_tenant(tenant_id)
    return render_template("onboard/people.html", principal=principal, tenant=tenant, step=4)
