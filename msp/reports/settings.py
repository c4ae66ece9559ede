"""Settings of the reports area (``MSP_REPORTS_*``)."""

from __future__ import annotations

from msp.config import Setting, parse_bool, parse_list

SETTINGS: list[Setting] = [
    Setting(
        "REPORTS_DOMAIN",
        str,
        None,
        help="domain of the per-tenant report addresses (<token>@this-domain)",
    ),
    Setting(
        "REPORTS_MAX_UPLOAD_BYTES",
        int,
        64 * 1024 * 1024,
        help="largest request body accepted by POST /api/v1/reports",
    ),
    Setting(
        "REPORTS_MAX_FILE_BYTES",
        int,
        50 * 1024 * 1024,
        help="largest single report file (compressed) accepted; larger ones are rejected",
    ),
    Setting(
        "REPORTS_MAX_UNPACKED_BYTES",
        int,
        512 * 1024 * 1024,
        help="largest decompressed report; beyond it the file is rejected as a bomb",
    ),
    Setting(
        "REPORTS_MAX_RATIO",
        int,
        200,
        help="largest compression ratio accepted once past 8 MB decompressed",
    ),
    Setting(
        "REPORTS_STORE",
        str,
        "database",
        help="where raw reports live: 'database' or a directory path (filesystem store)",
    ),
    Setting(
        "REPORTS_ENRICH_DNS",
        parse_bool,
        True,
        help="look up reverse DNS of source IPs during enrichment (never during ingestion)",
    ),
    Setting(
        "REPORTS_DNS_NAMESERVERS",
        parse_list,
        None,
        help="nameservers for reverse DNS (default: the system resolver)",
    ),
    Setting("REPORTS_DNS_PORT", int, 53, help="port of REPORTS_DNS_NAMESERVERS"),
    Setting(
        "REPORTS_ENRICH_SECONDS",
        float,
        20.0,
        help="time budget of one enrichment job for reverse DNS lookups",
    ),
    Setting(
        "REPORTS_IMAP_CA_FILE",
        str,
        None,
        help="PEM CA bundle that verifies IMAP mailbox servers (tls and starttls) instead of "
        "the system trust store; for a private CA",
    ),
    Setting(
        "OUTBOUND_ALLOW",
        parse_list,
        None,
        help="CIDRs that outbound connections to tenant-chosen hosts (IMAP mailboxes) may reach "
        "although they are not public (loopback, private, link-local...); see msp.netguard",
    ),
    Setting("REPORTS_MAILBOX_BATCH", int, 50, help="messages fetched per mailbox poll"),
    Setting("REPORTS_MAILBOX_POLL_MINUTES", int, 5, help="how often each mailbox is polled"),
    Setting(
        "REPORTS_STALE_MINUTES",
        int,
        15,
        help="a raw report pending longer than this is re-enqueued by the sweep",
    ),
]
