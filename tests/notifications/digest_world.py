"""A tenant with a week worth telling, for the digest tests: domains at each protection level,
DNS checks now and a week ago, aggregate-report roll-ups over twelve weeks (one sender new
this week, one that fails DKIM), policy plans (one with a change waiting for approval), and
the week's events. Written through the models the areas own, as their services would."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app

from msp.dns.models import PostureRun
from msp.domains.models import Domain
from msp.events import emit_event
from msp.extensions import db
from msp.policy.loader import report_address
from msp.policy.models import PolicyChange, PolicyPlan
from msp.reports.models import IpInfo, Report, ReportDaily, Sender
from msp.tenancy.models import Tenant
from tests.factories import make_domain, make_tenant

GOOGLE_IP, NEWSLETTER_IP, CRM_IP = "192.0.2.10", "198.51.100.20", "203.0.113.30"
REPORTERS = ("google.com", "Microsoft Corporation", "Yahoo")


def posture_result(policy: str | None, grade: str, rua: str) -> dict[str, Any]:
    """A stored check result (the checker's JSON) with the parts the posture view reads."""
    tags = {"v": "DMARC1", "p": policy, "rua": rua} if policy else {}
    return {
        "dmarc": {
            "record": "; ".join(f"{k}={v}" for k, v in tags.items()) if policy else None,
            "tags": tags,
            "status": "valid" if policy else "missing",
            "location": "_dmarc" if policy else None,
            "policy_applied": {"policy": policy},
            "policy_applied_rfc7489": {"policy": policy},
        },
        "spf": {
            "valid": True,
            "dns_lookups": 3,
            "status": "valid",
            "record": "v=spf1 include:_spf.google.com ~all",
        },
        "dkim": {"google": {"valid": True, "status": "valid"}},
        "mx": {"status": "valid", "null_mx": False},
        "mta_sts": {"policy": None},
        "findings": [],
        "grade": grade,
    }


def _rua(domain: Domain) -> str:
    tenant = db.session.get(Tenant, domain.tenant_id)
    assert tenant is not None
    return report_address(tenant, current_app.config)


def check(domain: Domain, policy: str | None, grade: str, at: datetime) -> PostureRun:
    run = PostureRun(
        tenant_id=domain.tenant_id,
        domain_id=domain.id,
        checked_at=at,
        grade=grade,
        spf_status="valid",
        dmarc_status="valid" if policy else "missing",
        dmarc_policy=policy,
        result=posture_result(policy, grade, _rua(domain)),
    )
    db.session.add(run)
    return run


def _mail(domain: Domain, day: date, ip: str, messages: int, dkim: bool = True) -> None:
    db.session.add(
        ReportDaily(
            tenant_id=domain.tenant_id,
            domain_id=domain.id,
            day=day,
            source_ip=ip,
            header_from=domain.name,
            disposition="none",
            spf_aligned=ip == GOOGLE_IP,
            dkim_aligned=dkim,
            messages=messages,
        )
    )


def _reports(domain: Domain, now: datetime) -> None:
    for org in REPORTERS:
        db.session.add(
            Report(
                tenant_id=domain.tenant_id,
                domain_id=domain.id,
                kind="aggregate",
                org_name=org,
                external_id=f"{org}-{domain.id}",
                policy_domain=domain.name,
                begin=now - timedelta(days=30),
                end=now - timedelta(days=1),
            )
        )


def _traffic(domain: Domain, now: datetime, *, newsletter: bool, crm_from: date | None) -> None:
    """Twelve weeks of mail: Google Workspace (aligned), maybe a newsletter service without
    DKIM, and from ``crm_from`` a CRM nobody has classified yet."""
    for back in range(1, 92):
        day = (now - timedelta(days=back)).date()
        _mail(domain, day, GOOGLE_IP, 900 + 7 * (back % 5))
        if newsletter:
            _mail(domain, day, NEWSLETTER_IP, 480 + 3 * (back % 3), dkim=back > 60)
        if crm_from is not None and day >= crm_from:
            _mail(domain, day, CRM_IP, 40)
    db.session.add(
        Sender(
            tenant_id=domain.tenant_id,
            domain_id=domain.id,
            key="google",
            name="Google",
            status="approved",
        )
    )
    if newsletter:
        db.session.add(
            Sender(
                tenant_id=domain.tenant_id,
                domain_id=domain.id,
                key="newsletter",
                name="Newsletter Co",
                status="approved",
            )
        )
    _reports(domain, now)


def _ip_names() -> None:
    for ip, key, name in (
        (GOOGLE_IP, "google", "Google Workspace"),
        (NEWSLETTER_IP, "newsletter", "Newsletter Co"),
        (CRM_IP, "crm", "Acme CRM"),
    ):
        if db.session.get(IpInfo, ip) is None:
            db.session.add(IpInfo(ip=ip, sender_key=key, sender_name=name, complete=True))


def _plan(domain: Domain, stage: str, since: datetime) -> None:
    db.session.add(
        PolicyPlan(
            tenant_id=domain.tenant_id,
            domain_id=domain.id,
            stage=stage,
            stage_since=since,
            readiness=0,
            last_evaluation={},
        )
    )


@dataclass
class World:
    tenant: Tenant
    reject: Domain
    shop: Domain
    mail: Domain
    legacy: Domain
    parked: Domain


def _domains(tenant: Tenant) -> World:
    return World(
        tenant,
        make_domain(tenant, "contoso.example"),
        make_domain(tenant, "shop.contoso.example"),
        make_domain(tenant, "mail.contoso.example"),
        make_domain(tenant, "legacy.contoso.example"),
        make_domain(tenant, "old.contoso.example", parked=True),
    )


def _checks(w: World, now: datetime) -> None:
    week_ago, today = now - timedelta(days=8), now - timedelta(hours=3)
    for domain, before, after, grade in (
        (w.reject, "quarantine", "reject", "A"),
        (w.shop, "none", "quarantine", "B"),
        (w.mail, "none", "none", "C"),
        (w.legacy, None, None, "F"),
    ):
        check(domain, before, grade, week_ago)
        check(domain, after, grade, today)


def _events(w: World, now: datetime) -> None:
    t = w.tenant.id
    events = [
        emit_event(t, "dns.drift", {"key": "spf", "old": "a", "new": "b"}, domain_id=w.shop.id),
        emit_event(t, "dns.finding.opened", {"code": "spf_softfail_all",
                   "message": "SPF ends in ~all"}, domain_id=w.mail.id, severity="warning"),
        emit_event(t, "dns.finding.closed", {"code": "dmarc_missing",
                   "message": "no DMARC record"}, domain_id=w.reject.id),
        emit_event(t, "policy.published", {"summary": "p=reject published", "stage": "reject"},
                   domain_id=w.reject.id),
    ]  # fmt: skip
    for event in events:
        event.at = now - timedelta(days=2)


def seed_world(now: datetime, name: str = "Contoso Ltd") -> World:
    """The tenant and everything its digest at ``now`` reads."""
    tenant = make_tenant(name=name, timezone="Europe/Berlin")
    w = _domains(tenant)
    _ip_names()
    _checks(w, now)
    _traffic(w.reject, now, newsletter=False, crm_from=None)
    _traffic(w.shop, now, newsletter=True, crm_from=(now - timedelta(days=4)).date())
    _traffic(w.mail, now, newsletter=False, crm_from=None)
    _plan(w.reject, "reject", now - timedelta(days=60))
    _plan(w.shop, "quarantine", now - timedelta(days=30))
    _plan(w.mail, "monitor", now - timedelta(days=40))
    _plan(w.legacy, "none", now - timedelta(days=3))
    db.session.flush()
    db.session.add(
        PolicyChange(
            tenant_id=tenant.id,
            domain_id=w.mail.id,
            kind="escalate",
            from_stage="monitor",
            to_stage="quarantine_test",
            status="proposed",
            proposed_at=now - timedelta(days=1),
        )
    )
    _events(w, now)
    db.session.flush()
    return w
