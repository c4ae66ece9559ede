"""Schemas for domains."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from msp.api.schemas import IdField


class DomainSchema(Schema):
    id = fields.Integer(dump_only=True)
    tenant_id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=253))
    dkim_selectors = fields.List(
        fields.String(validate=validate.Length(min=1, max=63)), load_default=list
    )
    check_interval_minutes = fields.Integer(
        allow_none=True, load_default=None, validate=validate.Range(min=5, max=7 * 24 * 60)
    )
    parked = fields.Boolean(load_default=False)
    settings = fields.Dict(keys=fields.String(), load_default=dict)
    next_check_at = fields.DateTime(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    verified_at = fields.DateTime(
        dump_only=True,
        allow_none=True,
        metadata={"description": "null: reports wait until control of the domain is shown"},
    )
    allow_nested = fields.Boolean(
        load_only=True,
        load_default=False,
        metadata={"description": "MSP staff: allow a name under another client's domain"},
    )


class VerificationSchema(Schema):
    verified = fields.Boolean()
    method = fields.String()
    detail = fields.String()
    verified_at = fields.DateTime(allow_none=True)
    txt_name = fields.String(
        allow_none=True, metadata={"description": "publish a TXT record here ..."}
    )
    txt_value = fields.String(allow_none=True, metadata={"description": "... with this value"})
    report_address = fields.String(
        metadata={"description": "or a DMARC record whose rua names this address"}
    )


class DomainUpdateSchema(Schema):
    dkim_selectors = fields.List(fields.String(validate=validate.Length(min=1, max=63)))
    check_interval_minutes = fields.Integer(
        allow_none=True, validate=validate.Range(min=5, max=7 * 24 * 60)
    )
    parked = fields.Boolean()
    settings = fields.Dict(keys=fields.String())


class DomainQuerySchema(Schema):
    tenant_id = IdField()
    q = fields.String(validate=validate.Length(max=253))
