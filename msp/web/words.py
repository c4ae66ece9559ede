"""Plain words for the console: what stages, severities and numbers mean to a service-desk
technician (a code may stand beside its sentence, never alone)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

STAGE_WORDS = {
    "none": "no DMARC policy yet",
    "monitor": "monitoring (p=none)",
    "quarantine_test": "testing quarantine",
    "quarantine": "quarantine (spam folder)",
    "reject_test": "testing reject",
    "reject": "reject (fully protected)",
    "parked": "parked (sends no mail)",
    "not evaluated": "not evaluated yet",
}
SEVERITY_WORDS = {"error": "broken", "warning": "needs attention", "info": "for information"}


def stage_words(stage: str | None) -> str:
    return STAGE_WORDS.get(stage or "none", (stage or "none").replace("_", " "))


def severity_words(severity: str) -> str:
    return SEVERITY_WORDS.get(severity, severity)


def percent(share: float | None) -> str:
    return "no mail yet" if share is None else f"{share * 100:.1f}%"


def _zone(timezone: str | ZoneInfo) -> ZoneInfo:
    if isinstance(timezone, ZoneInfo):
        return timezone
    try:
        return ZoneInfo(timezone)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def local_time(
    moment: datetime | None, timezone: str | ZoneInfo, fmt: str = "%d %b %Y %H:%M"
) -> str:
    """``moment`` (UTC) in the tenant's time zone, with the zone named."""
    if moment is None:
        return "never"
    zone = _zone(timezone)
    return f"{moment.astimezone(zone).strftime(fmt)} ({zone.key})"


# An ISO 8601 time or date inside a sentence the engine wrote ("to be issued at
# 2026-12-05T06:00:00+00:00", "first seen 2026-11-20").
_ISO = re.compile(
    r"\b(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:?\d{2})?)?\b"
)


def _iso_in_words(match: re.Match[str], zone: ZoneInfo) -> str:
    day, clock, offset = match.groups()
    try:
        if clock is None:
            return date.fromisoformat(day).strftime("%d %b %Y")
        moment = datetime.fromisoformat(
            f"{day}T{clock}{'+00:00' if offset == 'Z' else offset or ''}"
        )
    except ValueError:
        return match.group(0)
    return local_time(moment if moment.tzinfo else moment.replace(tzinfo=UTC), zone)


def times_in_words(text: object, timezone: str | ZoneInfo) -> str:
    """``text`` with every ISO time in it shown in the tenant's zone ("05 Dec 2026 07:00
    (Europe/Berlin)") and every ISO date in words ("20 Nov 2026")."""
    zone = _zone(timezone)
    return _ISO.sub(lambda m: _iso_in_words(m, zone), str(text))


# What an audit row's action means, for the actions whose generic reading would be unclear.
AUDIT_WORDS = {
    "tenant.view_as": "opened the client's console as the client (read only)",
    "policy.approve": "approved a DMARC policy change",
    "policy.propose": "proposed a DMARC policy change",
    "policy.reject": "rejected a DMARC policy change",
    "policy.schedule": "rescheduled a DMARC policy change",
    "policy.rollback": "rolled a DMARC policy back",
    "sender.verdict": "gave a sender its verdict",
    "billing.portal": "opened the Stripe billing portal",
    "billing.subscribe": "started a subscription",
    "billing.link": "linked a Stripe customer",
    "user.password": "changed a password",
    "user.mfa_enable": "switched on the second factor",
    "user.mfa_disable": "switched off the second factor",
    "user.mfa_recovery_codes": "made new recovery codes",
    "user.mfa_recovery_used": "signed in with a recovery code",
    "token.create": "created an API token",
    "token.revoke": "revoked an API token",
    "invitation.accept": "accepted an invitation",
    "report.reprocess": "asked for a report to be read again",
    "domain.verify": "verified ownership of a domain",
    "notification_rules.replace": "changed the notification rules",
    "digest_settings.update": "changed the weekly e-mail",
    "invitation.create": "sent an invitation",
    "membership.create": "gave someone access to the client",
    "membership.update": "changed someone's role",
    "membership.delete": "removed someone's access to the client",
    "tenant.publish_mode": "changed how DNS records are published",
    "domain.dns_provider": "changed a domain's DNS provider",
}
_VERBS = {
    "create": "added",
    "delete": "removed",
    "update": "changed",
    "revoke": "revoked",
    "test": "tested",
    "accept": "accepted",
}


def audit_words(action: str) -> str:
    """An audit action in words: "notification_endpoint.delete" is "removed a notification
    endpoint" (the code stays beside it on the page)."""
    if action in AUDIT_WORDS:
        return AUDIT_WORDS[action]
    thing, _, verb = action.partition(".")
    noun = thing.replace("_", " ").replace("dns", "DNS").replace("tenant", "client")
    if verb in _VERBS:
        article = "an" if noun[:1] in "aeio" else "a"  # "a user", "an endpoint"
        return f"{_VERBS[verb]} {article} {noun}"
    return f"{noun}: {verb.replace('_', ' ')}" if verb else noun


FILTERS: dict[str, Callable[..., str]] = {
    "stage_words": stage_words,
    "severity_words": severity_words,
    "percent": percent,
    "local_time": local_time,
    "times_in_words": times_in_words,
    "audit_words": audit_words,
}
