"""Routing a batch of reports at once (``route_many``) decides exactly what ``route`` decides for
each policy domain, and looks the domains up in one query per 500 names."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from msp.extensions import db
from msp.reports.routing import Route, route, route_many
from tests.factories import make_domain, make_tenant

REPORTS_DOMAIN = "reports.test"
NAMES = (
    "alpha.example",  # exact domain of tenant A
    "mail.alpha.example",  # subdomain: routed to its parent
    "deep.mail.alpha.example",
    "ALPHA.example",  # case does not matter
    "beta.example",  # tenant B's
    "unknown.example",  # nobody's
    "example",  # one label: never matches a parent
)


@pytest.fixture
def world(db_session: Any) -> dict[str, Any]:
    a, b = make_tenant("route-a"), make_tenant("route-b")
    alpha, beta = make_domain(a, "alpha.example"), make_domain(b, "beta.example")
    return {"a": a, "b": b, "alpha": alpha, "beta": beta}


def arrivals(world: dict[str, Any]) -> dict[str, dict[str, Any]]:
    a, b = world["a"], world["b"]
    token_a = (f"{a.report_token}@{REPORTS_DOMAIN}",)
    return {
        "open": {},
        "token-a": {"recipients": token_a, "reports_domain": REPORTS_DOMAIN},
        "upload-a": {"required_tenant_id": a.id},
        "token-a-upload-a": {
            "recipients": token_a,
            "reports_domain": REPORTS_DOMAIN,
            "required_tenant_id": a.id,
        },
        "token-a-upload-b": {
            "recipients": token_a,
            "reports_domain": REPORTS_DOMAIN,
            "required_tenant_id": b.id,
        },
        "foreign-address": {"recipients": ("dmarc@elsewhere.test",), "reports_domain": "x.test"},
    }


def expected(world: dict[str, Any], how: str, name: str) -> str:
    """The status the routing rule gives (written out by hand, not computed by the code)."""
    owner = {"beta.example": "b", "unknown.example": None, "example": None}.get(name, "a")
    if how == "token-a-upload-b":
        return "rejected"
    if owner is None:
        return "unrouted"
    if how in ("token-a", "upload-a", "token-a-upload-a") and owner != "a":
        return "rejected"
    return "routed"


@pytest.mark.parametrize(
    "how",
    ["open", "token-a", "upload-a", "token-a-upload-a", "token-a-upload-b", "foreign-address"],
)
def test_route_many_decides_what_route_decides_for_each_name(
    world: dict[str, Any], how: str
) -> None:
    kwargs = arrivals(world)[how]
    many = route_many(NAMES, **kwargs)
    assert set(many) == set(NAMES)
    for name in NAMES:
        one = route(name, **kwargs)
        assert many[name] == one, name
        assert one.status == expected(world, how, name), (how, name, one)
    if how == "open":
        assert many["deep.mail.alpha.example"] == Route(
            "routed",
            tenant_id=world["a"].id,
            domain_id=world["alpha"].id,
            domain_name="alpha.example",
        )
        assert many["beta.example"].domain_id == world["beta"].id
        assert many["unknown.example"].reason == "no tenant manages unknown.example"


def test_a_subdomain_goes_to_its_nearest_managed_parent(world: dict[str, Any]) -> None:
    # another tenant manages the subdomain (MSP staff allowed it)
    sub = make_domain(world["b"], "mail.alpha.example", allow_nested=True)
    many = route_many(["x.mail.alpha.example", "mail.alpha.example", "other.alpha.example"])
    assert many["x.mail.alpha.example"].domain_id == sub.id
    assert many["mail.alpha.example"].tenant_id == world["b"].id
    assert many["other.alpha.example"].domain_id == world["alpha"].id
    for name, where in many.items():
        assert route(name) == where


def test_a_domain_not_verified_yet_owns_no_reports(world: dict[str, Any]) -> None:
    sub = make_domain(world["b"], "new.alpha.example", allow_nested=True)
    sub.verified_at = None  # as a tenant's own user adds it, before control is shown
    db.session.flush()
    where = route("x.new.alpha.example")
    assert (where.status, where.domain_id) == ("routed", world["alpha"].id)
    world["alpha"].verified_at = None
    db.session.flush()
    assert route("x.new.alpha.example").status == "unrouted"


@pytest.fixture
def domain_queries(world: dict[str, Any]) -> Iterator[list[str]]:
    """The SQL statements reading the domain table while the test runs."""
    seen: list[str] = []
    engine = db.session.get_bind()

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM domain" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_route_many_reads_the_domains_in_one_query_per_500_names(
    world: dict[str, Any], domain_queries: list[str]
) -> None:
    names = [f"n{i}.example" for i in range(1200)] + ["alpha.example", "beta.example"]
    many = route_many(names)
    assert len(domain_queries) == 3  # 1202 names: ceil(1202 / 500)
    assert many["alpha.example"].status == many["beta.example"].status == "routed"
    assert {many[n].status for n in names[:1200]} == {"unrouted"}
    domain_queries.clear()
    route_many(names[:500])
    assert len(domain_queries) == 1
