"""Schemas of the policy API: plans, gates, what-if, stage changes, timeline, settings."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class PolicyGateSchema(Schema):
    gate = fields.String()
    status = fields.String(
        metadata={"description": "passed, blocked, or unknown (DNS could not be read)"}
    )
    reason = fields.String()
    reasons = fields.List(fields.String())
    evidence = fields.Dict(keys=fields.String())


class PolicyDnsRecordSchema(Schema):
    name = fields.String()
    type = fields.String()
    value = fields.String()
    zone_line = fields.String()


class PolicyForwardedSchema(Schema):
    sources = fields.Integer()
    messages = fields.Integer()
    failing = fields.Integer()
    examples = fields.List(fields.String())
    summary = fields.String()


class PolicyDriftSchema(Schema):
    reasons = fields.List(fields.String())
    fix = fields.List(
        fields.Nested(PolicyDnsRecordSchema),
        metadata={"description": "the records that put the stage back"},
    )


class PolicyPlanSchema(Schema):
    domain_id = fields.Integer()
    domain = fields.String()
    stage = fields.String()
    stage_since = fields.String()
    evaluated_at = fields.String()
    record = fields.String(allow_none=True, metadata={"description": "DMARC record to publish now"})
    records = fields.List(fields.Nested(PolicyDnsRecordSchema))
    next_stage = fields.String(allow_none=True)
    next_record = fields.String(allow_none=True)
    next_records = fields.List(fields.Nested(PolicyDnsRecordSchema))
    gates = fields.List(fields.Nested(PolicyGateSchema))
    readiness = fields.Integer(metadata={"description": "0-100, share of passed gates"})
    ready = fields.Boolean()
    action = fields.String(metadata={"description": "hold, propose, withdraw or rollback"})
    target = fields.String(allow_none=True)
    auto = fields.Boolean()
    reasons = fields.List(fields.String())
    open_change_id = fields.Integer(allow_none=True)
    dns_unreachable = fields.List(
        fields.String(),
        metadata={"description": "records the last DNS check could not read (spf, dmarc, ...)"},
    )
    drift = fields.Nested(
        PolicyDriftSchema,
        allow_none=True,
        metadata={"description": "the published record differs from the stage's (rua, p...)"},
    )
    forwarded = fields.Nested(
        PolicyForwardedSchema,
        allow_none=True,
        metadata={"description": "forwarded and list mail, one line, not blocking"},
    )


class PolicySimulateInSchema(Schema):
    record = fields.String(required=True, validate=validate.Length(min=8, max=2048))
    days = fields.Integer(
        load_default=None,
        validate=validate.Range(min=1, max=366),
        metadata={"description": "days of reports (default: the gates' evidence window)"},
    )


class PolicyOutcomeSchema(Schema):
    quarantined = fields.Integer()
    rejected = fields.Integer()


class PolicySenderImpactSchema(Schema):
    sender = fields.String()
    name = fields.String()
    status = fields.String(metadata={"description": "a sender status, or forwarded"})
    sources = fields.Integer()
    messages = fields.Integer()
    failing = fields.Integer()
    rfc9989 = fields.Nested(PolicyOutcomeSchema)
    rfc7489 = fields.Nested(PolicyOutcomeSchema)
    worst = fields.Nested(PolicyOutcomeSchema)


class PolicySimulationSchema(Schema):
    record = fields.String()
    days = fields.Integer()
    strict_alignment_estimated = fields.Boolean()
    totals = fields.Dict(keys=fields.String(), values=fields.Nested(PolicyOutcomeSchema))
    senders = fields.List(fields.Nested(PolicySenderImpactSchema))


class PolicyChangeSchema(Schema):
    id = fields.Integer()
    tenant_id = fields.Integer()
    domain_id = fields.Integer()
    kind = fields.String(metadata={"description": "escalate or rollback"})
    from_stage = fields.String()
    to_stage = fields.String()
    status = fields.String()
    auto = fields.Boolean()
    records = fields.List(fields.Nested(PolicyDnsRecordSchema))
    evidence = fields.Dict(keys=fields.String())
    proposed_at = fields.DateTime()
    proposed_by = fields.String()
    decided_at = fields.DateTime(allow_none=True)
    decided_by = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    scheduled_for = fields.DateTime(allow_none=True)
    published_at = fields.DateTime(allow_none=True)
    verified_at = fields.DateTime(allow_none=True)
    reminders = fields.Integer()
    closed_at = fields.DateTime(allow_none=True)


class PolicyRejectSchema(Schema):
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class PolicyRollbackSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=3, max=2000))


class PolicyScheduleSchema(Schema):
    at = fields.AwareDateTime(required=True, metadata={"description": "when to issue (UTC)"})


class PolicyTimelineEntrySchema(Schema):
    id = fields.Integer()
    domain_id = fields.Integer()
    change_id = fields.Integer(allow_none=True)
    at = fields.DateTime()
    kind = fields.String()
    stage = fields.String()
    summary = fields.String()
    evidence = fields.Dict(keys=fields.String())


class PolicyReadinessSchema(Schema):
    tenant_id = fields.Integer()
    domains = fields.Integer()
    readiness = fields.Integer()
    stages = fields.Dict(keys=fields.String(), values=fields.Integer())


class PolicySettingsSchema(Schema):
    policy = fields.Dict(
        keys=fields.String(),
        required=True,
        metadata={"description": "policy settings; keys documented in msp/policy/settings.py"},
    )
