"""``parse_document`` (small reports read in one go) gives what the streaming ``AggregateParser``
gives: the same header, records and stats, or the same refusal; it hands malformed documents
back (None) to the streaming parser's recovery, and keeps refusing DTDs and foreign namespaces.

Pure parsing: no database.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from msp.reports import formats
from msp.reports.aggregate import AggregateError, AggregateParser, parse_document
from msp.reports.batch import Batch
from msp.reports.pipeline import Context
from tests.reports.corpus import GENERATORS, corpus_files, rel
from tests.reports.hostile import BILLION_LAUGHS, GOOD_XML, WRONG_NAMESPACE, XXE, report_xml

GENERATOR = GENERATORS / "gen_reports.py"
STYLES = ("google", "microsoft", "yahoo", "mimecast", "rfc9990", "compact", "mixed")
# The corpus files whose XML is not well-formed: parse_document hands them to recovery.
MALFORMED_IN_CORPUS = {"bad/invalid_utf_8.xml", "bad/invalid_xml.xml"}

Result = tuple[Any, ...]


def streamed(data: bytes) -> Result:
    """The streaming parser on ``data``: ("ok", header, records, stats) or ("error", message)."""
    try:
        parser = AggregateParser(lambda: io.BytesIO(data), size_hint=len(data))
        records = list(parser.records())
        return ("ok", parser.header, records, parser.stats)
    except AggregateError as exc:
        return ("error", str(exc))


def whole(data: bytes) -> Result | None:
    """The same from parse_document; None when it hands the document over."""
    try:
        parsed = parse_document(data)
    except AggregateError as exc:
        return ("error", str(exc))
    return None if parsed is None else ("ok", *parsed)


def xml_payloads(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    """The XML payloads of a file, including those attached to e-mails."""
    try:
        payloads = formats.unpack(data, name)
    except formats.FormatError:
        return
    for payload in payloads:
        if payload.kind == "xml":
            yield payload.name, payload.read()
        elif payload.kind == "email":
            for inner in formats.email_attachments(payload.read()).payloads:
                if inner.kind == "xml":
                    yield inner.name, inner.read()


def well_formed(data: bytes) -> bool:
    try:
        etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return False
    return True


def test_parse_document_agrees_with_the_streaming_parser_on_the_corpus() -> None:
    compared, handed_over = 0, set()
    for path in corpus_files():
        for name, data in xml_payloads(path.name, path.read_bytes()):
            expected, got = streamed(data), whole(data)
            if got is None:
                handed_over.add(rel(path))
                assert not well_formed(data), f"{rel(path)}: well-formed but handed over"
                continue
            assert got == expected, f"{rel(path)} ({name})"
            compared += 1
    assert handed_over == MALFORMED_IN_CORPUS
    assert compared >= 35


def generate(out: Path, *args: str) -> list[dict[str, Any]]:
    truth = out / "truth.jsonl"
    subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(out), "--truth", str(truth), *args],
        check=True,
        capture_output=True,
    )
    return [json.loads(line) for line in truth.read_text().splitlines()]


@pytest.mark.parametrize("style", STYLES)
def test_parse_document_agrees_with_the_streaming_parser_on_generated_reports(
    tmp_path: Path, style: str
) -> None:
    truth = generate(
        tmp_path,
        *("--style", style, "--reports", "12", "--records-range", "1:120"),
        *("--quirks", "0.3", "--seed", "20261129"),
    )
    by_file = {t["file"]: t for t in truth}
    checked = 0
    for path in sorted(p for p in tmp_path.iterdir() if p.name != "truth.jsonl"):
        [(_name, data)] = list(xml_payloads(path.name, path.read_bytes()))
        expected, got = streamed(data), whole(data)
        assert got is not None, path.name
        assert got == expected, path.name
        _ok, header, records, stats = got
        facts = next(t for f, t in by_file.items() if path.name.startswith(f))
        assert (header.report_id, len(records), stats.skipped) == (
            facts["report_id"],
            facts["records"],
            0,
        )
        assert sum(r.count for r in records) == facts["messages"]
        checked += 1
    assert checked == 12


def test_parse_document_agrees_on_reports_wrapped_in_e_mails(tmp_path: Path) -> None:
    generate(tmp_path, "--eml", "--reports", "8", "--seed", "7")
    found = 0
    for path in sorted(p for p in tmp_path.iterdir() if p.name != "truth.jsonl"):
        for name, data in xml_payloads(path.name, path.read_bytes()):
            got = whole(data)
            assert got is not None and got == streamed(data), name
            found += 1
    assert found == 8


RECORD = b"<record><row><source_ip>198.51.100.1</source_ip><count>1</count></row></record>"
MALFORMED = {
    "unclosed root": GOOD_XML.replace(b"</feedback>", b""),
    "stray < in a value": GOOD_XML.replace(b"<selector>s1<", b"<selector>s<1<"),
    "undeclared entity": GOOD_XML.replace(b"rid-1", b"rid&nbsp;1"),
    "invalid UTF-8": GOOD_XML.replace(b"Receiver.Test", b"Receiver\xff\xfe.Test"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_document_is_handed_to_the_streaming_parser(case: str) -> None:
    data = MALFORMED[case]
    assert parse_document(data) is None
    recovered = streamed(data)
    assert recovered[0] == "ok", recovered  # recover mode still reads the report
    assert recovered[1].report_id.startswith("rid") and len(recovered[2]) == 1


REFUSED = {
    "external entity": (XXE, "DOCTYPE or ENTITY declarations are not allowed"),
    "billion laughs": (BILLION_LAUGHS, "DOCTYPE or ENTITY declarations are not allowed"),
    "DOCTYPE after 4 KiB of comment": (
        b'<?xml version="1.0"?><!--'
        + b" " * 5000
        + b'--><!DOCTYPE feedback [<!ENTITY x "y">]>'
        + GOOD_XML.split(b"?>", 1)[1],
        "DOCTYPE declarations are not allowed",
    ),
    "foreign namespace": (WRONG_NAMESPACE, "unexpected XML namespace 'urn:evil:ns'"),
    "other root element": (
        GOOD_XML.replace(b"feedback>", b"report>"),
        "not a DMARC aggregate report: root element <report>",
    ),
    "no report_metadata": (
        b"<feedback>" + RECORD + b"</feedback>",
        "not a DMARC aggregate report: no report_metadata",
    ),
    "dates reversed": (
        report_xml(begin=1762041600, end=1761955200),
        "date_range ends before it begins",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refusals_are_the_streaming_parsers_refusals(case: str) -> None:
    data, message = REFUSED[case]
    with pytest.raises(AggregateError) as refused:
        parse_document(data)
    assert str(refused.value) == message
    assert streamed(data) == ("error", message)


def test_namespaced_reports_and_skipped_records_match() -> None:
    data = report_xml(records=4, namespace="urn:ietf:params:xml:ns:dmarc-2.0")
    data = data.replace(b"<count>5</count>", b"<count>many</count>", 1)
    data = data.replace(b"192.0.2.3<", b"2001:DB8:0:0::3<")
    got = whole(data)
    assert got is not None and got == streamed(data)
    _ok, header, records, stats = got
    assert header.namespace == "urn:ietf:params:xml:ns:dmarc-2.0"
    assert (len(records), stats.skipped, stats.first_skip_reason) == (
        3,
        1,
        "invalid or missing count",
    )
    assert records[1].source_ip == "2001:db8::3"


NESTED = {
    # A <record> inside another element: the streaming parser meets it when it ends (before
    # its container), so the two must still agree on what the header and the records are.
    "record inside policy_published": GOOD_XML.replace(
        b"</policy_published>", RECORD + b"</policy_published>"
    ),
    "record inside report_metadata": GOOD_XML.replace(
        b"</report_metadata>", RECORD + b"</report_metadata>"
    ),
    "record inside a record": GOOD_XML.replace(b"</record>", RECORD + b"</record>"),
}


@pytest.mark.parametrize("case", sorted(NESTED))
def test_nested_dmarc_elements_are_handed_to_the_streaming_parser(case: str) -> None:
    """Such shapes are read only one way: parse_document declines them (None), and a batch then
    reads them with the streaming parser, as it would read the same report when large."""
    data = NESTED[case]
    assert whole(data) is None
    batch = Batch()
    ctx = Context(raw_id=1, limits=formats.Limits(), reports_domain=None, batch=batch)
    expected = streamed(data)
    if expected[0] == "error":
        with pytest.raises(AggregateError, match=re.escape(expected[1])):
            batch.defer(data, ctx)
        return
    batch.defer(data, ctx)
    [deferred] = batch.deferred
    assert (deferred.header, deferred.records) == (expected[1], expected[2])
