"""Domain verification in the browser: whether a domain's reports are routed (it is verified),
and if not the exact TXT record ``_msp-verify.<domain>`` to publish, a "Check now" that looks
for either proof (``msp.domains.verification.verify``, audited), and MSP staff vouching for a
domain. The onboarding's records step and the domain page read :func:`verification_of`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from msp.auth.decorators import require_manage
from msp.db import utcnow
from msp.dns.settings import checker_options
from msp.domains import verification
from msp.domains.models import Domain
from msp.errors import Forbidden
from msp.extensions import db
from msp.policy.loader import report_address
from msp.tenancy.models import Tenant
from msp.tenancy.scope import get_scoped
from msp.web.blueprint import bp
from msp.web.views import signed_in

METHOD_WORDS = {
    "txt": "the verification TXT record was found",
    "dmarc_rua": "the domain's DMARC record sends reports to this client's report address",
    "staff": "MSP staff vouched for it",
    "already": "it was already verified",
}


@dataclass(frozen=True)
class VerificationView:
    """Whether the domain is verified, and if not the TXT record that proves control."""

    verified: bool
    verified_at: datetime | None
    txt_name: str | None
    txt_value: str | None
    report_address: str


def verification_of(domain: Domain, tenant: Tenant) -> VerificationView:
    steps = verification.instructions(domain)
    return VerificationView(
        verified=domain.verified_at is not None,
        verified_at=domain.verified_at,
        txt_name=steps.name if steps else None,
        txt_value=steps.value if steps else None,
        report_address=report_address(tenant, current_app.config),
    )


def check_verification(domain: Domain) -> verification.VerificationResult:
    """Look for either proof now through the DNS checker's resolvers (audited on success)."""
    tenant = db.session.get(Tenant, domain.tenant_id)
    assert tenant is not None  # a domain's tenant is a foreign key
    return verification.verify(
        domain,
        checker_options(current_app.config).resolver,
        report_address=report_address(tenant, current_app.config),
        now=utcnow(),
    )


def result_words(domain: Domain, result: verification.VerificationResult) -> tuple[str, str]:
    if result.verified:
        why = METHOD_WORDS.get(result.method, result.detail)
        return f"{domain.name} is verified ({why}): its reports are routed to this client.", "ok"
    return (
        f"{domain.name} is not verified yet: {result.detail}. DNS changes can take up to an "
        "hour to show; try again later.",
        "error",
    )


def _back(domain: Domain) -> Response:
    target = request.form.get("next", "")
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect(url_for("web.domain_view", domain_id=domain.id) + "#verification")


@bp.post("/domains/<int:domain_id>/verification")
def domain_verification_check(domain_id: int) -> Response:
    """Check now: look for the TXT record (or a DMARC rua with this client's address)."""
    signed_in()
    domain = get_scoped(Domain, domain_id)
    require_manage(domain.tenant_id)
    flash(*result_words(domain, check_verification(domain)))
    return _back(domain)


@bp.post("/domains/<int:domain_id>/verification/vouch")
def domain_verification_vouch(domain_id: int) -> Any:
    """MSP staff vouch for the domain: its reports are routed from now on (audited)."""
    principal = signed_in()
    domain = get_scoped(Domain, domain_id)
    if not principal.is_msp:
        raise Forbidden("only MSP staff may vouch for a domain")
    result = verification.mark_verified(domain, now=utcnow())
    flash(*result_words(domain, result))
    return _back(domain)
