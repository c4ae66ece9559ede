"""Every corpus file gives its expected status; re-ingesting gives only duplicates; and our
record counts and message totals equal parsedmarc's (the differential test)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from msp.extensions import db
from msp.reports import parsing, service
from msp.reports.models import Report
from tests.factories import make_domain, make_tenant
from tests.reports.corpus import DOMAINS, EXPECTED, corpus_files, rel


@pytest.fixture
def owner(db_session: Any) -> Any:
    tenant = make_tenant("corpus-owner")
    for name in DOMAINS:
        make_domain(tenant, name)
    return tenant


def ingest_all(batched: bool = False) -> dict[str, tuple[str, list[service.Outcome]]]:
    paths = corpus_files()
    if batched:
        done = service.ingest_files([(p.name, p.read_bytes()) for p in paths], source="cli")
        return {rel(p): (raw.status, outs) for p, (raw, outs) in zip(paths, done, strict=True)}
    results = {}
    for path in paths:
        raw, outcomes = service.ingest_now(path.read_bytes(), source="cli", filename=path.name)
        results[rel(path)] = (raw.status, outcomes)
    return results


@pytest.mark.parametrize("batched", [False, True], ids=["one-by-one", "batched"])
def test_every_corpus_file_gives_its_expected_status(owner: Any, batched: bool) -> None:
    results = ingest_all(batched)
    assert set(results) == set(EXPECTED)
    got = {name: status for name, (status, _o) in results.items()}
    assert got == EXPECTED
    rejected = [o.error for status, outs in results.values() if status == "rejected" for o in outs]
    assert all(rejected), "every rejection says why"


@pytest.mark.slow  # the whole corpus, twice: seconds (out of the quick loop)
def test_reingesting_the_corpus_gives_only_duplicates(owner: Any) -> None:
    ingest_all()
    again = ingest_all()
    statuses = {name: status for name, (status, _o) in again.items()}
    assert {s for n, s in statuses.items() if EXPECTED[n] == "rejected"} == {"rejected"}
    assert {s for n, s in statuses.items() if EXPECTED[n] == "unrouted"} == {"unrouted"}
    assert {s for n, s in statuses.items() if EXPECTED[n] not in ("rejected", "unrouted")} == {
        "duplicate"
    }


@pytest.mark.slow  # the whole corpus and parsedmarc on it: 7 s (out of the quick loop)
def test_record_counts_and_message_totals_equal_parsedmarcs(owner: Any) -> None:
    results = ingest_all()
    compared = 0
    for path in corpus_files():
        status, outcomes = results[rel(path)]
        if status != "ingested" or outcomes[0].kind != "aggregate":
            continue
        reference = parsing.reference_summary(path.read_bytes())
        report = db.session.scalar(select(Report).where(Report.id == outcomes[0].report_pk))
        assert report is not None
        assert (report.records, report.messages) == (reference.records, reference.messages), path
        assert report.external_id == reference.report_id, path
        compared += 1
    assert compared >= 25
