"""Streaming, hardened parser for DMARC aggregate reports (RFC 7489 and RFC 9990).

Owns the hot path of ingestion: an lxml ``iterparse`` over a byte stream that never resolves
entities, never loads a DTD, never touches the network, refuses DOCTYPE declarations and
namespaces that are not DMARC's, keeps memory flat by clearing each record once read, and
lower-cases the RFC's enumerations. Records are yielded one at a time (the conversion of each
``<record>`` element is :mod:`msp.reports.records`).

Broken but recoverable XML (stray ``<`` in a value, invalid UTF-8) is re-read in lxml's recover
mode when the document is small enough, as parsedmarc does, so both agree on what a report holds.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from lxml import etree

from msp.reports.aggregate_xml import (
    ALLOWED_NAMESPACES,
    DMARC_TAGS,
    HEAD_BYTES,
    RECOVER_MAX_BYTES,
    XS_SCHEMA,
    Header,
    PolicyPublished,
    Stats,
    build_header,
    check_head,
    document_parser,
    iterparse,
    local_name,
    text_of,
)
from msp.reports.records import AggregateError, DkimResult, Names, Record, SpfResult, convert

__all__ = [
    "AggregateError",
    "AggregateParser",
    "DkimResult",
    "Header",
    "PolicyPublished",
    "Record",
    "SpfResult",
    "Stats",
]


def parse_document(data: bytes) -> tuple[Header, list[Record], Stats] | None:
    """A small report read in one go (lxml builds its tree in C, faster than streaming).

    Same rules and results as :class:`AggregateParser`; None when the document is not
    well-formed or has DMARC elements nested in others, so that the streaming parser (and its
    recovery mode) deals with it.
    """
    check_head(data[:HEAD_BYTES])
    if b"xs:schema" in data[:HEAD_BYTES]:
        data = XS_SCHEMA.sub(b"", data)
    try:
        root = etree.fromstring(data, document_parser())
    except etree.XMLSyntaxError:
        return None
    names = Names()
    parts = _HeaderParts()
    records: list[Record] = []
    skipped, first_skip = 0, None
    for elem in root.iter(*DMARC_TAGS):
        if elem.getparent() is not root:
            return None  # a DMARC element nested in another: the streaming parser's order rules
        name = parts.meet(elem, names[elem.tag])
        if name == "record":
            try:
                records.append(convert(elem, names))
            except (AggregateError, KeyError, TypeError) as exc:
                skipped += 1
                first_skip = first_skip or _skip_reason(exc)
        elif not (records or skipped):  # as when streaming: the header comes before the records
            parts.take(name, elem)
    return parts.header(), records, Stats(skipped, first_skip)


class _HeaderParts:
    """What a report has before its first record: metadata, published policy, version."""

    def __init__(self) -> None:
        self.meta: Any = None
        self.policy: Any = None
        self.version: str | None = None
        self.namespace: str | None = None

    def meet(self, elem: Any, name: str | None) -> str | None:
        """Check the document on its first DMARC element; the element's name."""
        if self.namespace is None:
            self.namespace = AggregateParser.check_root(elem)
        return name

    def take(self, name: str | None, elem: Any) -> None:
        if name == "report_metadata":
            self.meta = elem
        elif name == "policy_published":
            self.policy = self.policy if self.policy is not None else elem
        elif name == "version":
            self.version = text_of(elem)

    def header(self) -> Header:
        if self.meta is None:
            raise AggregateError("not a DMARC aggregate report: no report_metadata")
        return build_header(self.meta, self.policy, self.version, self.namespace or "")


def _skip_reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, AggregateError) else f"malformed record: {exc}"


