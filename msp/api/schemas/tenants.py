"""Schemas for tenants and memberships."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from msp.api.schemas import IdField
from msp.auth.models import MEMBERSHIP_ROLES
from msp.tenancy import settings as tenant_settings

# The keys are validated by the tenancy service (the one place, for the CLI too), which answers
# 422 with one message per bad key; this only documents them.
SETTINGS_DOC = {
    "description": "Tenant settings; unknown keys are refused. On update, replaces the whole "
    "object (send every key to keep).",
    "properties": {
        tenant_settings.FAILURE_REPORTS_REDACTED: {
            "type": "boolean",
            "default": tenant_settings.DEFAULTS[tenant_settings.FAILURE_REPORTS_REDACTED],
            "description": "Store failure reports without subject, local parts and body",
        },
        tenant_settings.FAILURE_REPORT_RETENTION_DAYS: {
            "type": "integer",
            "minimum": tenant_settings.RETENTION_DAYS_MIN,
            "maximum": tenant_settings.RETENTION_DAYS_MAX,
            "default": tenant_settings.DEFAULTS[tenant_settings.FAILURE_REPORT_RETENTION_DAYS],
            "description": "Days failure reports are kept",
        },
        tenant_settings.POLICY: {
            "type": "object",
            "description": "The policy engine's tenant keys (also PUT through the policy API)",
        },
    },
    "additionalProperties": False,
}


class TenantSchema(Schema):
    id = fields.Integer(dump_only=True)
    slug = fields.String(required=True, validate=validate.Length(min=1, max=63))
    name = fields.String(validate=validate.Length(min=1, max=200))
    timezone = fields.String(load_default="UTC", validate=validate.Length(min=1, max=64))
    plan = fields.String(load_default="standard", validate=validate.Length(min=1, max=32))
    status = fields.String(dump_only=True)
    report_token = fields.String(dump_only=True)
    settings = fields.Dict(keys=fields.String(), load_default=dict, metadata=SETTINGS_DOC)
    created_at = fields.DateTime(dump_only=True)


class TenantUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    timezone = fields.String(validate=validate.Length(min=1, max=64))
    plan = fields.String(validate=validate.Length(min=1, max=32))
    status = fields.String(validate=validate.OneOf(["active", "suspended"]))
    settings = fields.Dict(keys=fields.String(), metadata=SETTINGS_DOC)


class MembershipSchema(Schema):
    id = fields.Integer(dump_only=True)
    tenant_id = fields.Integer(dump_only=True)
    user_id = IdField(required=True)
    role = fields.String(required=True, validate=validate.OneOf(MEMBERSHIP_ROLES))


class MembershipRoleSchema(Schema):
    role = fields.String(required=True, validate=validate.OneOf(MEMBERSHIP_ROLES))
