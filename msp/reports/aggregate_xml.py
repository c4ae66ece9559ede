"""The XML side of aggregate reports shared by the one-shot and the streaming parser: the
hardened lxml parser settings, the DMARC element names and namespaces, the report header's
value types and how they are read from their elements (lower-cased enumerations, timestamps).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from msp.reports.records import AggregateError

RFC9990_NS = "urn:ietf:params:xml:ns:dmarc-2.0"
ALLOWED_NAMESPACES = frozenset({"", RFC9990_NS, "http://dmarc.org/dmarc-xml/0.1"})
RECOVER_MAX_BYTES = 32 * 1024 * 1024
DMARC_TAGS = ("{*}report_metadata", "{*}policy_published", "{*}record", "{*}version")
DOCTYPE = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
XS_SCHEMA = re.compile(rb"</?xs:schema[^<>]*>")
HEAD_BYTES = 4096


@dataclass(frozen=True)
class PolicyPublished:
    domain: str
    adkim: str
    aspf: str
    p: str
    sp: str | None
    np: str | None
    pct: int | None
    fo: str | None
    testing: str | None
    discovery_method: str | None


@dataclass(frozen=True)
class Header:
    """Report metadata and the published policy: everything before the records."""

    org_name: str
    email: str | None
    report_id: str
    begin: datetime
    end: datetime
    extra_contact_info: str | None
    generator: str | None
    errors: tuple[str, ...]
    version: str | None
    namespace: str
    policy: PolicyPublished


@dataclass(frozen=True)
class Stats:
    """What the parse skipped, filled in while records stream."""

    skipped: int
    first_skip_reason: str | None


def local_name(tag: object) -> str:
    return str(tag).rpartition("}")[2]


def children(elem: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for child in elem:
        if isinstance(child.tag, str):
            out.setdefault(local_name(child.tag), child)
    return out


def all_named(elem: Any, name: str) -> list[Any]:
    return [c for c in elem if isinstance(c.tag, str) and local_name(c.tag) == name]


def text_of(elem: Any | None) -> str | None:
    if elem is None or elem.text is None:
        return None
    value = elem.text.strip()
    return value or None


def lower_text(elem: Any | None) -> str | None:
    value = text_of(elem)
    return value.lower() if value else None


def timestamp(elem: Any | None, what: str) -> datetime:
    raw = text_of(elem)
    if raw is None:
        raise AggregateError(f"missing date_range {what}")
    try:
        return datetime.fromtimestamp(int(raw.split(".")[0]), tz=UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise AggregateError(f"invalid date_range {what}: {raw[:40]!r}") from exc


def build_header(meta: Any, policy: Any, version: str | None, namespace: str) -> Header:
    fields = children(meta)
    email = text_of(fields.get("email"))
    org_name = text_of(fields.get("org_name")) or (email.rpartition("@")[2] if email else None)
    if not org_name:
        raise AggregateError("missing org_name")
    report_id = (text_of(fields.get("report_id")) or "").strip("<>").strip()
    if not report_id:
        raise AggregateError("missing report_id")
    date_range = children(fields["date_range"]) if "date_range" in fields else {}
    begin = timestamp(date_range.get("begin"), "begin")
    end = timestamp(date_range.get("end"), "end")
    if end < begin:
        raise AggregateError("date_range ends before it begins")
    return Header(
        org_name=org_name,
        email=email,
        report_id=report_id,
        begin=begin,
        end=end,
        extra_contact_info=text_of(fields.get("extra_contact_info")),
        generator=text_of(fields.get("generator")),
        errors=tuple(t for t in (text_of(e) for e in all_named(meta, "error")) if t),
        version=version,
        namespace=namespace,
        policy=policy_of(policy),
    )


def int_or_none(elem: Any | None) -> int | None:
    raw = text_of(elem)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def policy_of(policy: Any) -> PolicyPublished:
    if policy is None:
        raise AggregateError("missing policy_published")
    f = children(policy)
    domain = lower_text(f.get("domain"))
    if not domain:
        raise AggregateError("missing policy_published domain")
    p = lower_text(f.get("p")) or "none"
    return PolicyPublished(
        domain=domain.rstrip("."),
        adkim=lower_text(f.get("adkim")) or "r",
        aspf=lower_text(f.get("aspf")) or "r",
        p=p,
        sp=lower_text(f.get("sp")) or p,
        np=lower_text(f.get("np")),
        pct=int_or_none(f.get("pct")),
        fo=text_of(f.get("fo")),
        testing=lower_text(f.get("testing")),
        discovery_method=lower_text(f.get("discovery_method")),
    )


def check_head(head: bytes) -> None:
    if DOCTYPE.search(head):
        raise AggregateError("DOCTYPE or ENTITY declarations are not allowed")


def iterparse(source: Any, recover: bool = False) -> Any:
    return etree.iterparse(
        source,
        events=("end",),
        tag=DMARC_TAGS,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        recover=recover,
        remove_blank_text=True,
        remove_comments=True,
        remove_pis=True,
    )


def document_parser() -> Any:
    # One per call: lxml parsers must not be shared between threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=True,
        remove_comments=True,
        remove_pis=True,
    )
