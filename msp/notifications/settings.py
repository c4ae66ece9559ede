"""Settings of the notifications area: the SMTP relay, webhook safety, retries, the digest,
how long deliveries and the events they come from are kept.

:func:`notify_settings` turns the parsed app configuration into one frozen value that the
service and the channels take as an argument (they never read ``current_app`` themselves).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from msp.config import Setting, parse_bool, parse_list


def parse_seconds(raw: str) -> list[int]:
    """``"30,120,600"`` -> ``[30, 120, 600]`` (the waits before each retry)."""
    values = [int(item) for item in parse_list(raw)]
    if not values or any(v < 0 for v in values):
        raise ValueError("expected a comma-separated list of non-negative seconds")
    return values


SETTINGS: list[Setting] = [
    Setting("SMTP_HOST", str, None, help="SMTP relay for notification e-mails (unset: no e-mail)"),
    Setting("SMTP_PORT", int, 587, help="port of MSP_SMTP_HOST"),
    Setting("SMTP_STARTTLS", parse_bool, True, help="upgrade the SMTP connection with STARTTLS"),
    Setting("SMTP_USER", str, None, help="SMTP login (unset: no authentication)"),
    Setting("SMTP_PASSWORD", str, None, secret=True, help="SMTP password"),
    Setting(
        "SMTP_CA_FILE",
        str,
        None,
        help="PEM CA bundle that signs the relay's certificate (unset: the system store)",
    ),
    Setting("SMTP_TIMEOUT", int, 20, help="seconds before an SMTP conversation gives up"),
    Setting(
        "MAIL_FROM", str, "dmarc-platform@localhost", help="From: address of notification e-mails"
    ),
    Setting("WEBHOOK_TIMEOUT", int, 10, help="seconds before a webhook POST gives up"),
    Setting(
        "WEBHOOK_ALLOW_PRIVATE",
        parse_bool,
        False,
        help="allow webhooks to loopback/private addresses (tests and labs only)",
    ),
    Setting(
        "NOTIFY_RETRY_SECONDS",
        parse_seconds,
        [60, 300, 1800, 7200],
        help="waits before each retry of a failed delivery; their count is the retry budget",
    ),
    Setting(
        "NOTIFY_RETENTION_DAYS", int, 90, help="days a finished delivery is kept (0: for ever)"
    ),
    Setting(
        "EVENT_RETENTION_DAYS",
        int,
        180,
        help="days a dispatched event is kept once no delivery refers to it (0: for ever)",
    ),
    Setting("NOTIFY_DISPATCH_BATCH", int, 500, help="events fanned out per dispatch sweep"),
    Setting(
        "DIGEST_WEEKDAY",
        int,
        0,
        help="weekday of the posture digest (0 = Monday), in each tenant's time zone",
    ),
    Setting("DIGEST_HOUR", int, 8, help="local hour from which the weekly digest is sent"),
    Setting("BRAND_NAME", str, "DMARC service", help="the MSP's name in e-mails to clients"),
    Setting(
        "BRAND_LOGO_FILE",
        str,
        None,
        help="PNG logo shown in the digest (attached by Content-ID; unset: the name only)",
    ),
    Setting("BRAND_COLOR", str, "#1f4e79", help="the MSP's main colour (#rrggbb) in e-mails"),
    Setting("BRAND_REPLY_TO", str, None, help="Reply-To: of the digest (the MSP's support)"),
    Setting(
        "BRAND_POSTAL_ADDRESS", str, "", help="the MSP's postal address in the digest's footer"
    ),
]


@dataclass(frozen=True)
class Brand:
    """How the MSP presents itself in e-mails to its clients."""

    name: str = "DMARC service"
    logo_file: str | None = None
    color: str = "#1f4e79"
    reply_to: str | None = None
    postal_address: str = ""


HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def brand_of(config: Mapping[str, Any]) -> Brand:
    color = str(config.get("MSP_BRAND_COLOR") or Brand.color)
    return Brand(
        name=str(config.get("MSP_BRAND_NAME") or Brand.name),
        logo_file=config.get("MSP_BRAND_LOGO_FILE") or None,
        # the colour goes into inline CSS: anything but #rrggbb falls back to the default
        color=color if HEX_COLOR.match(color) else Brand.color,
        reply_to=config.get("MSP_BRAND_REPLY_TO") or None,
        postal_address=str(config.get("MSP_BRAND_POSTAL_ADDRESS") or ""),
    )


@dataclass(frozen=True)
class NotifySettings:
    """Everything the channels and the delivery service need from the configuration."""

    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_ca_file: str | None = None
    smtp_timeout: int = 20
    mail_from: str = "dmarc-platform@localhost"
    webhook_timeout: int = 10
    webhook_allow_private: bool = False
    retry_seconds: tuple[int, ...] = (60, 300, 1800, 7200)
    dispatch_batch: int = 500
    retention_days: int = 90
    event_retention_days: int = 180
    digest_weekday: int = 0
    digest_hour: int = 8
    base_url: str = "http://127.0.0.1:8000"
    encryption_key: str | None = None
    secret_key: str = ""
    brand: Brand = Brand()
    outbound_allow: tuple[str, ...] = ()  # MSP_OUTBOUND_ALLOW (msp.netguard): CIDRs

    @property
    def max_attempts(self) -> int:
        return len(self.retry_seconds) + 1


def _cidrs(raw: Any) -> tuple[str, ...]:
    if not raw:
        return ()
    return tuple(str(v) for v in (raw.split(",") if isinstance(raw, str) else raw))


def notify_settings(config: Mapping[str, Any]) -> NotifySettings:
    """The notification settings from an app's config (keys ``MSP_*``)."""

    def get(name: str, default: Any) -> Any:
        value = config.get(f"MSP_{name}")
        return default if value is None else value

    defaults = NotifySettings()
    return NotifySettings(
        smtp_host=config.get("MSP_SMTP_HOST") or None,
        smtp_port=int(get("SMTP_PORT", defaults.smtp_port)),
        smtp_starttls=bool(get("SMTP_STARTTLS", defaults.smtp_starttls)),
        smtp_user=config.get("MSP_SMTP_USER") or None,
        smtp_password=config.get("MSP_SMTP_PASSWORD") or None,
        smtp_ca_file=config.get("MSP_SMTP_CA_FILE") or None,
        smtp_timeout=int(get("SMTP_TIMEOUT", defaults.smtp_timeout)),
        mail_from=str(get("MAIL_FROM", defaults.mail_from)),
        webhook_timeout=int(get("WEBHOOK_TIMEOUT", defaults.webhook_timeout)),
        webhook_allow_private=bool(get("WEBHOOK_ALLOW_PRIVATE", False)),
        retry_seconds=tuple(get("NOTIFY_RETRY_SECONDS", defaults.retry_seconds)),
        retention_days=int(get("NOTIFY_RETENTION_DAYS", defaults.retention_days)),
        event_retention_days=int(get("EVENT_RETENTION_DAYS", defaults.event_retention_days)),
        dispatch_batch=int(get("NOTIFY_DISPATCH_BATCH", defaults.dispatch_batch)),
        digest_weekday=int(get("DIGEST_WEEKDAY", defaults.digest_weekday)) % 7,
        digest_hour=int(get("DIGEST_HOUR", defaults.digest_hour)),
        base_url=str(get("BASE_URL", defaults.base_url)),
        encryption_key=config.get("MSP_ENCRYPTION_KEY") or None,
        secret_key=str(config.get("SECRET_KEY") or ""),
        outbound_allow=_cidrs(config.get("MSP_OUTBOUND_ALLOW")),
        brand=brand_of(config),
    )
