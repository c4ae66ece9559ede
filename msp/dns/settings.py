"""Settings of the dns area (``MSP_DNS_*``) and how they become checker options."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from msp.config import Setting, parse_bool, parse_list
from msp.dns.http import HttpSettings
from msp.dns.options import CheckOptions
from msp.dns.resolver import Nameserver, ResolverSettings, system_nameservers

SETTINGS: list[Setting] = [
    Setting(
        "DNS_NAMESERVERS",
        parse_list,
        [],
        help="resolvers as IP[:PORT], comma-separated; empty: the host's /etc/resolv.conf",
    ),
    Setting("DNS_TIMEOUT", float, 2.0, help="seconds per DNS attempt"),
    Setting("DNS_RETRIES", int, 2, help="retries after a DNS timeout"),
    Setting(
        "DNS_CHECK_INTERVAL_MINUTES",
        int,
        360,
        help="default time between checks of a domain (a domain may set its own)",
    ),
    Setting(
        "DNS_CHECK_JITTER",
        float,
        0.1,
        help="share of the interval added at random, so checks spread out",
    ),
    Setting("DNS_SWEEP_LIMIT", int, 500, help="most domains one sweep enqueues per tenant"),
    Setting(
        "DNS_PROBE_SELECTORS",
        parse_bool,
        True,
        help="probe common DKIM selectors for domains with none declared or reported",
    ),
    Setting(
        "DNS_HTTPS_ALLOW_PRIVATE",
        parse_bool,
        False,
        help="allow MTA-STS/BIMI fetches from private addresses (tests, on-premises)",
    ),
    Setting("DNS_HTTPS_CA_BUNDLE", str, None, help="CA bundle for MTA-STS/BIMI fetches"),
    Setting("DNS_HTTPS_PORT", int, 443, help="port of MTA-STS/BIMI fetches (tests only)"),
    Setting(
        "DNS_HISTORY_RETENTION_DAYS",
        int,
        400,
        help="days a posture run is kept; a domain's latest run and the runs its record "
        "snapshots and drift history point to always stay (0: for ever)",
    ),
]


def _cidrs(raw: Any) -> tuple[str, ...]:
    values = raw.split(",") if isinstance(raw, str) else list(raw or ())
    return tuple(str(v).strip() for v in values if str(v).strip())


def checker_options(config: Mapping[str, Any]) -> CheckOptions:
    """CheckOptions from the app configuration (``MSP_DNS_*`` keys)."""
    servers = tuple(Nameserver.parse(n) for n in config.get("MSP_DNS_NAMESERVERS") or [])
    return CheckOptions(
        resolver=ResolverSettings(
            servers or system_nameservers(),
            timeout=float(config.get("MSP_DNS_TIMEOUT", 2.0)),
            retries=int(config.get("MSP_DNS_RETRIES", 2)),
        ),
        http=HttpSettings(
            allow_private=bool(config.get("MSP_DNS_HTTPS_ALLOW_PRIVATE")),
            allow=_cidrs(config.get("MSP_OUTBOUND_ALLOW")),
            ca_bundle=config.get("MSP_DNS_HTTPS_CA_BUNDLE"),
            port=int(config.get("MSP_DNS_HTTPS_PORT", 443)),
        ),
        probe_common_selectors=bool(config.get("MSP_DNS_PROBE_SELECTORS", True)),
    )
