"""The portfolio read model: what MSP staff see first. An attention queue across every client
they reach, then one line per tenant (domains by stage, pass rate and trend, unknown-sender
volume, open problems by severity, last report), filtered, sorted and paged in SQL.

Everything is a fixed number of grouped queries over the page's tenants, read from the
per-domain day summary (``report_domain_day``: one row per domain and day, however many source
IPs) and index probes, never the per-IP roll-up or the records, never a loop of queries per
tenant: the page issues the same statements at 5 tenants as at 50
(tests/web/test_portfolio_scale.py counts them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case, exists, func, or_, select

from msp.auth.models import Membership, User
from msp.auth.principal import Principal
from msp.dns.models import PostureFinding
from msp.domains.models import Domain
from msp.extensions import db
from msp.policy.models import PolicyPlan
from msp.reports.models import Report, ReportDomainDay
from msp.tenancy.models import Tenant
from msp.tenancy.scope import scope_filter
from msp.web.attention import AttentionItem, attention_queue

WINDOW_DAYS = 30  # pass rate and unknown volume over the last 30 days, trend against the 30 before
PER_PAGE_CHOICES = (25, 50, 100)
NOT_EVALUATED = "not evaluated"
STAGE_ORDER = (
    "reject",
    "parked",
    "reject_test",
    "quarantine",
    "quarantine_test",
    "monitor",
    "none",
    NOT_EVALUATED,
)
SEVERITIES = ("error", "warning", "info")
SORTS = ("name", "domains", "pass_rate", "unknown", "problems", "last_report")


@dataclass(frozen=True)
class PortfolioQuery:
    """The filters, sort and page the portfolio was asked for (already validated)."""

    q: str = ""
    stage: str = ""
    severity: str = ""
    plan: str = ""
    staff: int | None = None
    sort: str = "name"
    desc: bool = False
    page: int = 1
    per_page: int = 50

    @classmethod
    def from_args(cls, args: Any) -> PortfolioQuery:
        def number(name: str, default: int) -> int:
            raw = str(args.get(name, "") or "")
            return int(raw) if raw.isdigit() and 0 < int(raw) < 10**6 else default

        stage = args.get("stage", "")
        staff = args.get("staff", "")
        per_page = number("per_page", 50)
        return cls(
            q=str(args.get("q", "")).strip()[:100],
            stage=stage if stage in STAGE_ORDER else "",
            severity=args.get("severity", "") if args.get("severity") in SEVERITIES else "",
            plan=str(args.get("plan", "")).strip()[:32],
            staff=int(staff) if str(staff).isdigit() and int(staff) < 2**31 else None,
            sort=args.get("sort", "name") if args.get("sort") in SORTS else "name",
            desc=args.get("dir") == "desc",
            page=number("page", 1),
            per_page=per_page if per_page in PER_PAGE_CHOICES else 50,
        )

    def args(self, **changes: Any) -> dict[str, Any]:
        """Query-string arguments of this view with ``changes`` (for sort and page links)."""
        values = {
            "q": self.q,
            "stage": self.stage,
            "severity": self.severity,
            "plan": self.plan,
            "staff": self.staff or "",
            "sort": self.sort,
            "dir": "desc" if self.desc else "asc",
            "page": self.page,
            "per_page": self.per_page,
        }
        values.update(changes)
        return {k: v for k, v in values.items() if v not in ("", None)}


@dataclass(frozen=True)
class TenantLine:
    tenant_id: int
    name: str
    slug: str
    plan: str
    timezone: str
    domains: int
    stages: list[tuple[str, int]]
    messages: int
    pass_rate: float | None
    previous_pass_rate: float | None
    unknown_messages: int
    problems: dict[str, int]
    last_report: datetime | None

    @property
    def trend(self) -> float | None:
        if self.pass_rate is None or self.previous_pass_rate is None:
            return None
        return self.pass_rate - self.previous_pass_rate


@dataclass(frozen=True)
class Portfolio:
    attention: list[AttentionItem]
    lines: list[TenantLine]
    total: int
    query: PortfolioQuery
    plans: list[str]
    staff: list[tuple[int, str]]
    window_days: int = WINDOW_DAYS
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.per_page))


# --- the page of tenants -------------------------------------------------------------------


def _window(today: date) -> tuple[date, date, date]:
    since = today - timedelta(days=WINDOW_DAYS - 1)
    return since, since - timedelta(days=WINDOW_DAYS), today


def _traffic_select(since: date, until: date) -> Any:
    day = ReportDomainDay.day
    return (
        select(
            ReportDomainDay.tenant_id.label("tenant_id"),
            func.sum(ReportDomainDay.messages).label("messages"),
            func.sum(ReportDomainDay.passed).label("passed"),
        )
        .where(day >= since, day <= until)
        .group_by(ReportDomainDay.tenant_id)
    )


def _unknown_select(since: date, until: date) -> Any:
    """Messages from senders nobody has approved (or marked forwarder/abuse) per tenant."""
    day = ReportDomainDay.day
    return (
        select(
            ReportDomainDay.tenant_id.label("tenant_id"),
            func.sum(ReportDomainDay.unknown).label("unknown"),
        )
        .where(day >= since, day <= until)
        .group_by(ReportDomainDay.tenant_id)
    )


def _problems_select() -> Any:
    return (
        select(PostureFinding.tenant_id.label("tenant_id"), func.count().label("problems"))
        .where(PostureFinding.closed_at.is_(None), PostureFinding.severity != "info")
        .group_by(PostureFinding.tenant_id)
    )


def _last_report_of_domain() -> Any:
    """Correlated: the domain's last report received, one probe of
    (tenant_id, domain_id, created_at)."""
    return (
        select(func.max(Report.created_at))
        .where(Report.tenant_id == Domain.tenant_id, Report.domain_id == Domain.id)
        .correlate(Domain)
        .scalar_subquery()
    )


def _last_report_of_tenant() -> Any:
    """Correlated: the tenant's last report received (one probe per domain of the tenant)."""
    return (
        select(func.max(_last_report_of_domain()))
        .where(Domain.tenant_id == Tenant.id)
        .correlate(Tenant)
        .scalar_subquery()
    )


