"""The streaming aggregate parser: fields, RFC 9990, hardening and recovery."""

from __future__ import annotations

import io

import pytest

from msp.reports.aggregate import AggregateError, AggregateParser
from msp.reports.aggregate_xml import RECOVER_MAX_BYTES, RFC9990_NS
from tests.reports import hostile


def parse(data: bytes) -> tuple[AggregateParser, list]:
    parser = AggregateParser(lambda: io.BytesIO(data), size_hint=len(data))
    return parser, list(parser.records())


def test_fields_are_read_and_enums_lower_cased() -> None:
    parser, [record] = parse(hostile.GOOD_XML)
    header = parser.header
    assert (header.org_name, header.report_id, header.policy.domain) == (
        "Receiver.Test",
        "rid-1",
        "example.test",
    )
    assert header.policy.p == "none" and header.policy.sp == "none"
    assert record.source_ip == "192.0.2.10" and record.count == 5
    assert (record.disposition, record.dkim_eval, record.spf_eval) == ("none", "pass", "fail")
    assert record.dkim_aligned and not record.spf_aligned and record.dmarc_pass
    assert record.header_from == "example.test"
    assert record.envelope_from == "bounce.other.test"
    assert record.dkim[0].selector == "s1" and record.dkim[0].result == "pass"


def test_rfc9990_namespace_is_accepted() -> None:
    parser, records = parse(hostile.report_xml(namespace=RFC9990_NS, records=3))
    assert parser.header.namespace == RFC9990_NS
    assert len(records) == 3


def test_wrong_namespace_is_rejected() -> None:
    with pytest.raises(AggregateError, match="namespace"):
        parse(hostile.WRONG_NAMESPACE)


@pytest.mark.parametrize("data", [hostile.XXE, hostile.BILLION_LAUGHS])
def test_entity_attacks_are_rejected(data: bytes) -> None:
    with pytest.raises(AggregateError, match="DOCTYPE"):
        parse(data)


def test_record_without_source_ip_is_skipped_and_counted() -> None:
    data = hostile.report_xml(records=2).replace(b"192.0.2.1<", b"<", 1)
    parser, records = parse(data)
    assert len(records) == 1
    assert parser.stats.skipped == 1
    assert parser.stats.first_skip_reason == "Source IP address is empty"


def test_broken_markup_in_a_value_is_recovered() -> None:
    data = hostile.GOOD_XML.replace(b"<header_from>Example.test", b"<header_from>bad<x.test")
    _parser, records = parse(data)
    assert len(records) == 1 and records[0].count == 5


def test_unrecoverable_large_document_is_rejected() -> None:
    data = hostile.GOOD_XML.replace(b"</feedback>", b"<oops></feedback>")
    parser = AggregateParser(lambda: io.BytesIO(data), size_hint=RECOVER_MAX_BYTES + 1)
    with pytest.raises(AggregateError, match="malformed"):
        list(parser.records())


def test_not_a_feedback_document_is_rejected() -> None:
    with pytest.raises(AggregateError, match="root element"):
        parse(b"<?xml version='1.0'?><html><report_metadata/></html>")


def test_large_report_streams_with_flat_memory() -> None:
    import tracemalloc

    data = hostile.report_xml(records=20000)
    tracemalloc.start()
    parser = AggregateParser(lambda: io.BytesIO(data), size_hint=len(data))
    total = sum(r.count for r in parser.records())
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert total == 20000 * 5
    assert peak < 8 * 1024 * 1024
