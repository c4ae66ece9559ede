"""Schemas for reports, raw files, senders and report mailboxes."""

from __future__ import annotations

import re

from marshmallow import Schema, ValidationError, fields, validate

from msp.reports.models import RAW_STATUSES, REPORT_KINDS, SENDER_STATUSES


class RawReportSchema(Schema):
    id = fields.Integer()
    tenant_id = fields.Integer(allow_none=True)
    source = fields.String()
    filename = fields.String()
    sha256 = fields.String()
    size = fields.Integer()
    status = fields.String()
    kind = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    org_name = fields.String(allow_none=True)
    report_id = fields.String(attribute="external_id", allow_none=True)
    domain = fields.String(allow_none=True)
    records = fields.Integer()
    attempts = fields.Integer()
    received_at = fields.DateTime()
    processed_at = fields.DateTime(allow_none=True)


ID_RANGE = validate.Range(min=1, max=2**31 - 1)


class RawQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(RAW_STATUSES))
    tenant_id = fields.Integer(validate=ID_RANGE)


class UploadQuerySchema(Schema):
    tenant_id = fields.Integer(validate=ID_RANGE)


class ReportSchema(Schema):
    id = fields.Integer()
    tenant_id = fields.Integer()
    domain_id = fields.Integer()
    raw_id = fields.Integer(allow_none=True)
    kind = fields.String()
    org_name = fields.String()
    report_id = fields.String(attribute="external_id")
    policy_domain = fields.String()
    begin = fields.DateTime()
    end = fields.DateTime()
    email = fields.String(allow_none=True)
    generator = fields.String(allow_none=True)
    policy = fields.Dict()
    records = fields.Integer()
    messages = fields.Integer()
    enriched = fields.Boolean()
    created_at = fields.DateTime()


# A cursor's microseconds since 1970 end with the year 9999; its report id is a row id.
_LAST_MICROSECOND = 253_402_300_799_999_999
_LAST_ID = 2**31 - 1


_CURSOR = re.compile(r"([0-9]{1,18})\.([0-9]{1,10})")


def _cursor(value: str) -> None:
    found = _CURSOR.fullmatch(value)
    if not found or int(found[1]) > _LAST_MICROSECOND or int(found[2]) > _LAST_ID:
        raise ValidationError("not a cursor this API gave (X-Next-Before)")


class ReportQuerySchema(Schema):
    domain_id = fields.Integer(validate=ID_RANGE)
    kind = fields.String(validate=validate.OneOf(REPORT_KINDS))
    before = fields.String(
        validate=_cursor,
        metadata={"description": "Continue after this report (the X-Next-Before header)"},
    )


class AsnShareSchema(Schema):
    asn = fields.Integer(metadata={"description": "Autonomous system number"})
    as_name = fields.String(allow_none=True)
    messages = fields.Integer()


class CountryShareSchema(Schema):
    country = fields.String(metadata={"description": "ISO 3166-1 alpha-2 code"})
    messages = fields.Integer()


class SourceIpSchema(Schema):
    ip = fields.String()
    messages = fields.Integer()
    ptr = fields.String(allow_none=True)
    asn = fields.Integer(allow_none=True)
    as_name = fields.String(allow_none=True)
    country = fields.String(allow_none=True)


class SenderNetworkSchema(Schema):
    ips = fields.Integer(metadata={"description": "Distinct source IPs in the window"})
    asns = fields.List(
        fields.Nested(AsnShareSchema),
        metadata={
            "description": "Busiest ASNs first (top 5); only IPs whose facts are known count, "
            "so the messages may sum to less than the sender's"
        },
    )
    countries = fields.List(
        fields.Nested(CountryShareSchema),
        metadata={"description": "Busiest countries first (top 5), known IPs only"},
    )
    top_ips = fields.List(
        fields.Nested(SourceIpSchema),
        metadata={"description": "Busiest source IPs first (top 5), with their facts if known"},
    )


class SenderStatSchema(Schema):
    key = fields.String()
    display_name = fields.String()
    status = fields.String()
    is_new = fields.Boolean()
    messages = fields.Integer()
    dmarc_pass = fields.Integer()
    spf_aligned_pass = fields.Integer()
    dkim_aligned_pass = fields.Integer()
    aligned_share = fields.Method("_aligned_share")
    first_seen = fields.Date()
    last_seen = fields.Date()
    dkim_selectors = fields.Method("_selectors")
    network = fields.Nested(
        SenderNetworkSchema,
        metadata={"description": "Where the sender's mail came from in the window"},
    )

    def _aligned_share(self, stat: object) -> float:
        messages = getattr(stat, "messages", 0)
        return round(getattr(stat, "dmarc_pass", 0) / messages, 4) if messages else 0.0

    def _selectors(self, stat: object) -> list[str]:
        return sorted(getattr(stat, "dkim_selectors", ()))


class WindowQuerySchema(Schema):
    since = fields.Date()
    until = fields.Date()


class SenderVerdictSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(SENDER_STATUSES))
    note = fields.String(validate=validate.Length(max=2000), allow_none=True)


class SenderSchema(Schema):
    id = fields.Integer()
    domain_id = fields.Integer()
    key = fields.String()
    name = fields.String()
    status = fields.String()
    note = fields.String(allow_none=True)
    first_seen = fields.Date(allow_none=True)
    last_seen = fields.Date(allow_none=True)


class MailboxSchema(Schema):
    id = fields.Integer(dump_only=True)
    tenant_id = fields.Integer(allow_none=True, load_default=None, validate=ID_RANGE)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    host = fields.String(required=True, validate=validate.Length(min=1, max=253))
    port = fields.Integer(load_default=993, validate=validate.Range(min=1, max=65535))
    tls = fields.String(load_default="tls", validate=validate.OneOf(["tls", "starttls", "none"]))
    username = fields.String(required=True, validate=validate.Length(min=1, max=320))
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=1000))
    folder = fields.String(load_default="INBOX", validate=validate.Length(min=1, max=200))
    archive_folder = fields.String(load_default="Archive", validate=validate.Length(min=1, max=200))
    enabled = fields.Boolean(load_default=True)
    last_polled_at = fields.DateTime(dump_only=True, allow_none=True)
    last_ok_at = fields.DateTime(dump_only=True, allow_none=True)
    last_error = fields.String(dump_only=True, allow_none=True)
    consecutive_failures = fields.Integer(dump_only=True)
    next_poll_at = fields.DateTime(dump_only=True, allow_none=True)


class MailboxUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=100))
    host = fields.String(validate=validate.Length(min=1, max=253))
    port = fields.Integer(validate=validate.Range(min=1, max=65535))
    tls = fields.String(validate=validate.OneOf(["tls", "starttls", "none"]))
    username = fields.String(validate=validate.Length(min=1, max=320))
    password = fields.String(load_only=True, validate=validate.Length(max=1000))
    folder = fields.String(validate=validate.Length(min=1, max=200))
    archive_folder = fields.String(validate=validate.Length(min=1, max=200))
    enabled = fields.Boolean()


class TlsStatSchema(Schema):
    policy_type = fields.String()
    mx_host = fields.String(allow_none=True)
    successful = fields.Integer()
    failed = fields.Integer()
    failure_types = fields.Dict(keys=fields.String(), values=fields.Integer())