def _domains_select() -> Any:
    return select(Domain.tenant_id.label("tenant_id"), func.count().label("domains")).group_by(
        Domain.tenant_id
    )


def _sort_column(query: PortfolioQuery, today: date) -> tuple[Any, Any]:
    """(subquery to join or None, the column to order by) for the requested sort."""
    since, _, until = _window(today)
    builders: dict[str, Callable[[], tuple[Any, str]]] = {
        "domains": lambda: (_domains_select().subquery(), "domains"),
        "pass_rate": lambda: (_traffic_select(since, until).subquery(), "rate"),
        "unknown": lambda: (_unknown_select(since, until).subquery(), "unknown"),
        "problems": lambda: (_problems_select().subquery(), "problems"),
    }
    if query.sort == "last_report":
        return None, _last_report_of_tenant()
    if query.sort not in builders:
        return None, func.lower(Tenant.name)
    sub, name = builders[query.sort]()
    if name == "rate":
        return sub, sub.c.passed * 1.0 / func.nullif(sub.c.messages, 0)
    return sub, sub.c[name]


def _filtered(query: PortfolioQuery, principal: Principal) -> Any:
    stmt = scope_filter(select(Tenant), Tenant, principal)
    if query.q:
        pattern = f"%{query.q.lower()}%"
        in_domains = exists().where(Domain.tenant_id == Tenant.id, Domain.name.ilike(pattern))
        stmt = stmt.where(
            or_(func.lower(Tenant.name).like(pattern), Tenant.slug.like(pattern), in_domains)
        )
    if query.plan:
        stmt = stmt.where(Tenant.plan == query.plan)
    if query.stage == NOT_EVALUATED:
        unplanned = select(Domain.id).outerjoin(PolicyPlan, PolicyPlan.domain_id == Domain.id)
        stmt = stmt.where(
            exists(unplanned.where(Domain.tenant_id == Tenant.id, PolicyPlan.id.is_(None)))
        )
    elif query.stage:
        stmt = stmt.where(
            exists().where(PolicyPlan.tenant_id == Tenant.id, PolicyPlan.stage == query.stage)
        )
    if query.severity:
        stmt = stmt.where(
            exists().where(
                PostureFinding.tenant_id == Tenant.id,
                PostureFinding.closed_at.is_(None),
                PostureFinding.severity == query.severity,
            )
        )
    if query.staff:
        stmt = stmt.where(
            exists().where(Membership.tenant_id == Tenant.id, Membership.user_id == query.staff)
        )
    return stmt


def _page_of_tenants(
    query: PortfolioQuery, principal: Principal, today: date
) -> tuple[list[Tenant], int]:
    stmt = _filtered(query, principal).add_columns(func.count().over().label("total"))
    sub, column = _sort_column(query, today)
    if sub is not None:
        stmt = stmt.outerjoin(sub, sub.c.tenant_id == Tenant.id)
    order = column.desc().nulls_last() if query.desc else column.asc().nulls_last()
    stmt = stmt.order_by(order, Tenant.id)
    stmt = stmt.limit(query.per_page).offset((query.page - 1) * query.per_page)
    rows = db.session.execute(stmt).all()
    total = int(rows[0][1]) if rows else 0
    if not rows and query.page > 1:
        # A page past the end (filters narrowed the list): count what there is.
        total = (
            db.session.scalar(
                select(func.count()).select_from(_filtered(query, principal).subquery())
            )
            or 0
        )
    return [row[0] for row in rows], total


