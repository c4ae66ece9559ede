"""Pure parts of the checker, table-driven: SPF syntax, DMARC tags, the wire codec, grades."""

from __future__ import annotations

import dns.message
import dns.rrset
import pytest

from msp.dns import wire
from msp.dns.dmarc import walk_names
from msp.dns.dmarc_record import Kind, classify, parse_dmarc, parse_uri
from msp.dns.findings import CATALOGUE, Finding, Severity, UnknownFindingCode, finding
from msp.dns.grade import grade
from msp.dns.resolver import InvalidDomainName, Nameserver, normalize_domain
from msp.dns.spf_syntax import is_spf_record, parse_spf


@pytest.mark.parametrize(
    ("record", "ok"),
    [
        ("v=spf1 -all", True),
        ("v=spf1", True),
        ("V=SPF1 -ALL", True),
        ("v=spf10 -all", False),
        (" v=spf1 -all", False),
        ("v=spf1-all", False),
    ],
)
def test_spf_record_selection(record: str, ok: bool) -> None:
    assert is_spf_record(record) is ok


@pytest.mark.parametrize(
    ("record", "error"),
    [
        ("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a/24//64 mx:example.test/28 -all", ""),
        ("v=spf1 exists:%{i}._spf.%{d2} -all", ""),
        ("v=spf1 include:%{ir}.%{v}._spf.example.test ~all", ""),
        ("v=spf1 ip4:192.0.2.0/33 -all", "bad prefix"),
        ("v=spf1 ip4:2001:db8::1 -all", "address family"),
        ("v=spf1 ip6:2001:db8::/129 -all", "bad prefix"),
        ("v=spf1 ip4:192.0.2.0/024 -all", "bad prefix"),
        ("v=spf1 a//129 -all", "bad CIDR"),
        ("v=spf1 ptr:example.test/24 -all", "ptr takes no CIDR"),
        ("v=spf1 include:%{z}.example.test -all", "macro letter"),
        ("v=spf1 include:%{d0}.example.test -all", "digit count 0"),
        ("v=spf1 include:% -all", "bad macro"),
        ("v=spf1 exp=%{c}.example.test -all", ""),
        ("v=spf1 include:%{c}.example.test -all", "macro letter"),
        ("v=spf1 redirect=a.example.test redirect=b.example.test", "more than once"),
        ("v=spf1 foo:bar -all", "unknown mechanism"),
        ("v=spf1 include -all", "needs a domain"),
        ("v=spf1 a:single -all", "top label"),
        ("v=spf1 all:x", "all takes no argument"),
        ("v=spf1 unknown-mod=thing -all", ""),
    ],
)
def test_spf_syntax(record: str, error: str) -> None:
    errors = " ".join(parse_spf(record).errors)
    assert (error in errors) if error else errors == ""


def test_spf_parser_reads_qualifiers_and_redirect() -> None:
    parsed = parse_spf("v=spf1 -ip4:192.0.2.1 ~mx ?a redirect=r.example.test")
    assert [(t.qualifier, t.mechanism) for t in parsed.terms] == [
        ("-", "ip4"),
        ("~", "mx"),
        ("?", "a"),
    ]
    assert parsed.redirect == "r.example.test" and parsed.all_term is None


@pytest.mark.parametrize(
    ("record", "kind"),
    [
        ("v=DMARC1; p=none", Kind.DMARC),
        ("v=DMARC1", Kind.DMARC),
        ("V=DMARC1; p=none", Kind.DMARC),
        ("v=dmarc1; p=none", Kind.BROKEN),
        ("p=none; v=DMARC1", Kind.BROKEN),
        ("v=DMARC1 p=none", Kind.BROKEN),
        ("v=DMARC2; p=none", Kind.BROKEN),
        ("google-site-verification=x", Kind.UNRELATED),
        ("", Kind.UNRELATED),
    ],
)
def test_dmarc_classification(record: str, kind: Kind) -> None:
    assert classify(record).kind is kind


def test_dmarc_tag_parsing_defaults_invalid_values_and_keeps_the_rest() -> None:
    parsed = parse_dmarc(
        "v=DMARC1; p=reject; sp=bogus; fo=0:1:d; adkim=S; ri=86400; rua=mailto:a@example.test"
    )
    assert parsed.invalid == {"sp"}
    assert {f.code for f in parsed.findings} == {"dmarc_invalid_tag_value", "dmarc_deprecated_tag"}


