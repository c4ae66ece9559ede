"""The parsed-reports list at scale: newest first in index order, a total counted only up to a
cap (said so in a header), a cursor that continues the list without counting or skipping rows,
and an MSP token restricted to some tenants sees only those."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from msp.api import reports as reports_api
from msp.domains.models import Domain
from msp.extensions import db
from msp.reports.models import Report
from tests.factories import make_domain, make_tenant, token_caller
from tests.reports.test_reach import _restricted_staff

START = datetime(2025, 3, 1, tzinfo=UTC)


def _reports(domain: Domain, count: int, tag: str) -> None:
    for i in range(count):
        # Pairs share a begin: the id breaks the tie, in the order and in the cursor.
        begin = START + timedelta(days=i // 2)
        db.session.add(
            Report(
                tenant_id=domain.tenant_id,
                domain_id=domain.id,
                kind="aggregate",
                org_name="receiver.test",
                external_id=f"{tag}-{i}",
                policy_domain=domain.name,
                begin=begin,
                end=begin + timedelta(days=1),
                policy={},
            )
        )
    db.session.flush()


def _walk(client: FlaskClient, headers: dict[str, str], query: str) -> tuple[list[int], Any]:
    """Every report of the list, page by page through the X-Next-Before cursor."""
    seen: list[int] = []
    first = None
    url = f"/api/v1/reports?page_size=7{query}"
    while True:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.get_json()
        first = first or response
        seen += [r["id"] for r in response.get_json()]
        cursor = response.headers.get("X-Next-Before")
        if cursor is None:
            return seen, first
        url = f"/api/v1/reports?page_size=7{query}&before={cursor}"


def _expected(*domains: Domain) -> list[int]:
    ids = {d.id for d in domains}
    rows = [r for r in db.session.query(Report).all() if r.domain_id in ids]
    return [r.id for r in sorted(rows, key=lambda r: (r.begin, r.id), reverse=True)]


def test_the_list_total_is_capped_and_the_cursor_reaches_every_report_once(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reports_api, "REPORT_TOTAL_CAP", 10)
    one, two = make_tenant(), make_tenant()
    first, second = make_domain(one), make_domain(two)
    _reports(first, 17, "a")
    _reports(second, 6, "b")
    staff = token_caller("msp_staff")
    db.session.commit()

    seen, page = _walk(client, staff.headers, "")
    assert seen == _expected(first, second) and len(seen) == 23
    assert json.loads(page.headers["X-Pagination"])["total"] == 10
    assert page.headers["X-Total-Capped"] == "true"

    narrowed, page = _walk(client, staff.headers, f"&domain_id={second.id}")
    assert narrowed == _expected(second)
    assert json.loads(page.headers["X-Pagination"])["total"] == 6
    assert "X-Total-Capped" not in page.headers

    for cursor in ("yesterday", "999999999999999999.1", "1.99999999999"):
        refused = client.get(f"/api/v1/reports?before={cursor}", headers=staff.headers)
        assert refused.status_code == 422, cursor  # past year 9999 / past a row id: not a 500


def test_a_restricted_msp_token_lists_only_the_tenants_it_reaches(client: FlaskClient) -> None:
    mine, other = make_tenant(), make_tenant()
    own, foreign = make_domain(mine), make_domain(other)
    _reports(own, 9, "m")
    _reports(foreign, 9, "o")
    headers = _restricted_staff(mine)
    db.session.commit()
    seen, page = _walk(client, headers, "")
    assert seen == _expected(own)
    assert json.loads(page.headers["X-Pagination"])["total"] == 9
