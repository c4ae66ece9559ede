"""What the other areas contribute to the weekly digest, read through their public functions.

Each source looks up a function by name in the area's module at call time. When the module or
the function is missing (the area is not installed or not built yet), or the call fails, the
section says "not available" instead of breaking the digest: the digest must always go out.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DomainRef:
    id: int
    name: str


@dataclass(frozen=True)
class SectionRow:
    domain: str
    text: str
    attention: bool = False


@dataclass(frozen=True)
class Section:
    """One part of the digest; ``available`` false: ``note`` says why and ``rows`` is empty."""

    key: str
    title: str
    available: bool
    rows: tuple[SectionRow, ...] = ()
    note: str = ""


class SourceUnavailable(LookupError):
    """The area does not expose what this source reads."""


def find_function(candidates: tuple[tuple[str, str], ...]) -> Callable[..., Any]:
    """The first ``module.function`` of ``candidates`` that exists."""
    for module_name, function_name in candidates:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        function = getattr(module, function_name, None)
        if callable(function):
            return function
    names = ", ".join(f"{m}.{f}" for m, f in candidates)
    raise SourceUnavailable(f"none of {names} exists")


def field(value: Any, name: str, default: Any = None) -> Any:
    """``value.name`` or ``value[name]``: the sources return dataclasses or mappings."""
    if isinstance(value, Mapping):
        return value.get(name, default)
    return getattr(value, name, default)


DNS_CANDIDATES = (("msp.dns.service", "latest_posture"),)
REPORT_CANDIDATES = (
    ("msp.reports.service", "sender_stats"),
    ("msp.reports.queries", "sender_stats"),
)
POLICY_CANDIDATES = (("msp.policy.service", "plan_view"),)
WEAK_GRADES = frozenset({"C", "D", "E", "F"})


def _codes(findings: Any) -> list[str]:
    return [
        item if isinstance(item, str) else str(field(item, "code", "?"))
        for item in (findings or [])
    ]


def _dns_row(domain: DomainRef, posture: Any) -> SectionRow:
    if posture is None:
        return SectionRow(domain.name, "not checked yet", attention=True)
    grade = str(field(posture, "grade", "?"))
    codes = _codes(field(posture, "findings", ()))
    text = f"grade {grade}, {len(codes)} finding(s)"
    if codes:
        text += f": {', '.join(codes[:5])}" + (" ..." if len(codes) > 5 else "")
    return SectionRow(domain.name, text, attention=grade in WEAK_GRADES)


def _reports_row(domain: DomainRef, stats: Any) -> SectionRow:
    stats = list(stats or [])
    messages = sum(int(field(s, "messages", 0)) for s in stats)
    if not messages:
        return SectionRow(domain.name, "no aggregate reports this week", attention=True)
    passed = sum(int(field(s, "dmarc_pass", 0)) for s in stats)
    new = [
        str(field(s, "display_name", field(s, "key", "?")))
        for s in stats
        if field(s, "is_new", False)
    ]
    rate = 100.0 * passed / messages
    text = f"{messages} messages, {rate:.1f}% DMARC pass, {len(stats)} sender(s)"
    if new:
        text += f", new: {', '.join(new[:5])}" + (" ..." if len(new) > 5 else "")
    return SectionRow(domain.name, text, attention=rate < 95.0 or bool(new))


def _policy_row(domain: DomainRef, view: Any) -> SectionRow:
    if view is None:
        return SectionRow(domain.name, "no policy plan yet")
    data = view.as_dict() if hasattr(view, "as_dict") else view
    text = f"stage {field(data, 'stage', '?')}, readiness {field(data, 'readiness', '?')}%"
    if field(data, "next_stage"):
        text += f", next: {field(data, 'next_stage')}"
    action = str(field(data, "action", "") or "")
    if action and action not in {"none", "wait", "hold"}:
        text += f" (engine: {action})"
    return SectionRow(domain.name, text, attention=action in {"rollback", "propose"})


Caller = Callable[[Callable[..., Any], DomainRef, datetime, datetime], Any]


def _by_id(
    function: Callable[..., Any], domain: DomainRef, since: datetime, until: datetime
) -> Any:
    return function(domain.id)


def _windowed(
    function: Callable[..., Any], domain: DomainRef, since: datetime, until: datetime
) -> Any:
    return function(domain.id, since, until)


def _with_domain(
    function: Callable[..., Any], domain: DomainRef, since: datetime, until: datetime
) -> Any:
    from msp.domains.models import Domain
    from msp.extensions import db

    row = db.session.get(Domain, domain.id)
    return None if row is None else function(row, until)


@dataclass(frozen=True)
class Source:
    key: str
    title: str
    candidates: tuple[tuple[str, str], ...]
    row: Callable[[DomainRef, Any], SectionRow]
    call: Caller = _by_id


SOURCES = (
    Source("dns", "DNS posture", DNS_CANDIDATES, _dns_row),
    Source("reports", "Mail seen in DMARC reports", REPORT_CANDIDATES, _reports_row, _windowed),
    Source("policy", "DMARC policy progress", POLICY_CANDIDATES, _policy_row, _with_domain),
)


def collect(source: Source, domains: list[DomainRef], since: datetime, until: datetime) -> Section:
    """The section of ``source`` for ``domains``; "not available" when the area cannot say."""
    try:
        function = find_function(source.candidates)
        rows = [
            source.row(domain, source.call(function, domain, since, until)) for domain in domains
        ]
    except SourceUnavailable as exc:
        return Section(source.key, source.title, False, note=f"not available ({exc})")
    except Exception as exc:  # another area's failure must not stop the digest
        log.exception("digest source %s failed", source.key)
        return Section(
            source.key, source.title, False, note=f"not available ({type(exc).__name__})"
        )
    return Section(source.key, source.title, True, tuple(rows))
