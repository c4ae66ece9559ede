"""The demo tenant of the standalone mode: a client with two domains and a month of aggregate
reports from three receivers, in which a newsletter service fails DKIM alignment and an
undeclared CRM sends as the domain (the shadow IT a newcomer should see at once).

The reports are generated here (deterministic, documentation address ranges) and go through
the real ingestion pipeline.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from msp.tenancy.service import create_tenant, tenant_by_slug

DEMO_SLUG = "demo"
DEMO_DOMAINS = ("demo-client.example", "demo-client-parked.example")
DAYS = 30
RECEIVERS = (
    ("google.com", "noreply-dmarc-support@google.com"),
    ("Outlook.com", "dmarcreport@microsoft.com"),
    ("Yahoo", "dmarchelp@yahooinc.com"),
)
# name, source IPs, messages/day, spf (domain, result), dkim (domain, selector, result)
SENDERS = (
    ("workspace", ("192.0.2.10", "192.0.2.11"), 120, ("{d}", "pass"), ("{d}", "google", "pass")),
    (
        "newsletter",
        ("198.51.100.20",),
        60,
        ("bounce.mailer.example", "pass"),
        ("mailer.example", "s1", "pass"),
    ),
    ("crm", ("203.0.113.30",), 15, ("crm.example", "pass"), None),
    ("forwarder", ("198.51.100.77",), 4, ("list.example", "fail"), ("{d}", "google", "fail")),
)


def _record(
    domain: str, ip: str, count: int, spf: tuple[str, str], dkim: tuple[str, str, str] | None
) -> str:
    spf_domain = spf[0].format(d=domain)
    dkim_ok = dkim is not None and dkim[2] == "pass" and dkim[0].format(d=domain) == domain
    spf_ok = spf[1] == "pass" and spf_domain == domain
    dkim_xml = (
        ""
        if dkim is None
        else (
            f"<dkim><domain>{dkim[0].format(d=domain)}</domain><selector>{dkim[1]}</selector>"
            f"<result>{dkim[2]}</result></dkim>"
        )
    )
    return (
        f"<record><row><source_ip>{ip}</source_ip><count>{count}</count><policy_evaluated>"
        f"<disposition>none</disposition><dkim>{'pass' if dkim_ok else 'fail'}</dkim>"
        f"<spf>{'pass' if spf_ok else 'fail'}</spf></policy_evaluated></row>"
        f"<identifiers><header_from>{domain}</header_from></identifiers><auth_results>"
        f"{dkim_xml}<spf><domain>{spf_domain}</domain><result>{spf[1]}</result></spf>"
        f"</auth_results></record>"
    )


def aggregate_report(domain: str, org: str, email: str, day: datetime, rng: random.Random) -> str:
    begin = int(day.timestamp())
    records = []
    for name, ips, volume, spf, dkim in SENDERS:
        if name == "crm" and day < datetime.now(UTC) - timedelta(days=12):
            continue  # the CRM appears mid-way, as shadow IT does
        for ip in ips:
            count = max(1, int(volume / len(ips) * rng.uniform(0.6, 1.4)))
            records.append(_record(domain, ip, count, spf, dkim))
    return (
        '<?xml version="1.0" encoding="UTF-8"?><feedback><report_metadata>'
        f"<org_name>{org}</org_name><email>{email}</email>"
        f"<report_id>demo-{org.lower()}-{domain}-{begin}</report_id>"
        f"<date_range><begin>{begin}</begin><end>{begin + 86399}</end></date_range>"
        f"</report_metadata><policy_published><domain>{domain}</domain><adkim>r</adkim>"
        "<aspf>r</aspf><p>none</p><sp>none</sp><pct>100</pct></policy_published>"
        + "".join(records)
        + "</feedback>"
    )


def seed_demo() -> None:
    """Create the demo tenant once, with its domains and a month of reports."""
    if tenant_by_slug(DEMO_SLUG) is not None:
        return
    from msp.domains.service import add_domain
    from msp.reports.service import ingest_now

    tenant = create_tenant(DEMO_SLUG, "Demo client")
    domain = add_domain(tenant, DEMO_DOMAINS[0], dkim_selectors=["google"])
    add_domain(tenant, DEMO_DOMAINS[1], parked=True)
    rng = random.Random(7)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for offset in range(DAYS, 0, -1):
        day = today - timedelta(days=offset)
        for org, email in RECEIVERS:
            xml = aggregate_report(domain.name, org, email, day, rng)
            ingest_now(xml.encode(), source="demo", filename=f"{org}!{domain.name}.xml")
