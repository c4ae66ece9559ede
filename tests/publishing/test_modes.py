"""Publish modes: manual by default, per tenant and overridable per domain; ``automatic`` only
for tenants opted into automatic escalation, and only then are auto-approved changes written."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from msp.db import utcnow
from msp.errors import ValidationFailed
from msp.extensions import db
from msp.policy import service as policy
from msp.policy.models import PolicyChange
from msp.publishing import accounts, service
from msp.publishing.settings import Mode, validation_errors
from tests.factories import make_domain, make_tenant
from tests.publishing.conftest import DnsEvidence, check_now, wire
from tests.publishing.servers import TsigKnot


def test_the_tenant_setting_accepts_known_modes_only() -> None:
    assert validation_errors({"mode": "on_approval"}) == {}
    assert validation_errors({"mode": "sometimes", "colour": "red"}) == {
        "mode": "one of manual, on_approval, automatic",
        "colour": "unknown publishing setting",
    }


def test_automatic_needs_the_opt_in_and_a_domain_may_override(db_session: Any) -> None:
    tenant = make_tenant()
    domain = make_domain(tenant)
    assert accounts.effective_mode(tenant, domain, None) is Mode.MANUAL
    with pytest.raises(ValidationFailed):
        accounts.set_tenant_mode(tenant, "automatic")
    accounts.set_tenant_mode(tenant, "on_approval")
    row = accounts.set_domain_provider(domain, None, mode="manual")
    assert accounts.effective_mode(tenant, domain, row) is Mode.MANUAL
    tenant.settings = {**tenant.settings, "policy": {"auto_escalate": True}}
    accounts.set_tenant_mode(tenant, "automatic")
    assert accounts.effective_mode(tenant, domain, None) is Mode.AUTOMATIC
    tenant.settings = {**tenant.settings, "policy": {"auto_escalate": False}}
    assert accounts.effective_mode(tenant, domain, None) is Mode.ON_APPROVAL  # opt-in withdrawn


def test_an_auto_approved_change_is_written_only_in_automatic_mode(
    db_session: Any, knot: TsigKnot, evidence: DnsEvidence
) -> None:
    tenant = make_tenant(settings={"policy": {"auto_escalate": True}})
    wired = wire(knot.options(), tenant=tenant)
    at = utcnow()
    check_now(knot.nameserver, wired.domain.id, at - timedelta(minutes=5))
    policy.evaluate_domain(wired.domain.id, at, force=True)
    change = db.session.scalars(select(PolicyChange)).one()
    assert change.decided_by == "auto-escalation"
    policy.schedule(change, at, at)
    assert policy.advance_change(change.id, at) == "published"
    assert service.publish_change(change.id, at) == "manual"  # on_approval: a person approves
    accounts.set_tenant_mode(tenant, "automatic")
    assert service.publish_change(change.id, at) == "written"


def test_the_tenant_settings_object_takes_a_publishing_key_checked_by_this_area() -> None:
    from msp.tenancy.settings import validate_settings

    assert validate_settings({"publishing": {"mode": "on_approval"}})
    with pytest.raises(ValidationFailed) as caught:
        validate_settings({"publishing": {"mode": "yes-please"}})
    assert "publishing" in str(caught.value.errors)
