"""Schemas for DNS provider accounts, a domain's provider and its publish state."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from msp.publishing.providers import kinds
from msp.publishing.settings import Mode

MODES = [m.value for m in Mode]


class ProviderSchema(Schema):
    id = fields.Integer(dump_only=True)
    tenant_id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    kind = fields.String(required=True, validate=validate.OneOf(kinds()))
    options = fields.Dict(
        keys=fields.String(),
        required=True,
        metadata={"description": "provider options; secret ones are write-only"},
    )
    secrets_set = fields.List(fields.String(), dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class ProviderUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=64))
    options = fields.Dict(
        keys=fields.String(), metadata={"description": "merged into the stored options"}
    )


class ProviderTestQuerySchema(Schema):
    zone = fields.String(metadata={"description": "zone to read (default: its domains' zones)"})


class ProviderTestSchema(Schema):
    zone = fields.String()
    ok = fields.Boolean()
    detail = fields.String()


class DomainProviderSchema(Schema):
    provider_id = fields.Integer(allow_none=True, load_default=None)
    zone = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=253))
    mode = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(MODES))
    delegated = fields.Boolean(load_default=False)
    mta_sts_mode = fields.String(
        allow_none=True, load_default=None, validate=validate.OneOf(["enforce", "testing", "none"])
    )


class PublishRequestSchema(Schema):
    dry_run = fields.Boolean(load_default=False)
    force = fields.Boolean(load_default=False)  # over a hand edit: administrators only


class PublishStateSchema(Schema):
    """Mode, provider, zone, last publication and the diff of the open change."""

    domain_id = fields.Integer()
    domain = fields.String()
    mode = fields.String()
    provider = fields.String(allow_none=True)
    provider_id = fields.Integer(allow_none=True)
    zone = fields.String()
    delegated = fields.Boolean()
    mta_sts_mode = fields.String(allow_none=True)
    last_publication = fields.Dict(allow_none=True)
    diff = fields.Dict(allow_none=True)
    error = fields.String(allow_none=True)


class PublishResultSchema(Schema):
    change_id = fields.Integer()
    outcome = fields.String()
    publication = fields.Dict(allow_none=True)
    change_status = fields.String()
    provider = fields.String()
    zone = fields.String()
    records = fields.List(fields.Dict())
    hand_edits = fields.List(fields.String())


class DelegationSchema(Schema):
    domain = fields.String()
    hosted_zone = fields.String()
    records = fields.List(fields.Dict(keys=fields.String(), values=fields.String()))
