"""Unpacking: every container we accept, and every hostile one refused with a clear reason."""

from __future__ import annotations

import gzip

import pytest

from msp.reports import formats
from tests.reports import hostile


def test_plain_xml_is_one_xml_payload() -> None:
    [payload] = formats.unpack(hostile.GOOD_XML, "r.xml")
    assert payload.kind == "xml"
    assert payload.read() == hostile.GOOD_XML


def test_gzip_with_trailing_crlf_is_accepted() -> None:
    data = gzip.compress(hostile.GOOD_XML) + b"\r\n"
    [payload] = formats.unpack(data, "r.xml.gz")
    assert payload.read() == hostile.GOOD_XML
    assert payload.name == "r.xml"


def test_truncated_gzip_is_refused() -> None:
    data = gzip.compress(hostile.GOOD_XML * 50)[:-40]
    [payload] = formats.unpack(data, "r.xml.gz")
    with pytest.raises(formats.FormatError, match="truncated"):
        payload.read()


def test_zip_members_each_become_a_payload() -> None:
    data = hostile.zip_of({"a.xml": hostile.GOOD_XML, "b.json": b'{"a": 1}'})
    kinds = [p.kind for p in formats.unpack(data, "r.zip")]
    assert kinds == ["xml", "json"]


def test_gzip_inside_gzip_is_a_nested_archive() -> None:
    data = gzip.compress(gzip.compress(hostile.GOOD_XML))
    with pytest.raises(formats.NestedArchive):
        formats.unpack(data, "r.xml.gz.gz")


def test_zip_inside_zip_is_a_nested_archive() -> None:
    inner = hostile.zip_of({"a.xml": hostile.GOOD_XML})
    with pytest.raises(formats.NestedArchive):
        formats.unpack(hostile.zip_of({"inner.zip": inner}), "r.zip")


def test_gzip_bomb_stops_at_the_limit_without_inflating_it() -> None:
    bomb = hostile.gzip_bomb(64 * 1024 * 1024)
    limits = formats.Limits(max_unpacked_bytes=16 * 1024 * 1024, ratio_floor_bytes=1 << 40)
    [payload] = formats.unpack(bomb, "bomb.xml.gz", limits)
    with pytest.raises(formats.TooLarge, match="limit"):
        payload.read()


def test_gzip_bomb_is_caught_by_its_compression_ratio() -> None:
    bomb = hostile.gzip_bomb(64 * 1024 * 1024)
    [payload] = formats.unpack(bomb, "bomb.xml.gz")
    with pytest.raises(formats.TooLarge, match="ratio"):
        payload.read()


def test_zip_bomb_is_refused() -> None:
    bomb = hostile.zip_of({"a.xml": b"<" + b" " * (64 * 1024 * 1024)})
    [payload] = formats.unpack(bomb, "bomb.zip")
    with pytest.raises(formats.TooLarge):
        payload.read()


def test_oversized_input_is_refused() -> None:
    limits = formats.Limits(max_input_bytes=100)
    with pytest.raises(formats.TooLarge, match="exceeds"):
        formats.unpack(hostile.GOOD_XML, "r.xml", limits)


def test_empty_and_unknown_inputs_are_refused() -> None:
    with pytest.raises(formats.FormatError, match="empty"):
        formats.unpack(b"  \n", "e.xml")
    with pytest.raises(formats.FormatError, match="not XML"):
        formats.unpack(b"\x00\x01binary", "x.bin")


def test_email_attachments_are_found_with_recipients() -> None:
    eml = hostile.report_email(gzip.compress(hostile.GOOD_XML), "r.xml.gz", to="Tok <t1@rep.test>")
    [payload] = formats.unpack(eml, "m.eml")
    assert payload.kind == "email"
    contents = formats.email_attachments(payload.read())
    assert [p.read() for p in contents.payloads] == [hostile.GOOD_XML]
    assert contents.recipients == ("t1@rep.test",)