def _stages(ids: list[int]) -> dict[int, dict[str, int]]:
    stage = func.coalesce(PolicyPlan.stage, NOT_EVALUATED)
    rows = db.session.execute(
        select(Domain.tenant_id, stage, func.count())
        .outerjoin(PolicyPlan, PolicyPlan.domain_id == Domain.id)
        .where(Domain.tenant_id.in_(ids))
        .group_by(Domain.tenant_id, stage)
    )
    result: dict[int, dict[str, int]] = {}
    for tenant_id, name, count in rows:
        result.setdefault(tenant_id, {})[name] = int(count)
    return result


def _traffic(ids: list[int], today: date) -> dict[int, tuple[int, int, int, int, int]]:
    """tenant -> (messages, passed, unknown) now and (messages, passed) in the window before."""
    since, before, until = _window(today)
    day = ReportDomainDay.day
    now = day >= since

    def total(column: Any, when: Any) -> Any:
        return func.sum(case((when, column), else_=0))

    rows = db.session.execute(
        select(
            ReportDomainDay.tenant_id,
            total(ReportDomainDay.messages, now),
            total(ReportDomainDay.passed, now),
            total(ReportDomainDay.unknown, now),
            total(ReportDomainDay.messages, ~now),
            total(ReportDomainDay.passed, ~now),
        )
        .where(ReportDomainDay.tenant_id.in_(ids), day >= before, day <= until)
        .group_by(ReportDomainDay.tenant_id)
    )
    return {t: tuple(int(n or 0) for n in numbers) for t, *numbers in rows}  # type: ignore[misc]


def _problems(ids: list[int]) -> dict[int, dict[str, int]]:
    rows = db.session.execute(
        select(PostureFinding.tenant_id, PostureFinding.severity, func.count())
        .where(PostureFinding.tenant_id.in_(ids), PostureFinding.closed_at.is_(None))
        .group_by(PostureFinding.tenant_id, PostureFinding.severity)
    )
    result: dict[int, dict[str, int]] = {}
    for tenant_id, severity, count in rows:
        result.setdefault(tenant_id, {})[severity] = int(count)
    return result


def _last_reports(ids: list[int]) -> dict[int, datetime]:
    stmt = (
        select(Domain.tenant_id, func.max(_last_report_of_domain()))
        .where(Domain.tenant_id.in_(ids))
        .group_by(Domain.tenant_id)
    )
    return {tenant_id: last for tenant_id, last in db.session.execute(stmt) if last is not None}


def _rate(messages: int, passed: int) -> float | None:
    return passed / messages if messages else None


def _ordered_stages(stages: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(
        stages.items(), key=lambda kv: STAGE_ORDER.index(kv[0]) if kv[0] in STAGE_ORDER else 99
    )


def _lines(tenants: list[Tenant], today: date) -> list[TenantLine]:
    ids = [t.id for t in tenants] or [-1]
    stages, traffic = _stages(ids), _traffic(ids, today)
    problems, last = _problems(ids), _last_reports(ids)
    lines = []
    for tenant in tenants:
        messages, passed, unknown, before, before_passed = traffic.get(tenant.id, (0,) * 5)
        tenant_stages = stages.get(tenant.id, {})
        lines.append(
            TenantLine(
                tenant_id=tenant.id,
                name=tenant.name,
                slug=tenant.slug,
                plan=tenant.plan,
                timezone=tenant.timezone,
                domains=sum(tenant_stages.values()),
                stages=_ordered_stages(tenant_stages),
                messages=messages,
                pass_rate=_rate(messages, passed),
                previous_pass_rate=_rate(before, before_passed),
                unknown_messages=unknown,
                problems=problems.get(tenant.id, {}),
                last_report=last.get(tenant.id),
            )
        )
    return lines


def _filter_choices(principal: Principal) -> tuple[list[str], list[tuple[int, str]]]:
    plans = list(
        db.session.scalars(
            scope_filter(select(Tenant.plan).distinct(), Tenant, principal).order_by(Tenant.plan)
        )
    )
    staff = [
        (user_id, email)
        for user_id, email in db.session.execute(
            select(User.id, User.email).where(User.msp_role == "msp_staff").order_by(User.email)
        )
    ]
    return plans, staff


def portfolio(principal: Principal, query: PortfolioQuery, now: datetime) -> Portfolio:
    """The portfolio page for ``principal``: attention queue, then a page of tenant lines."""
    today = now.date()
    tenants, total = _page_of_tenants(query, principal, today)
    plans, staff = _filter_choices(principal)
    items, counts = attention_queue(principal, now)
    return Portfolio(
        attention=items,
        lines=_lines(tenants, today),
        total=total,
        query=query,
        plans=plans,
        staff=staff if principal.all_tenants else [],
        counts=counts,
    )
