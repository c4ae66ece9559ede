"""Schemas for notification teams, endpoints, routing rules, deliveries and channels."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from msp.notifications.channels import registry
from msp.notifications.models import DELIVERY_STATUSES
from msp.notifications.routing import SEVERITIES


def _secrets_set(endpoint: Any) -> list[str]:
    """Names of the secret fields that hold a value (the values are never shown)."""
    if not endpoint.sealed_secrets:
        return []
    return sorted(f.name for f in registry()[endpoint.kind].fields if f.secret)


class EndpointSchema(Schema):
    id = fields.Integer(dump_only=True)
    tenant_id = fields.Integer(dump_only=True)
    team_id = fields.Integer(dump_only=True)
    kind = fields.String(required=True, validate=validate.OneOf(sorted(registry())))
    name = fields.String(load_default="", validate=validate.Length(max=100))
    enabled = fields.Boolean(load_default=True)
    config = fields.Dict(
        keys=fields.String(),
        required=True,
        metadata={"description": "channel fields; secret ones are write-only"},
    )
    secrets_set = fields.Function(_secrets_set, dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class EndpointUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(max=100))
    enabled = fields.Boolean()
    config = fields.Dict(
        keys=fields.String(), metadata={"description": "merged into the stored configuration"}
    )


class TeamSchema(Schema):
    id = fields.Integer(dump_only=True)
    tenant_id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    label = fields.String(validate=validate.Length(max=200))
    receives_digest = fields.Boolean()
    quiet_start = fields.Integer(
        dump_only=True,
        allow_none=True,
        validate=validate.Range(0, 23),
        metadata={"description": "local hour quiet hours start (tenant time zone)"},
    )
    quiet_end = fields.Integer(
        dump_only=True,
        allow_none=True,
        validate=validate.Range(0, 23),
        metadata={"description": "local hour they end; held deliveries go then (not critical)"},
    )
    summary_mode = fields.Boolean(
        dump_only=True,
        metadata={"description": "one message a day instead of one per event (not critical)"},
    )
    summary_hour = fields.Integer(dump_only=True, validate=validate.Range(0, 23))
    endpoints = fields.List(fields.Nested(EndpointSchema), dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class TeamUpdateSchema(Schema):
    label = fields.String(validate=validate.Length(max=200))
    receives_digest = fields.Boolean()
    quiet_start = fields.Integer(
        allow_none=True,
        validate=validate.Range(0, 23),
        metadata={"description": "local hour quiet hours start (tenant time zone)"},
    )
    quiet_end = fields.Integer(
        allow_none=True,
        validate=validate.Range(0, 23),
        metadata={"description": "local hour they end; held deliveries go then (not critical)"},
    )
    summary_mode = fields.Boolean(
        metadata={"description": "one message a day instead of one per event (not critical)"}
    )
    summary_hour = fields.Integer(validate=validate.Range(0, 23))


class RuleSchema(Schema):
    team = fields.String(required=True, validate=validate.Length(min=1, max=64))
    kinds = fields.String(required=True, validate=validate.Length(min=1, max=64))
    code = fields.String(load_default="*", validate=validate.Length(min=1, max=64))
    min_severity = fields.String(load_default="info", validate=validate.OneOf(SEVERITIES))


class RulesSchema(Schema):
    rules = fields.List(fields.Nested(RuleSchema), required=True)
    defaults = fields.Boolean(
        dump_only=True, metadata={"description": "true: the built-in rules apply"}
    )


class DeliverySchema(Schema):
    id = fields.Integer(dump_only=True)
    tenant_id = fields.Integer(dump_only=True)
    endpoint_id = fields.Integer(dump_only=True)
    event_id = fields.Integer(dump_only=True, allow_none=True)
    key = fields.String(dump_only=True)
    status = fields.String(dump_only=True)
    attempts = fields.Integer(dump_only=True)
    subject = fields.String(dump_only=True)
    last_error = fields.String(dump_only=True, allow_none=True)
    receipt = fields.String(dump_only=True, allow_none=True)
    next_attempt_at = fields.DateTime(dump_only=True, allow_none=True)
    sent_at = fields.DateTime(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class DeliveryQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))


class ChannelFieldSchema(Schema):
    name = fields.String()
    help = fields.String()
    required = fields.Boolean()
    secret = fields.Boolean()
    many = fields.Boolean()


class ChannelSchema(Schema):
    kind = fields.String()
    label = fields.String()
    fields_ = fields.List(fields.Nested(ChannelFieldSchema), data_key="fields", attribute="fields")


class DigestPreviewSchema(Schema):
    subject = fields.String(dump_only=True)
    text = fields.String(dump_only=True)
    html = fields.String(dump_only=True)
    week = fields.String(dump_only=True)


class DigestPreviewQuerySchema(Schema):
    week = fields.String(
        validate=validate.Regexp(r"^\d{4}-W\d{2}$"),
        metadata={"description": "ISO week (YYYY-Www) the digest is sent in; default: now"},
    )


class DigestSettingsSchema(Schema):
    enabled = fields.Boolean()
    weekday = fields.Integer(validate=validate.Range(0, 6), metadata={"description": "0 = Monday"})
    hour = fields.Integer(validate=validate.Range(0, 23), metadata={"description": "local hour"})
    timezone = fields.String(validate=validate.Length(max=64))
    addresses = fields.List(
        fields.String(validate=validate.Length(max=254)),
        metadata={"description": "besides the e-mail endpoints of the teams receiving it"},
    )
    own = fields.Boolean(
        dump_only=True, metadata={"description": "false: the deployment's defaults apply"}
    )
