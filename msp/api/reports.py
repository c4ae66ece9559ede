"""``/api/v1/reports``: upload report files, list parsed reports and raw files, per-domain
senders with the tenant's verdicts, unrouted files for MSP staff, and report mailboxes.

The parsed-reports list grows with every report received (millions): it is read newest first
in index order (``(begin DESC, id DESC)``, per tenant ``(tenant_id, begin DESC, id DESC)``),
its total is counted only up to ``REPORT_TOTAL_CAP`` (``X-Total-Capped`` says when there are
more), and ``before`` (the ``X-Next-Before`` header of the previous page) continues the list at
the same cost however deep it goes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.pagination import PaginationParameters
from sqlalchemy import Select, func, select, tuple_

from msp.api.pagination import page_of
from msp.api.schemas.reports import (
    MailboxSchema,
    MailboxUpdateSchema,
    RawQuerySchema,
    RawReportSchema,
    ReportQuerySchema,
    ReportSchema,
    SenderSchema,
    SenderStatSchema,
    SenderVerdictSchema,
    TlsStatSchema,
    UploadQuerySchema,
    WindowQuerySchema,
)
from msp.auth.decorators import require_auth, require_manage, require_msp
from msp.domains.models import Domain
from msp.errors import Forbidden
from msp.extensions import db
from msp.reports import mailboxes, service
from msp.reports.models import RawReport, Report, ReportMailbox
from msp.response_cache import cached
from msp.tenancy.models import Tenant
from msp.tenancy.scope import get_scoped, require_principal, scoped_select

blp = Blueprint("reports", __name__, url_prefix="/api/v1", description="DMARC and TLS reports")
# Per-domain lists are written by strangers (any receiver may send reports): always paged.
LIST_PAGE = 50
LIST_PAGE_MAX = 200
REPORT_TOTAL_CAP = 10_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _cursor(report: Report) -> str:
    """``<microseconds since 1970>.<id>`` of a report: where the next page starts."""
    begin = report.begin if report.begin.tzinfo else report.begin.replace(tzinfo=UTC)
    return f"{(begin - EPOCH) // timedelta(microseconds=1)}.{report.id}"


def _after(stmt: Select[Any], cursor: str) -> Select[Any]:
    micros, report_id = cursor.split(".")
    begin = EPOCH + timedelta(microseconds=int(micros))
    return stmt.where(tuple_(Report.begin, Report.id) < tuple_(begin, int(report_id)))


def _report_page(
    stmt: Select[Any], pagination: PaginationParameters
) -> tuple[list[Report], dict[str, str]]:
    """One page of ``stmt`` with its total counted up to the cap, and the headers that say
    whether the total is capped and where the next page starts."""
    capped = stmt.order_by(None).limit(REPORT_TOTAL_CAP + 1).subquery()
    counted = int(db.session.scalar(select(func.count()).select_from(capped)) or 0)
    pagination.item_count = min(counted, REPORT_TOTAL_CAP)
    headers = {"X-Total-Capped": "true"} if counted > REPORT_TOTAL_CAP else {}
    if pagination.first_item >= counted:
        return [], headers
    items = list(db.session.scalars(stmt.limit(pagination.page_size).offset(pagination.first_item)))
    if len(items) == pagination.page_size:
        headers["X-Next-Before"] = _cursor(items[-1])
    return items, headers


def _uploaded_files() -> list[tuple[str, bytes]]:
    if request.files:
        return [
            (f.filename or name, f.read())
            for name in request.files
            for f in request.files.getlist(name)
        ]
    return [(request.headers.get("X-Filename", "upload"), request.get_data())]


@blp.route("/reports")
class Reports(MethodView):
    @require_auth
    @cached
    @blp.arguments(ReportQuerySchema, location="query")
    @blp.response(200, ReportSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: PaginationParameters) -> Any:
        """List parsed reports the caller reaches, newest first (total counted up to 10,000)."""
        stmt = scoped_select(Report).order_by(Report.begin.desc(), Report.id.desc())
        if "domain_id" in args:
            stmt = stmt.where(Report.domain_id == args["domain_id"])
        if "kind" in args:
            stmt = stmt.where(Report.kind == args["kind"])
        if "before" in args:
            stmt = _after(stmt, args["before"])
        items, headers = _report_page(stmt, pagination_parameters)
        return items, 200, headers

    @require_auth
    @blp.arguments(UploadQuerySchema, location="query")
    @blp.response(202, RawReportSchema(many=True))
    def post(self, args: dict[str, Any]) -> Any:
        """Upload report files: a raw body, or multipart with any number of files."""
        tenant_id = service.upload_tenant(require_principal(), args.get("tenant_id"))
        return service.receive_many(_uploaded_files(), tenant_id=tenant_id)


@blp.route("/reports/<int:report_id>")
class ReportItem(MethodView):
    @require_auth
    @blp.response(200, ReportSchema)
    def get(self, report_id: int) -> Any:
        """One parsed report."""
        return get_scoped(Report, report_id)


@blp.route("/reports/raw")
class RawReports(MethodView):
    @require_auth
    @blp.arguments(RawQuerySchema, location="query")
    @blp.response(200, RawReportSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: PaginationParameters) -> Any:
        """List received files with their status (unrouted ones: MSP staff only)."""
        stmt = scoped_select(RawReport).order_by(RawReport.id.desc())
        if "status" in args:
            stmt = stmt.where(RawReport.status == args["status"])
        if "tenant_id" in args:
            stmt = stmt.where(RawReport.tenant_id == args["tenant_id"])
        return page_of(stmt, pagination_parameters)


@blp.route("/reports/unrouted")
class UnroutedReports(MethodView):
    @require_msp
    @blp.response(200, RawReportSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: PaginationParameters) -> Any:
        """Files about domains nobody manages yet (MSP staff)."""
        stmt = scoped_select(RawReport).where(RawReport.status == "unrouted")
        return page_of(stmt.order_by(RawReport.id.desc()), pagination_parameters)


@blp.route("/reports/raw/<int:raw_id>/reprocess")
class RawReprocess(MethodView):
    @require_auth
    @blp.response(202, RawReportSchema)
    def post(self, raw_id: int) -> Any:
        """Parse a rejected or unrouted file again."""
        raw = get_scoped(RawReport, raw_id)
        if raw.tenant_id is not None:
            require_manage(raw.tenant_id)
        return service.reprocess(raw)


def _window(args: dict[str, Any]) -> tuple[Any, Any]:
    until = args.get("until") or datetime.now(UTC).date()
    return args.get("since") or until - timedelta(days=30), until


@blp.route("/domains/<int:domain_id>/senders")
class DomainSenders(MethodView):
    @require_auth
    @cached
    @blp.arguments(WindowQuerySchema, location="query")
    @blp.response(200, SenderStatSchema(many=True))
    @blp.paginate(page_size=LIST_PAGE, max_page_size=LIST_PAGE_MAX)
    def get(
        self, args: dict[str, Any], domain_id: int, pagination_parameters: PaginationParameters
    ) -> Any:
        """The domain's senders in a window (default: the last 30 days), busiest first."""
        domain = get_scoped(Domain, domain_id)
        page = service.sender_page(
            domain.id,
            *_window(args),
            limit=pagination_parameters.page_size,
            offset=pagination_parameters.first_item,
            with_network=True,
        )
        pagination_parameters.item_count = page.total
        return page.items


