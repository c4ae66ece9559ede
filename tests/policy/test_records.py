"""The exact TXT records of each stage, checked against RFC 9989/7489 and the peer parser."""

from __future__ import annotations

import pytest

from msp.policy.records import (
    DmarcRecord,
    RecordOptions,
    dmarc_for_stage,
    parse_tags,
    record_mismatches,
    records_for_stage,
    split_txt,
)
from msp.policy.stages import Policy, Stage

from .builders import OPTIONS, RUA

R = "rua=mailto:r0123@reports.msp.test; ruf=mailto:r0123@reports.msp.test; fo=1"


@pytest.mark.parametrize(
    ("stage", "text"),
    [
        (Stage.MONITOR, f"v=DMARC1; p=none; sp=none; np=none; adkim=r; aspf=r; {R}"),
        (
            Stage.QUARANTINE_TEST,
            f"v=DMARC1; p=quarantine; sp=quarantine; np=quarantine; t=y; adkim=r; aspf=r; {R}",
        ),
        (
            Stage.QUARANTINE,
            f"v=DMARC1; p=quarantine; sp=quarantine; np=quarantine; adkim=r; aspf=r; {R}",
        ),
        (Stage.REJECT_TEST, f"v=DMARC1; p=reject; sp=reject; np=reject; t=y; adkim=r; aspf=r; {R}"),
        (Stage.REJECT, f"v=DMARC1; p=reject; sp=reject; np=reject; adkim=r; aspf=r; {R}"),
        (Stage.PARKED, f"v=DMARC1; p=reject; sp=reject; np=reject; adkim=s; aspf=s; {R}"),
    ],
)
def test_each_stage_has_its_exact_record(stage: Stage, text: str) -> None:
    assert dmarc_for_stage(stage, OPTIONS).text() == text


def test_pct_zero_appears_only_on_test_steps_of_a_legacy_ramp() -> None:
    ramp = RecordOptions(rua=RUA, legacy_pct_ramp=True)
    with_pct = {s for s in Stage if s is not Stage.NONE if dmarc_for_stage(s, ramp).pct == 0}
    assert with_pct == {Stage.QUARANTINE_TEST, Stage.REJECT_TEST}
    assert all(dmarc_for_stage(s, OPTIONS).pct is None for s in Stage if s is not Stage.NONE)
    assert "t=y; pct=0" in dmarc_for_stage(Stage.REJECT_TEST, ramp).text()


def test_subdomain_policy_cap_holds_sp_back_but_not_np() -> None:
    capped = RecordOptions(rua=RUA, subdomain_policy_cap=Policy.QUARANTINE)
    record = dmarc_for_stage(Stage.REJECT, capped)
    assert (record.p, record.sp, record.np) == (Policy.REJECT, Policy.QUARANTINE, Policy.REJECT)


def test_parked_fast_path_adds_spf_dash_all_and_null_mx() -> None:
    staged = records_for_stage("parked.test", Stage.PARKED, OPTIONS)
    assert staged is not None
    assert [(r.name, r.rtype, r.value) for r in staged.records[1:]] == [
        ("parked.test", "TXT", "v=spf1 -all"),
        ("parked.test", "MX", "0 ."),
    ]
    assert staged.records[0].name == "_dmarc.parked.test"


def test_no_record_stage_publishes_nothing() -> None:
    assert records_for_stage("example.test", Stage.NONE, OPTIONS) is None


def test_version_then_policy_lead_every_record() -> None:
    for stage in Stage:
        if stage is not Stage.NONE:
            names = [name for name, _ in dmarc_for_stage(stage, OPTIONS).tags()]
            assert names[:4] == ["v", "p", "sp", "np"]


def test_long_txt_content_is_split_into_255_octet_strings() -> None:
    many = tuple(f"mailto:reports-{i:03d}@reports.msp.test" for i in range(12))
    record = DmarcRecord(Policy.NONE, Policy.NONE, Policy.NONE, rua=many)
    chunks = split_txt(record.text())
    assert len(chunks) == 2 and all(len(c.encode()) <= 255 for c in chunks)
    assert "".join(chunks) == record.text()
    staged = records_for_stage("example.test", Stage.MONITOR, RecordOptions(rua=many))
    assert staged is not None and staged.records[0].zone_line().count('" "') == 1


@pytest.mark.parametrize("stage", [s for s in Stage if s is not Stage.NONE])
def test_peer_parser_reads_every_stage_record_as_planned(stage: Stage) -> None:
    checkdmarc_dmarc = pytest.importorskip("checkdmarc.dmarc")
    ramp = RecordOptions(rua=("mailto:r@example.test",), legacy_pct_ramp=True)
    record = dmarc_for_stage(stage, ramp)
    parsed = checkdmarc_dmarc.parse_dmarc_record(
        record.text(), "example.test", nameservers=["127.0.0.1"], timeout=0.05
    )
    tags = {name: value["value"] for name, value in parsed["tags"].items()}
    assert (tags["p"], tags["sp"], tags["np"]) == (record.p, record.sp, record.np)
    assert tags["t"] == ("y" if record.testing else "n")


def test_published_record_matches_when_policy_tags_agree() -> None:
    planned = dmarc_for_stage(Stage.QUARANTINE, OPTIONS)
    published = parse_tags(planned.text() + "; rua=mailto:x@y.test")
    assert record_mismatches(planned, parse_tags(planned.text())) == []
    assert record_mismatches(planned, published) == []  # a later duplicate tag is ignored


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        (None, ["no DMARC record is published"]),
        (
            "v=DMARC1; p=none; rua=mailto:r0123@reports.msp.test",
            ["p=none instead of", "sp=none instead of", "np=none instead of"],
        ),
        (
            "v=DMARC1; p=quarantine; rua=mailto:r0123@reports.msp.test; t=y",
            ["t=y instead of t=n"],
        ),
        ("v=DMARC1; p=quarantine", ["rua lacks mailto:r0123@reports.msp.test"]),
        (
            "v=DMARC1; p=quarantine; pct=50; rua=mailto:r0123@reports.msp.test",
            ["pct=50 instead of pct=100"],
        ),
    ],
)
def test_published_record_mismatches_say_what_differs(
    published: str | None, expected: list[str]
) -> None:
    planned = dmarc_for_stage(Stage.QUARANTINE, RecordOptions(rua=RUA))
    found = record_mismatches(planned, parse_tags(published) if published else None)
    assert len(found) == len(expected)
    assert all(f.startswith(e) for f, e in zip(found, expected, strict=True))


def test_absent_np_falls_back_to_sp_when_compared() -> None:
    planned = dmarc_for_stage(Stage.REJECT, RecordOptions(rua=RUA))
    published = parse_tags("v=DMARC1; p=reject; sp=quarantine; rua=mailto:r0123@reports.msp.test")
    assert record_mismatches(planned, published) == [
        "sp=quarantine instead of sp=reject",
        "np=quarantine instead of np=reject",
    ]
