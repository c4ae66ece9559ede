"""Schemas for users, API tokens and the audit log."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from msp.api.schemas import IdField
from msp.auth.models import MSP_ROLES, TENANT_ROLES


class MembershipBrief(Schema):
    tenant_id = fields.Integer()
    role = fields.String()


class UserSchema(Schema):
    id = fields.Integer(dump_only=True)
    email = fields.Email(required=True)
    name = fields.String(load_default="", validate=validate.Length(max=200))
    password = fields.String(load_only=True, validate=validate.Length(min=12, max=1024))
    msp_role = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(MSP_ROLES))
    staff_restricted = fields.Boolean(load_default=False)
    tenant_id = IdField(load_only=True)
    tenant_role = fields.String(load_only=True, validate=validate.OneOf(TENANT_ROLES))
    is_active = fields.Boolean(dump_only=True)
    memberships = fields.List(fields.Nested(MembershipBrief), dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    last_login_at = fields.DateTime(dump_only=True, allow_none=True)


class UserUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(max=200))
    password = fields.String(load_only=True, validate=validate.Length(min=12, max=1024))
    is_active = fields.Boolean()
    msp_role = fields.String(allow_none=True, validate=validate.OneOf(MSP_ROLES))
    staff_restricted = fields.Boolean()


class TokenSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    tenant_id = IdField(allow_none=True, load_default=None)
    role = fields.String(required=True, validate=validate.OneOf((*MSP_ROLES, *TENANT_ROLES)))
    expires_in_days = fields.Integer(load_only=True, load_default=90)
    mfa_code = fields.String(
        load_only=True,
        validate=validate.Length(max=32),
        metadata={"description": "a current second-factor code, if the creator has one"},
    )
    prefix = fields.String(dump_only=True)
    expires_at = fields.DateTime(dump_only=True)
    revoked_at = fields.DateTime(dump_only=True, allow_none=True)
    last_used_at = fields.DateTime(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class IssuedTokenSchema(TokenSchema):
    token = fields.String(dump_only=True, metadata={"description": "shown once"})


class AuditSchema(Schema):
    id = fields.Integer()
    tenant_id = fields.Integer(allow_none=True)
    actor_type = fields.String()
    actor_id = fields.Integer(allow_none=True)
    actor_label = fields.String()
    action = fields.String()
    object_type = fields.String()
    object_id = fields.String()
    changes = fields.Dict()
    ip = fields.String()
    at = fields.DateTime()


class AuditQuerySchema(Schema):
    tenant_id = IdField()
    action = fields.String(validate=validate.Length(max=64))


class MeSchema(Schema):
    kind = fields.String()
    id = fields.Integer()
    label = fields.String()
    msp_role = fields.String(allow_none=True)
    all_tenants = fields.Boolean()
    tenant_roles = fields.Dict(keys=fields.String(), values=fields.String())


class InvitationSchema(Schema):
    id = fields.Integer(dump_only=True)
    tenant_id = fields.Integer(dump_only=True)
    email = fields.Email(required=True, validate=validate.Length(max=254))
    role = fields.String(load_default="tenant_viewer", validate=validate.OneOf(TENANT_ROLES))
    expires_at = fields.DateTime(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class InvitedSchema(Schema):
    """The answer to an invitation or a tenant user's creation by a tenant manager: the same
    whether or not the address has an account anywhere."""

    status = fields.String(metadata={"description": "always 'invited'"})
    email = fields.String()
    tenant_id = fields.Integer()
    role = fields.String()
    expires_at = fields.DateTime()


class AcceptInvitationSchema(Schema):
    token = fields.String(required=True, validate=validate.Length(min=10, max=200))
    password = fields.String(load_default=None, validate=validate.Length(min=12, max=1024))
    name = fields.String(load_default="", validate=validate.Length(max=200))
