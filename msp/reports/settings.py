"""Settings of the reports area (``MSP_REPORTS_*``), and the attention thresholds read from
them (:class:`AttentionLimits`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from msp.config import Setting, parse_bool, parse_list


def positive_int(raw: str) -> int:
    """An integer of at least 1 (a threshold or a number of days)."""
    value = int(raw)
    if value < 1:
        raise ValueError(f"must be 1 or more, not {value}")
    return value


@dataclass(frozen=True)
class AttentionLimits:
    """When the portfolio's attention queue speaks up about reports (deployment settings)."""

    unknown_messages: int
    unknown_days: int
    stopped_days: int
    stopped_lookback_days: int

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> AttentionLimits:
        return cls(
            unknown_messages=int(config["MSP_REPORTS_ATTENTION_UNKNOWN_MESSAGES"]),
            unknown_days=int(config["MSP_REPORTS_ATTENTION_UNKNOWN_DAYS"]),
            stopped_days=int(config["MSP_REPORTS_ATTENTION_STOPPED_DAYS"]),
            stopped_lookback_days=int(config["MSP_REPORTS_ATTENTION_STOPPED_LOOKBACK_DAYS"]),
        )


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
    Setting(
        "REPORTS_ATTENTION_UNKNOWN_MESSAGES",
        positive_int,
        20,
        help="the attention queue lists a domain once its senders without a verdict sent this "
        "many messages within REPORTS_ATTENTION_UNKNOWN_DAYS",
    ),
    Setting(
        "REPORTS_ATTENTION_UNKNOWN_DAYS",
        positive_int,
        14,
        help="the window (days, today included) of REPORTS_ATTENTION_UNKNOWN_MESSAGES",
    ),
    Setting(
        "REPORTS_ATTENTION_STOPPED_DAYS",
        positive_int,
        3,
        help="the attention queue says reports stopped for a domain without any for this many days",
    ),
    Setting(
        "REPORTS_ATTENTION_STOPPED_LOOKBACK_DAYS",
        positive_int,
        60,
        help="a domain silent for longer than this is not 'stopped' but gone, and not listed",
    ),
]
