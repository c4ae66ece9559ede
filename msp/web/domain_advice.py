"""Advice on the domain page written with the domain's real values: the SPF record built from
the senders actually seen, a concrete fix per finding, and how to align each failing sender.

Pure functions over what the page has already read (posture, senders, the plan's records); no
database access, so the same advice can be tested table-driven.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from msp.reports.queries import SenderStat

# Sending services by the base domain the enrichment names them by, and the SPF include each
# one documents. A service not listed here is authorised by its busiest addresses instead.
SPF_INCLUDES: Mapping[str, str] = {
    "google.com": "_spf.google.com",
    "googlemail.com": "_spf.google.com",
    "outlook.com": "spf.protection.outlook.com",
    "protection.outlook.com": "spf.protection.outlook.com",
    "microsoft.com": "spf.protection.outlook.com",
    "sendgrid.net": "sendgrid.net",
    "mailgun.org": "mailgun.org",
    "mailgun.net": "mailgun.org",
    "amazonses.com": "amazonses.com",
    "mcsv.net": "servers.mcsv.net",
    "mandrillapp.com": "spf.mandrillapp.com",
    "sparkpostmail.com": "sparkpostmail.com",
    "mtasv.net": "spf.mtasv.net",
    "postmarkapp.com": "spf.mtasv.net",
    "zendesk.com": "mail.zendesk.com",
    "salesforce.com": "_spf.salesforce.com",
    "exacttarget.com": "cust-spf.exacttarget.com",
    "hubspotemail.net": "hubspotemail.net",
    "zoho.com": "zoho.com",
    "zoho.eu": "zoho.eu",
    "mimecast.com": "_netblocks.mimecast.com",
    "freshdesk.com": "email.freshdesk.com",
    "mailjet.com": "spf.mailjet.com",
    "brevo.com": "spf.brevo.com",
    "sendinblue.com": "spf.sendinblue.com",
}
MAX_IPS_PER_SENDER = 5
SPF_LOOKUP_LIMIT = 10
SPF_CODES = frozenset(
    {
        "spf_missing",
        "multiple_spf_records",
        "spf_all_pass",
        "spf_all_neutral",
        "spf_no_all",
        "spf_terms_after_all",
        "spf_syntax_error",
    }
)
DMARC_CODES = frozenset(
    {
        "dmarc_missing",
        "multiple_dmarc_records",
        "dmarc_syntax_error",
        "dmarc_policy_none",
        "dmarc_invalid_tag_value",
        "dmarc_p_missing",
        "dmarc_version_not_first",
        "dmarc_version_invalid",
        "dmarc_rua_missing",
        "dmarc_rua_invalid_uri",
        "dmarc_record_wrong_location",
        "dmarc_deprecated_tag",
        "dmarc_tag_case_nonstandard",
        "parked_dmarc_not_reject",
    }
)
# A parked domain sends no mail and receives none: only these records concern it.
PARKED_PREFIXES = ("spf_", "dmarc_", "parked_", "mx_", "check_failed", "dns_lookup_failed")


@dataclass(frozen=True)
class SpfAdvice:
    """The SPF record to publish and where each of its terms comes from."""

    record: str
    terms: tuple[tuple[str, str], ...]  # (term, why)
    lookups: int
    over_limit: bool


@dataclass(frozen=True)
class Fix:
    """What to publish for one finding: owner name, type and value (or a sentence only)."""

    text: str
    name: str | None = None
    rtype: str | None = None
    value: str | None = None


def _ip_term(ip: str) -> str:
    try:
        version = ipaddress.ip_address(ip).version
    except ValueError:
        return ""
    return f"ip{version}:{ip}"


def _needs_spf(sender: SenderStat) -> bool:
    """Approved senders that use the domain as their envelope, or that align by neither
    mechanism yet; a sender aligned by DKIM alone needs no SPF term."""
    if sender.status != "approved":
        return False
    return sender.spf_aligned_pass > 0 or sender.dkim_aligned_pass == 0


def _published_terms(published: Mapping[str, Any] | None) -> list[str]:
    record = (published or {}).get("record") or ""
    return [
        t
        for t in record.split()[1:]
        if not t.lower().endswith("all") and not t.lower().startswith("redirect=")
    ]


def _sender_terms(sender: SenderStat) -> list[str]:
    include = SPF_INCLUDES.get(sender.key.lower())
    if include:
        return [f"include:{include}"]
    ips = [ip.ip for ip in sender.network.top_ips] if sender.network else []
    if not ips and sender.key.startswith("ip:"):
        ips = [sender.key.removeprefix("ip:")]
    return [t for t in (_ip_term(ip) for ip in ips[:MAX_IPS_PER_SENDER]) if t]


def suggest_spf(senders: Iterable[SenderStat], published: Mapping[str, Any] | None) -> SpfAdvice:
    """``v=spf1 <terms> -all``: the published record's terms kept, each approved sender that
    needs SPF added by its documented include or its busiest addresses."""
    terms: dict[str, str] = {t: "already published" for t in _published_terms(published)}
    for sender in senders:
        if _needs_spf(sender):
            for term in _sender_terms(sender):
                terms.setdefault(term, f"approved sender {sender.display_name}")
    lookups = sum(1 for t in terms if t.split(":")[0].lstrip("+?~-") in {"include", "a", "mx"})
    record = " ".join(["v=spf1", *terms, "-all"])
    return SpfAdvice(record, tuple(terms.items()), lookups, lookups > SPF_LOOKUP_LIMIT)


def relevant_findings(findings: Sequence[Any], parked: bool) -> list[Any]:
    """The findings the domain's role makes relevant (a parked domain: its parked records)."""
    if not parked:
        return list(findings)
    return [f for f in findings if f.code.startswith(PARKED_PREFIXES)]


