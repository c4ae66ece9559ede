"""Schemas for tenants and memberships."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from msp.api.schemas import IdField
from msp.auth.models import MEMBERSHIP_ROLES


class TenantSchema(Schema):
    id = fields.Integer(dump_only=True)
    slug = fields.String(required=True, validate=validate.Length(min=1, max=63))
    name = fields.String(validate=validate.Length(min=1, max=200))
    timezone = fields.String(load_default="UTC", validate=validate.Length(min=1, max=64))
    plan = fields.String(load_default="standard", validate=validate.Length(min=1, max=32))
    status = fields.String(dump_only=True)
    report_token = fields.String(dump_only=True)
    settings = fields.Dict(keys=fields.String(), load_default=dict)
    created_at = fields.DateTime(dump_only=True)


class TenantUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    timezone = fields.String(validate=validate.Length(min=1, max=64))
    plan = fields.String(validate=validate.Length(min=1, max=32))
    status = fields.String(validate=validate.OneOf(["active", "suspended"]))
    settings = fields.Dict(keys=fields.String())


class MembershipSchema(Schema):
    id = fields.Integer(dump_only=True)
    tenant_id = fields.Integer(dump_only=True)
    user_id = IdField(required=True)
    role = fields.String(required=True, validate=validate.OneOf(MEMBERSHIP_ROLES))
