"""Finding catalogue of the DNS checker: stable codes, severities, messages and remediation.

The shared codes come from ``finding-codes.json`` (kept beside the repository, copied here so the
package works on its own); codes this project adds where none fitted are marked ``own=True``.
A finding is data, never an exception: every problem a check sees becomes one :class:`Finding`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class FindingType:
    """One code of the catalogue."""

    code: str
    severity: Severity
    message: str
    remediation: str
    source: str
    own: bool = False


@dataclass(frozen=True)
class Finding:
    """One problem seen on one domain; ``detail`` names the record, selector or term involved."""

    code: str
    severity: Severity
    message: str
    remediation: str
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "severity": str(self.severity),
            "message": self.message,
            "remediation": self.remediation,
            "detail": self.detail,
        }


E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO

_CATALOGUE: tuple[FindingType, ...] = (
    # --- SPF (RFC 7208) ---
    FindingType(
        "spf_missing",
        E,
        "No SPF record (TXT starting with v=spf1).",
        "Publish one TXT record 'v=spf1 <your senders> -all' at the domain.",
        "RFC 7208 4.5",
    ),
    FindingType(
        "multiple_spf_records",
        E,
        "More than one SPF record: receivers return permerror.",
        "Merge the records into a single v=spf1 TXT record.",
        "RFC 7208 3.2, 4.5",
    ),
    FindingType(
        "spf_syntax_error",
        E,
        "The SPF record does not parse: receivers return permerror.",
        "Fix the term named in the detail (spelling, CIDR length, IP literal, macro).",
        "RFC 7208 4.6.1, 7.1, 12",
    ),
    FindingType(
        "spf_too_many_lookups",
        E,
        "SPF needs more than 10 DNS lookups: permerror.",
        "Remove unused includes, replace includes by ip4/ip6 ranges you own, or move senders "
        "to a subdomain.",
        "RFC 7208 4.6.4",
    ),
    FindingType(
        "spf_too_many_void_lookups",
        E,
        "More than 2 SPF lookups return no data: permerror.",
        "Remove includes, a and mx terms that point at names without records.",
        "RFC 7208 4.6.4",
    ),
    FindingType(
        "spf_include_loop",
        E,
        "An include/redirect chain loops back to a domain already being evaluated.",
        "Remove the include or redirect that closes the loop.",
        "RFC 7208 4.6.4, 5.2",
    ),
    FindingType(
        "spf_include_target_no_record",
        E,
        "An include target has no SPF record: permerror.",
        "Remove the include or fix the provider name.",
        "RFC 7208 5.2",
    ),
    FindingType(
        "spf_redirect_target_no_record",
        E,
        "The redirect target has no SPF record: permerror.",
        "Point redirect= at a domain that publishes SPF.",
        "RFC 7208 6.1",
    ),
    FindingType(
        "spf_redirect_ignored_all_present",
        W,
        "redirect= is ignored because the record has an all mechanism.",
        "Remove either the redirect or the all mechanism.",
        "RFC 7208 6.1",
    ),
    FindingType(
        "spf_ptr_mechanism",
        W,
        "The ptr mechanism (or %{p} macro) is used; it SHOULD NOT be published.",
        "Replace ptr by ip4/ip6 or a terms.",
        "RFC 7208 5.5",
    ),
    FindingType(
        "spf_all_pass",
        E,
        "+all authorises every host on the Internet.",
        "End the record with -all or ~all.",
        "RFC 7208 5.1, 2.6.3",
    ),
    FindingType(
        "spf_all_neutral",
        W,
        "?all gives unauthorised hosts a neutral result: no protection.",
        "End the record with -all or ~all.",
        "RFC 7208 5.1, 2.6.2",
    ),
    FindingType(
        "spf_no_all",
        W,
        "No all mechanism and no redirect: the default result is neutral.",
        "End the record with -all or ~all.",
        "RFC 7208 4.7",
    ),
    FindingType(
        "spf_terms_after_all",
        W,
        "Terms after all are never evaluated.",
        "Move the terms before all or remove them.",
        "RFC 7208 5.1",
    ),
    FindingType(
        "spf_mx_too_many_records",
        E,
        "An mx term points at more than 10 MX names: permerror.",
        "Replace the mx term by ip4/ip6 ranges.",
        "RFC 7208 4.6.4",
    ),
    FindingType(
        "spf_record_too_long",
        W,
        "The SPF record is over 450 bytes or its answer does not fit in 512 bytes.",
        "Shorten the record (fewer terms, aggregated ranges).",
        "RFC 7208 3.4",
    ),
    FindingType(
        "spf_rr_type_obsolete",
        W,
        "An SPF record of RR type 99 is published; only TXT is used.",
        "Delete the type 99 record and keep the TXT one.",
        "RFC 7208 3.1, 14.1",
    ),
    FindingType(
        "spf_sender_id_obsolete",
        INFO,
        "A Sender ID (spf2.0) record is published; Sender ID is historic.",
        "Delete the spf2.0 record.",
        "RFC 6686",
        own=True,
    ),
    # --- DMARC (RFC 9989, RFC 7489) ---
    FindingType(
        "dmarc_missing",
        E,
        "No usable DMARC record for the domain or its organisational domain.",
        "Publish 'v=DMARC1; p=none; rua=mailto:<reports address>' at _dmarc.",
        "RFC 9989 4.10.1",
    ),
    FindingType(
        "multiple_dmarc_records",
        E,
        "More than one DMARC record at one name: all are discarded.",
        "Keep exactly one v=DMARC1 record.",
        "RFC 9989 4.10 step 2; RFC 7489 6.6.3",
    ),
    FindingType(
        "dmarc_syntax_error",
        E,
        "The DMARC record does not parse.",
        "Write the record as 'v=DMARC1; p=...; rua=...' with tag=value pairs separated by "
        "semicolons.",
        "RFC 9989 4.8",
    ),
    FindingType(
        "dmarc_policy_none",
        W,
        "p=none (or sp=none): monitoring only, no enforcement.",
        "Once reports show every sender aligned, move to quarantine and then reject.",
        "RFC 9989 4.7, 3.2.12",
    ),
    FindingType(
        "dmarc_invalid_tag_value",
        E,
        "A DMARC tag has a value outside its syntax; receivers use the default.",
        "Correct the value named in the detail.",
        "RFC 9989 4.8, 4.10.1",
    ),
    FindingType(
        "dmarc_p_missing",
        W,
        "No p tag: p=none under RFC 9989, invalid under RFC 7489.",
        "Add p=none (or stronger) right after v=DMARC1.",
        "RFC 9989 4.7; RFC 7489 6.3",
    ),
    FindingType(
        "dmarc_version_not_first",
        E,
        "The v tag is not the first tag: the record is ignored.",
        "Start the record with v=DMARC1.",
        "RFC 9989 4.7",
    ),
    FindingType(
        "dmarc_version_invalid",
        E,
        "The v value is not exactly DMARC1: the record is ignored.",
        "Write v=DMARC1 (upper case).",
        "RFC 9989 4.8; RFC 7489 6.4",
    ),
    FindingType(
        "dmarc_tag_case_nonstandard",
        W,
        "Tag names are not in lower case; receivers disagree on them.",
        "Write tag names in lower case.",
        "RFC 6376 3.2; RFC 9989 4.7",
    ),
    FindingType(
        "dmarc_external_rua_unauthorized",
        W,
        "A report destination outside the "
        "organisational domain has not authorised the domain; receivers ignore it.",
        "Ask the destination to publish <domain>._report._dmarc.<destination> 'v=DMARC1'.",
        "RFC 9990 4; RFC 9991 5; RFC 7489 7.1",
    ),
    FindingType(
        "dmarc_rua_invalid_uri",
        E,
        "A rua/ruf entry is not a valid URI and is ignored.",
        "Write report addresses as mailto:user@host.",
        "RFC 9989 4.7, 4.8",
    ),
    FindingType(
        "dmarc_rua_missing",
        W,
        "No rua: no aggregate reports are sent.",
        "Add rua=mailto:<reports address>.",
        "RFC 9989 4.7",
    ),
    FindingType(
        "dmarc_pct_not_100",
        W,
        "pct is not 100: partial enforcement under RFC 7489; pct is gone from RFC 9989.",
        "Remove pct (use t=y to test) once ready.",
        "RFC 7489 6.3, 6.6.4; RFC 9989 A.6",
    ),
    FindingType(
        "dmarc_deprecated_tag",
        INFO,
        "pct, rf or ri is present; these tags are historic in RFC 9989.",
        "Remove the tag.",
        "RFC 9989 9.3",
    ),
    FindingType(
        "dmarc_testing_mode",
        W,
        "t=y: receivers apply one level below the stated policy.",
        "Remove t=y when the policy should take full effect.",
        "RFC 9989 4.7",
    ),
    FindingType(
        "dmarc_record_wrong_location",
        E,
        "A v=DMARC1 record is at the domain apex, where it has no effect.",
        "Move it to _dmarc.<domain>.",
        "RFC 9989 4.5",
    ),
    FindingType(
        "dmarc_uri_size_limit_obsolete",
        INFO,
        "A !size suffix on a report URI is obsolete.",
        "Remove the !size suffix.",
        "RFC 9989 4.8",
    ),
    # --- DKIM (RFC 6376, 8301, 8463) ---
    FindingType(
        "dkim_key_too_short",
        E,
        "RSA key under 1024 bits: signatures are not valid.",
        "Rotate to a 2048-bit RSA key.",
        "RFC 8301 3.2",
    ),
    FindingType(
        "dkim_key_weak",
        W,
        "RSA key of 1024 to 2047 bits; signers SHOULD use 2048.",
        "Rotate to a 2048-bit RSA key.",
        "RFC 8301 3.2",
    ),
    FindingType(
        "dkim_key_revoked",
        E,
        "Empty p=: the key is revoked.",
        "Remove the selector if it is no longer used, or publish the current key.",
        "RFC 6376 3.6.1, 6.1.2",
    ),
    FindingType(
        "dkim_testing_mode",
        W,
        "t=y: the domain is testing DKIM.",
        "Remove t=y from the key record.",
        "RFC 6376 3.6.1",
    ),
    FindingType(
        "dkim_key_sha1_only",
        E,
        "h= allows only sha1, which MUST NOT be used.",
        "Remove h= or set h=sha256.",
        "RFC 6376 3.6.1; RFC 8301 3.1",
    ),
    FindingType(
        "dkim_key_syntax_error",
        E,
        "The key record or its p= value is malformed.",
        "Republish the key exactly as the signing service gives it.",
        "RFC 6376 3.6.1, 6.1.2",
    ),
    FindingType(
        "dkim_key_type_unknown",
        E,
        "Unknown key type k=: the key is unusable.",
        "Use k=rsa or k=ed25519.",
        "RFC 6376 3.6.1; RFC 8463 4",
        own=True,
    ),
    FindingType(
        "dkim_service_not_email",
        E,
        "s= excludes email: the key is not usable for mail.",
        "Remove s= or set s=email.",
        "RFC 6376 3.6.1",
        own=True,
    ),
    FindingType(
        "dkim_multiple_records",
        W,
        "More than one TXT record at the selector: results are undefined.",
        "Keep exactly one key record per selector.",
        "RFC 6376 3.6.2.2",
        own=True,
    ),
    FindingType(
        "dkim_selector_missing",
        W,
        "A declared or reported selector has no key record.",
        "Publish the key of the signing service, or remove the selector from the domain.",
        "RFC 6376 6.1.2",
        own=True,
    ),
    FindingType(
        "dkim_none_found",
        W,
        "No DKIM key found at any known or common selector.",
        "Declare the selectors your senders use, or publish their keys.",
        "RFC 6376 3.6.2",
        own=True,
    ),
    # --- MX ---
    FindingType(
        "mx_null_with_other_mx",
        E,
        "A null MX (0 .) is published together with other MX records.",
        "Keep only the null MX, or remove it.",
        "RFC 7505 3",
    ),
    FindingType(
        "mx_target_is_cname",
        E,
        "An MX exchange is an alias (CNAME).",
        "Point the MX at the canonical host name.",
        "RFC 2181 10.3; RFC 5321 5.1",
    ),
    FindingType(
        "mx_host_no_address",
        E,
        "An MX exchange has no A/AAAA record.",
        "Publish the host's address or remove the MX.",
        "RFC 5321 5.1",
    ),
    FindingType(
        "mx_missing",
        W,
        "No MX: mail falls back to the address records (implicit MX).",
        "Publish MX records, or a null MX (0 .) if the domain receives no mail.",
        "RFC 5321 5.1",
    ),
    FindingType(
        "mx_target_ip_literal",
        E,
        "An MX exchange is an IP address, not a host name.",
        "Point the MX at a host name with A/AAAA records.",
        "RFC 5321 5.1",
        own=True,
    ),
    FindingType(
        "mx_null_malformed",
        E,
        "A root (.) exchange with a preference other than 0.",
        "Publish the null MX as '0 .'.",
        "RFC 7505 3",
        own=True,
    ),
    # --- MTA-STS (RFC 8461) ---
    FindingType(
        "mta_sts_record_invalid",
        E,
        "The _mta-sts TXT record does not match the syntax (v=STSv1; id=1-32 letters or digits).",
        "Republish as 'v=STSv1; id=<new id>'.",
        "RFC 8461 3.1",
    ),
    FindingType(
        "mta_sts_multiple_records",
        E,
        "More than one v=STSv1 record: no policy.",
        "Keep exactly one _mta-sts record.",
        "RFC 8461 3.1",
    ),
    FindingType(
        "mta_sts_policy_host_missing",
        E,
        "mta-sts.<domain> does not resolve; the policy cannot be fetched.",
        "Publish an address for mta-sts.<domain>.",
        "RFC 8461 3.2, 3.3",
    ),
    FindingType(
        "mta_sts_policy_invalid",
        E,
        "The MTA-STS policy body is invalid.",
        "Serve 'version: STSv1', 'mode', 'max_age' and 'mx' lines as text/plain.",
        "RFC 8461 3.2",
    ),
    FindingType(
        "mta_sts_policy_unfetchable",
        E,
        "The MTA-STS policy could not be fetched over "
        "HTTPS (connection, certificate, status, redirect or size).",
        "Serve https://mta-sts.<domain>/.well-known/mta-sts.txt with a valid certificate "
        "and status 200.",
        "RFC 8461 3.3",
        own=True,
    ),
    FindingType(
        "mta_sts_mx_not_covered",
        E,
        "An MX host matches no mx pattern of the policy.",
        "Add the MX host to the policy (and change the id).",
        "RFC 8461 4.1",
    ),
    FindingType(
        "mta_sts_mode_testing",
        W,
        "MTA-STS mode is testing: not enforced.",
        "Switch to mode: enforce once TLS reports are clean.",
        "RFC 8461 3.2, 5",
    ),
    FindingType(
        "mta_sts_max_age_short",
        W,
        "max_age is well below the weeks the RFC expects.",
        "Use max_age of at least 604800 (one week), ideally 31557600.",
        "RFC 8461 3.2",
    ),
    FindingType(
        "mta_sts_testing_without_tlsrpt",
        INFO,
        "MTA-STS testing mode without TLS-RPT: nobody receives the failure reports.",
        "Publish an _smtp._tls record.",
        "RFC 8461 5",
        own=True,
    ),
    FindingType(
        "mta_sts_missing",
        INFO,
        "No MTA-STS: senders may deliver without TLS.",
        "Publish an MTA-STS policy, starting in testing mode.",
        "RFC 8461 3",
        own=True,
    ),
    FindingType(
        "mta_sts_id_not_changed",
        W,
        "The MTA-STS policy changed but its id did not: senders keep the cached policy.",
        "Change the id in the _mta-sts record.",
        "RFC 8461 3.1",
        own=True,
    ),
    # --- TLS-RPT (RFC 8460) ---
    FindingType(
        "tlsrpt_missing",
        INFO,
        "No usable _smtp._tls record.",
        "Publish 'v=TLSRPTv1; rua=mailto:<reports address>' at _smtp._tls.",
        "RFC 8460 3",
    ),
    FindingType(
        "tlsrpt_record_invalid",
        E,
        "The _smtp._tls record does not match the syntax.",
        "Republish as 'v=TLSRPTv1; rua=mailto:...'.",
        "RFC 8460 3",
    ),
    FindingType(
        "tlsrpt_rua_invalid",
        E,
        "A TLS-RPT rua is not a mailto: or https: URI.",
        "Use mailto: or https: URIs.",
        "RFC 8460 3",
    ),
    FindingType(
        "tlsrpt_multiple_records",
        E,
        "More than one v=TLSRPTv1 record: no TLS-RPT.",
        "Keep exactly one _smtp._tls record.",
        "RFC 8460 3",
        own=True,
    ),
    # --- BIMI ---
    FindingType(
        "bimi_dmarc_not_enforced",
        E,
        "BIMI needs DMARC at enforcement (p=none or t=y found).",
        "Move DMARC to quarantine or reject first.",
        "BIMI draft, Authentication Requirements 7",
    ),
    FindingType(
        "bimi_dmarc_pct_not_100",
        E,
        "BIMI with p=quarantine needs pct=100.",
        "Remove pct or set it to 100.",
        "BIMI draft, Authentication Requirements 9",
    ),
    FindingType(
        "bimi_dmarc_sp_none",
        E,
        "BIMI needs sp other than none.",
        "Set sp=quarantine or sp=reject (or remove sp).",
        "BIMI draft, Authentication Requirements 8",
    ),
    FindingType(
        "bimi_location_not_https",
        E,
        "The BIMI l= location is not an https URI.",
        "Serve the SVG logo over https and point l= at it.",
        "BIMI draft, Assertion Record Definition",
    ),
    FindingType(
        "bimi_record_invalid",
        E,
        "The BIMI record does not parse.",
        "Republish as 'v=BIMI1; l=https://...svg'.",
        "BIMI draft, Assertion Record Definition",
        own=True,
    ),
    FindingType(
        "bimi_multiple_records",
        E,
        "More than one v=BIMI1 record: no BIMI.",
        "Keep exactly one BIMI record per selector.",
        "BIMI draft, Discovery",
        own=True,
    ),
    FindingType(
        "bimi_logo_unfetchable",
        W,
        "The BIMI logo could not be fetched as SVG over HTTPS.",
        "Serve the SVG Tiny PS logo at the l= location.",
        "BIMI draft, Supported Image Formats",
        own=True,
    ),
    # --- the checker itself ---
    FindingType(
        "check_failed",
        W,
        "A check could not run to the end; its status is unknown.",
        "Report the detail to the maintainers; the next run retries.",
        "-",
        own=True,
    ),
    # --- DNS failures ---
    FindingType(
        "dns_lookup_failed",
        INFO,
        "A DNS lookup timed out or failed (SERVFAIL/REFUSED); the "
        "record's status is unknown, not missing.",
        "Nothing if it passes on the next check; otherwise check the domain's name servers.",
        "RFC 7208 4.4; RFC 9989 4.10.1",
        own=True,
    ),
)

CATALOGUE: dict[str, FindingType] = {t.code: t for t in _CATALOGUE}


class UnknownFindingCode(KeyError):
    """A check asked for a code that is not in the catalogue."""


def finding(code: str, detail: str = "") -> Finding:
    """Build the finding of ``code`` from the catalogue, with a detail naming what is wrong."""
    try:
        kind = CATALOGUE[code]
    except KeyError as exc:
        raise UnknownFindingCode(code) from exc
    return Finding(kind.code, kind.severity, kind.message, kind.remediation, detail)
