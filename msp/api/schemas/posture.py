"""Schemas of the DNS posture endpoints (dump only: posture is produced by checks, not sent)."""

from __future__ import annotations

from marshmallow import Schema, fields


class FindingSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    severity = fields.String()
    message = fields.String()
    remediation = fields.String()
    detail = fields.String()
    opened_at = fields.DateTime()
    last_seen_at = fields.DateTime()


class PostureSchema(Schema):
    domain_id = fields.Integer()
    run_id = fields.Integer()
    checked_at = fields.DateTime()
    grade = fields.String()
    result = fields.Dict(
        metadata={
            "description": "the checker's result: domain, spf, dmarc, "
            "dkim, mx, mta_sts, tls_rpt, bimi, findings, "
            "grade"
        }
    )
    open_findings = fields.List(fields.Nested(FindingSchema))


class DriftSchema(Schema):
    key = fields.String()
    old_value = fields.String(allow_none=True)
    new_value = fields.String(allow_none=True)
    detected_at = fields.DateTime()


class PostureRunSchema(Schema):
    id = fields.Integer()
    checked_at = fields.DateTime()
    grade = fields.String()
    spf_status = fields.String()
    dmarc_status = fields.String()
    dmarc_policy = fields.String(allow_none=True)
    error_count = fields.Integer()
    warning_count = fields.Integer()
    drift = fields.List(fields.Nested(DriftSchema))