class AggregateParser:
    """One pass over one report: ``header`` first, then ``records()``, then ``stats``.

    ``opener`` gives a fresh byte stream each call; it is called again only to re-read a broken
    small document in recover mode.
    """

    def __init__(self, opener: Callable[[], BinaryIO], size_hint: int | None = None) -> None:
        self._opener = opener
        self._size_hint = size_hint
        self._skipped = 0
        self._first_skip: str | None = None
        self._events: Iterator[tuple[str, Any]] = iter(())
        self._stream: Any = None
        self._recovering = False
        self._pending: Any = None
        self._names = Names()
        self.header = self._read_header()

    @property
    def stats(self) -> Stats:
        return Stats(skipped=self._skipped, first_skip_reason=self._first_skip)

    def _start(self, recover: bool) -> None:
        self.close()
        stream: Any = self._opener()
        head = stream.read(HEAD_BYTES)
        check_head(head)
        if recover or b"xs:schema" in head:
            data = head + stream.read(RECOVER_MAX_BYTES + 1)
            stream.close()
            if len(data) > RECOVER_MAX_BYTES:
                raise AggregateError("malformed XML in a document too large to recover")
            if recover:
                data = data.decode("utf-8", errors="ignore").encode("utf-8")
                data = re.sub(rb"^<\?xml[^>]*\?>", b'<?xml version="1.0"?>', data)
            stream = io.BytesIO(XS_SCHEMA.sub(b"", data))
        else:
            stream = _Prefixed(head, stream)
        self._stream = stream
        self._events = iter(iterparse(stream, recover=recover))
        self._recovering = recover

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def _next(self) -> Any | None:
        try:
            _event, elem = next(self._events)
        except StopIteration:
            return None
        return elem

    def _read_header(self) -> Header:
        try:
            return self._scan_header(recover=False)
        except etree.XMLSyntaxError as exc:
            if not self._can_recover():
                raise AggregateError(f"malformed XML: {exc}") from exc
            try:
                return self._scan_header(recover=True)
            except etree.XMLSyntaxError as again:
                raise AggregateError(f"malformed XML: {again}") from again

    def _can_recover(self) -> bool:
        return self._size_hint is None or self._size_hint <= RECOVER_MAX_BYTES

    def _scan_header(self, recover: bool) -> Header:
        self._start(recover)
        parts = _HeaderParts()
        while (elem := self._next()) is not None:
            name = parts.meet(elem, local_name(elem.tag))
            if name == "record":
                self._pending = elem
                break
            parts.take(name, elem)
        return parts.header()

    @staticmethod
    def check_root(elem: Any) -> str:
        """The document's namespace, after refusing DTDs and what is not ``<feedback>``."""
        tree = elem.getroottree()
        if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
            raise AggregateError("DOCTYPE declarations are not allowed")
        root = tree.getroot()
        qname = etree.QName(root)
        if qname.localname != "feedback":
            raise AggregateError(f"not a DMARC aggregate report: root element <{qname.localname}>")
        namespace = qname.namespace or ""
        if namespace not in ALLOWED_NAMESPACES:
            raise AggregateError(f"unexpected XML namespace {namespace[:100]!r}")
        return namespace

    def records(self) -> Iterator[Record]:
        """Yield each valid record; count and skip invalid ones (as parsedmarc does)."""
        done = 0
        try:
            try:
                for record in self._valid_records():
                    done += 1
                    yield record
            except etree.XMLSyntaxError as exc:
                if self._recovering or not self._can_recover():
                    raise AggregateError(f"malformed XML after {done} records: {exc}") from exc
                self._scan_header(recover=True)
                self._skipped, self._first_skip = 0, None
                for index, record in enumerate(self._valid_records()):
                    if index >= done:
                        yield record
        finally:
            self.close()

    def _valid_records(self) -> Iterator[Record]:
        elem, self._pending = self._pending, None
        while elem is not None:
            if local_name(elem.tag) == "record":
                record = self._convert(elem)
                if record is not None:
                    yield record
            _release(elem)
            elem = self._next()

    def _convert(self, elem: Any) -> Record | None:
        try:
            return convert(elem, self._names)
        except (AggregateError, KeyError, TypeError) as exc:
            self._skipped += 1
            self._first_skip = self._first_skip or _skip_reason(exc)
            return None


def _release(elem: Any) -> None:
    """Free a processed element and the siblings before it: keeps memory flat on huge reports."""
    elem.clear(keep_tail=False)
    parent = elem.getparent()
    if parent is not None:
        while elem.getprevious() is not None:
            del parent[0]


class _Prefixed:
    """A read-only stream that first returns ``head`` and then the rest of ``inner``."""

    def __init__(self, head: bytes, inner: BinaryIO) -> None:
        self._head = head
        self._inner = inner

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n is None or n < 0:
                data, self._head = self._head + self._inner.read(), b""
                return data
            data, self._head = self._head[:n], self._head[n:]
            return data
        return self._inner.read(n)

    def close(self) -> None:
        self._inner.close()
