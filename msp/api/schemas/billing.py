"""Schemas for billing: a tenant's billing overview, the subscribe request, webhook answers."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from msp.billing.entitlements import Standing


class EntitlementsSchema(Schema):
    plan = fields.String(dump_only=True)
    max_domains = fields.Integer(dump_only=True, allow_none=True)
    min_check_interval_minutes = fields.Integer(dump_only=True)
    retention_days = fields.Integer(dump_only=True)


class UsageSchema(Schema):
    start = fields.Date(dump_only=True)
    end = fields.Date(dump_only=True)
    domains = fields.Integer(dump_only=True)
    messages = fields.Integer(dump_only=True, allow_none=True)


class BillingOverviewSchema(Schema):
    tenant_id = fields.Integer(dump_only=True)
    billing_enabled = fields.Boolean(dump_only=True)
    status = fields.String(dump_only=True)
    plan = fields.String(dump_only=True, allow_none=True)
    standing = fields.Enum(Standing, by_value=True, dump_only=True)
    delinquent = fields.Boolean(dump_only=True)
    payment_failed_at = fields.DateTime(dump_only=True, allow_none=True)
    current_period_end = fields.DateTime(dump_only=True, allow_none=True)
    cancel_at_period_end = fields.Boolean(dump_only=True)
    stripe_customer_id = fields.String(dump_only=True, allow_none=True)
    stripe_subscription_id = fields.String(dump_only=True, allow_none=True)
    entitlements = fields.Nested(EntitlementsSchema, dump_only=True)
    usage = fields.Nested(UsageSchema, dump_only=True)


class SubscribeSchema(Schema):
    plan = fields.String(required=True, validate=validate.Length(min=1, max=32))


class WebhookAnswerSchema(Schema):
    received = fields.Boolean(dump_only=True)
    event_id = fields.String(dump_only=True)
    type = fields.String(dump_only=True)
    outcome = fields.String(dump_only=True)