@blp.route("/domains/<int:domain_id>/tls")
class DomainTls(MethodView):
    @require_auth
    @blp.arguments(WindowQuerySchema, location="query")
    @blp.response(200, TlsStatSchema(many=True))
    @blp.paginate(page_size=LIST_PAGE, max_page_size=LIST_PAGE_MAX)
    def get(
        self, args: dict[str, Any], domain_id: int, pagination_parameters: PaginationParameters
    ) -> Any:
        """TLS-RPT results per policy and receiving MX (default: the last 30 days)."""
        domain = get_scoped(Domain, domain_id)
        page = service.tls_page(
            domain.id,
            *_window(args),
            limit=pagination_parameters.page_size,
            offset=pagination_parameters.first_item,
        )
        pagination_parameters.item_count = page.total
        return page.items


@blp.route("/domains/<int:domain_id>/senders/<string:key>")
class DomainSenderItem(MethodView):
    @require_auth
    @blp.arguments(SenderVerdictSchema)
    @blp.response(200, SenderSchema)
    def put(self, data: dict[str, Any], domain_id: int, key: str) -> Any:
        """Approve a sender, or mark it as a forwarder or as abuse."""
        domain = get_scoped(Domain, domain_id)
        require_manage(domain.tenant_id)
        return service.set_sender_status(domain, key, data["status"], data.get("note"))


def _check_mailbox_access(tenant_id: int | None) -> None:
    principal = require_principal()
    # An MSP-wide mailbox feeds every tenant: only staff who reach every tenant may write one.
    if tenant_id is None and not (principal.is_msp and principal.all_tenants):
        raise Forbidden("MSP-wide mailboxes are for MSP staff who reach every tenant")
    if tenant_id is not None:
        require_manage(tenant_id)


@blp.route("/report-mailboxes")
class Mailboxes(MethodView):
    @require_auth
    @blp.response(200, MailboxSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: PaginationParameters) -> Any:
        """List the report mailboxes the caller reaches."""
        return page_of(
            scoped_select(ReportMailbox).order_by(ReportMailbox.id), pagination_parameters
        )

    @require_auth
    @blp.arguments(MailboxSchema)
    @blp.response(201, MailboxSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Add an IMAP mailbox (a tenant's, or MSP-wide without tenant_id)."""
        tenant_id = data.pop("tenant_id", None)
        if tenant_id is not None:
            get_scoped(Tenant, tenant_id)
        _check_mailbox_access(tenant_id)
        return mailboxes.create_mailbox(tenant_id, data)


@blp.route("/report-mailboxes/<int:mailbox_id>")
class MailboxItem(MethodView):
    @require_auth
    @blp.response(200, MailboxSchema)
    def get(self, mailbox_id: int) -> Any:
        """One report mailbox."""
        return get_scoped(ReportMailbox, mailbox_id)

    @require_auth
    @blp.arguments(MailboxUpdateSchema)
    @blp.response(200, MailboxSchema)
    def patch(self, data: dict[str, Any], mailbox_id: int) -> Any:
        """Change a report mailbox (a new password is stored encrypted)."""
        mailbox = get_scoped(ReportMailbox, mailbox_id)
        _check_mailbox_access(mailbox.tenant_id)
        return mailboxes.update_mailbox(mailbox, data)

    @require_auth
    @blp.response(204)
    def delete(self, mailbox_id: int) -> None:
        """Remove a report mailbox (reports already received stay)."""
        mailbox = get_scoped(ReportMailbox, mailbox_id)
        _check_mailbox_access(mailbox.tenant_id)
        mailboxes.delete_mailbox(mailbox)
