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


DNS_CANDIDATES = (
    ("msp.dns.service", "latest_result"),
    ("msp.dns.service", "latest_check"),
    ("msp.dns.service", "domain_status"),
)
REPORT_CANDIDATES = (
    ("msp.reports.service", "sender_stats"),
    ("msp.reports.queries", "sender_stats"),
)
POLICY_CANDIDATES = (
    ("msp.policy.service", "plan_for_domain"),
    ("msp.policy.service", "domain_plan"),
    ("msp.policy.service", "get_plan"),
)


def _dns_row(domain: DomainRef, result: Any) -> SectionRow:
    if result is None:
        return SectionRow(domain.name, "not checked yet", attention=True)
    grade = field(result, "grade", "?")
    findings = list(field(result, "findings", []) or [])
    errors = [f for f in findings if str(field(f, "severity", "")) == "error"]
    text = f"grade {grade}, {len(findings)} finding(s), {len(errors)} error(s)"
    return SectionRow(domain.name, text, attention=bool(errors))


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


def _policy_row(domain: DomainRef, plan: Any) -> SectionRow:
    if plan is None:
        return SectionRow(domain.name, "no policy plan yet")
    stage = field(plan, "stage", "?")
    readiness = field(plan, "readiness", None)
    text = f"stage {stage}" + (f", readiness {readiness}%" if readiness is not None else "")
    return SectionRow(domain.name, text)


@dataclass(frozen=True)
class Source:
    key: str
    title: str
    candidates: tuple[tuple[str, str], ...]
    row: Callable[[DomainRef, Any], SectionRow]
    windowed: bool = False


SOURCES = (
    Source("dns", "DNS posture", DNS_CANDIDATES, _dns_row),
    Source("reports", "Mail seen in DMARC reports", REPORT_CANDIDATES, _reports_row, windowed=True),
    Source("policy", "DMARC policy progress", POLICY_CANDIDATES, _policy_row),
)


def collect(source: Source, domains: list[DomainRef], since: datetime, until: datetime) -> Section:
    """The section of ``source`` for ``domains``; "not available" when the area cannot say."""
    try:
        function = find_function(source.candidates)
        rows = []
        for domain in domains:
            value = function(domain.id, since, until) if source.windowed else function(domain.id)
            rows.append(source.row(domain, value))
    except SourceUnavailable as exc:
        return Section(source.key, source.title, False, note=f"not available ({exc})")
    except Exception as exc:  # another area's failure must not stop the digest
        log.exception("digest source %s failed", source.key)
        return Section(
            source.key, source.title, False, note=f"not available ({type(exc).__name__})"
        )
    return Section(source.key, source.title, True, tuple(rows))
