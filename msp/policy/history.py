"""The senders a domain has ever had, within the memory horizon: pure, from the evidence the
loader (or the fleet simulation) already has. A sender's volume and DMARC results over the
horizon come from the sender statistics; on how many days it sent (its cadence) from the
daily roll-up rows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from msp.policy.facts import KnownSender, SenderFacts
from msp.policy.simulate import DailyRow


def known_senders(
    senders: Iterable[SenderFacts], rows: Iterable[DailyRow]
) -> tuple[KnownSender, ...]:
    """Every sender of ``senders`` (the horizon's statistics) with its sending days; its
    ``first_seen`` is its first day within the horizon (the cadence is measured there)."""
    days: dict[str, set[date]] = {}
    for row in rows:
        days.setdefault(row.sender_key, set()).add(row.day)
    return tuple(
        KnownSender(
            key=s.key,
            name=s.name,
            status=s.status,
            messages=s.messages,
            dmarc_pass=s.dmarc_pass,
            first_seen=min(days.get(s.key) or {s.first_seen}),
            last_seen=s.last_seen,
            active_days=len(days.get(s.key, ())) or 1,
            forwarded=s.forwarded,
        )
        for s in senders
    )


def dkim_breaks(rows: Iterable[DailyRow]) -> dict[str, date]:
    """Per sender whose DKIM aligned before and no longer does: the first day it stopped."""
    aligned: dict[str, date] = {}
    failing: dict[str, list[date]] = {}
    for row in rows:
        if row.dkim_aligned:
            aligned[row.sender_key] = max(row.day, aligned.get(row.sender_key, row.day))
        else:
            failing.setdefault(row.sender_key, []).append(row.day)
    breaks = {}
    for key, last_ok in aligned.items():
        after = [d for d in failing.get(key, ()) if d > last_ok]
        if after:
            breaks[key] = min(after)
    return breaks