@pytest.mark.parametrize(
    ("uri", "valid", "host"),
    [
        ("mailto:a@example.test", True, "example.test"),
        ("mailto:a@example.test!10m", True, "example.test"),
        ("a@example.test", False, None),
        ("mailto:nobody", False, None),
        ("https://reports.example.test/x", True, None),
    ],
)
def test_report_uris(uri: str, valid: bool, host: str | None) -> None:
    parsed = parse_uri(uri)
    assert (parsed.valid, parsed.host) == (valid, host)


def test_tree_walk_names_cut_long_names_to_seven_labels() -> None:
    assert walk_names("a.b.example.test") == [
        "a.b.example.test",
        "b.example.test",
        "example.test",
        "test",
    ]
    long = "1.2.3.4.5.6.7.8.9.example.test"
    names = walk_names(long)
    assert names[0] == long and names[1] == "5.6.7.8.9.example.test" and names[-1] == "test"
    assert len(names) == 8


def test_wire_codec_reads_what_dnspython_writes() -> None:
    query = dns.message.from_wire(wire.encode_query(4242, "example.test", "TXT"))
    response = dns.message.make_response(query)
    response.answer.append(
        dns.rrset.from_text("example.test.", 300, "IN", "CNAME", "target.example.test.")
    )
    response.answer.append(
        dns.rrset.from_text("target.example.test.", 300, "IN", "TXT", '"v=spf1 " "-all"', '"other"')
    )
    decoded = wire.decode_response(response.to_wire())
    assert decoded.id == 4242 and decoded.question == ("example.test", 16)
    assert {(r.name, r.rdtype, r.data) for r in decoded.answer} == {
        ("example.test", 5, "target.example.test."),
        ("target.example.test", 16, "v=spf1 -all"),
        ("target.example.test", 16, "other"),
    }


def test_wire_codec_rejects_garbage() -> None:
    with pytest.raises(wire.WireError):
        wire.decode_response(b"\x00\x01\x81\x80\x00\x01\x00\x01")


@pytest.mark.parametrize(
    ("text", "server"),
    [
        ("192.0.2.1", Nameserver("192.0.2.1", 53)),
        ("127.0.0.1:5353", Nameserver("127.0.0.1", 5353)),
        ("[::1]:5353", Nameserver("::1", 5353)),
        ("2001:db8::1", Nameserver("2001:db8::1", 53)),
    ],
)
def test_nameserver_parsing(text: str, server: Nameserver) -> None:
    assert Nameserver.parse(text) == server


def test_domain_names_are_normalised_to_a_labels() -> None:
    assert normalize_domain("Bücher.Example.") == "xn--bcher-kva.example"
    for bad in ("localhost", "bad name.example", "a..example"):
        with pytest.raises(InvalidDomainName):
            normalize_domain(bad)


def _f(code: str) -> Finding:
    return finding(code)


@pytest.mark.parametrize(
    ("findings", "policy", "spf_valid", "unknown", "expected"),
    [
        ([], "reject", True, False, "A"),
        ([], "quarantine", True, False, "B"),
        ([], "none", True, False, "D"),
        ([], None, True, False, "F"),
        ([], None, None, True, "?"),
        ([], "reject", False, False, "C"),
        (["dkim_key_revoked", "mx_host_no_address"], "reject", True, False, "B"),
        (
            ["dkim_key_revoked", "mx_host_no_address", "spf_all_pass", "mx_target_is_cname"],
            "reject",
            True,
            False,
            "D",
        ),
        (["tlsrpt_missing", "mta_sts_missing"], "reject", True, False, "A"),
    ],
)
def test_grades(
    findings: list[str], policy: str | None, spf_valid: bool | None, unknown: bool, expected: str
) -> None:
    assert grade([_f(c) for c in findings], policy, spf_valid, unknown) == expected


def test_every_shared_code_is_in_the_catalogue_with_its_severity() -> None:
    import json
    from pathlib import Path

    codes = Path(__file__).resolve().parents[1] / "data" / "finding-codes.json"
    for code, meta in json.loads(codes.read_text()).items():
        assert CATALOGUE[code].severity == Severity(meta["severity"]), code
    with pytest.raises(UnknownFindingCode):
        finding("no_such_code")