def _record_value(records: Sequence[Mapping[str, str]], rtype: str, prefix: str) -> Fix | None:
    for record in records:
        if record["type"] == rtype and record["value"].startswith(prefix):
            return Fix("Publish", record["name"], rtype, record["value"])
    return None


def fix_for(
    code: str,
    domain: str,
    spf: SpfAdvice,
    records: Sequence[Mapping[str, str]],
    report_address: str,
) -> Fix | None:
    """The concrete record that resolves ``code`` for this domain, when there is one."""
    if code in SPF_CODES or code == "parked_spf_not_fail_all":
        found = _record_value(records, "TXT", "v=spf1")
        return found or Fix("Publish one SPF record", domain, "TXT", spf.record)
    if code == "spf_too_many_lookups":
        return Fix(
            "Replace includes of services you no longer use; this record needs "
            f"{spf.lookups} lookups",
            domain,
            "TXT",
            spf.record,
        )
    if code in DMARC_CODES:
        return _record_value(records, "TXT", "v=DMARC1")
    if code == "parked_mx_not_null":
        return _record_value(records, "MX", "0 .")
    if code in {"tlsrpt_missing", "tlsrpt_rua_invalid", "tlsrpt_record_invalid"}:
        return Fix("Publish", f"_smtp._tls.{domain}", "TXT", f"v=TLSRPTv1; rua={report_address}")
    return None


def alignment_hint(sender: SenderStat, domain: str) -> str | None:
    """How to make a sender that fails DMARC pass it (None when it passes)."""
    if sender.messages == 0 or sender.dmarc_pass >= sender.messages:
        return None
    if sender.status in {"forwarder", "abuse"}:
        return None  # nothing to align: forwarded or forged mail
    if sender.dkim_aligned_pass == 0:
        # an unnamed sender is only an address: name the service behind it, not the number
        who = (
            f"the service that sends from {sender.display_name}"
            if sender.key.startswith("ip:")
            else sender.display_name
        )
        return (
            f"Turn on DKIM signing with d={domain} in {who} and publish the selector it gives "
            "you; DKIM survives forwarding, SPF does not. If this is a mailing list or a "
            "forwarder that passes your mail on, mark it as a forwarder instead."
        )
    return (
        f"Part of its mail is not signed with d={domain}: check every stream (bulk and "
        "transactional) signs with the domain's key, or set its bounce address to a "
        f"subdomain of {domain} so SPF aligns."
    )
