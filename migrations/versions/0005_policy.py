"""policy: plans, stage changes (escalations and rollbacks) and the timeline

Revision ID: 0005_policy
Revises: 0001_foundation
Create Date: 2026-11-29 14:50:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0005_policy"
down_revision = "0001_foundation"
branch_labels = ("policy",)
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
OPEN_SQL = "status IN ('proposed', 'approved', 'scheduled', 'published')"


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenant.id"], name=f"fk_{table}_tenant_id_tenant", ondelete="CASCADE"
    )


def _domain_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["domain_id"], ["domain.id"], name=f"fk_{table}_domain_id_domain", ondelete="CASCADE"
    )


def upgrade():
    op.create_table(
        "policy_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=24), nullable=False),
        sa.Column("stage_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("readiness", sa.Integer(), nullable=False),
        sa.Column("last_evaluated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_evaluation", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _tenant_fk("policy_plan"),
        _domain_fk("policy_plan"),
        sa.PrimaryKeyConstraint("id", name="pk_policy_plan"),
        sa.UniqueConstraint("domain_id", name="uq_policy_plan_domain_id"),
    )
    op.create_index("ix_policy_plan_tenant_id", "policy_plan", ["tenant_id"])
    op.create_index(
        "ix_policy_plan_tenant_id_domain_id", "policy_plan", ["tenant_id", "domain_id"],
        unique=True,
    )
    op.create_table(
        "policy_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("from_stage", sa.String(length=24), nullable=False),
        sa.Column("to_stage", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("auto", sa.Boolean(), nullable=False),
        sa.Column("records", JSON, nullable=False),
        sa.Column("evidence", JSON, nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("proposed_by", sa.String(length=200), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminders", sa.Integer(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        _tenant_fk("policy_change"),
        _domain_fk("policy_change"),
        sa.PrimaryKeyConstraint("id", name="pk_policy_change"),
    )
    op.create_index("ix_policy_change_tenant_id", "policy_change", ["tenant_id"])
    op.create_index(
        "ix_policy_change_tenant_id_domain_id", "policy_change", ["tenant_id", "domain_id"]
    )
    op.create_index(
        "uq_policy_change_tenant_id_domain_id_open", "policy_change", ["tenant_id", "domain_id"],
        unique=True, postgresql_where=sa.text(OPEN_SQL), sqlite_where=sa.text(OPEN_SQL),
    )
    op.create_index(
        "ix_policy_change_status_scheduled_for", "policy_change", ["status", "scheduled_for"]
    )
    op.create_table(
        "policy_timeline",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("change_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("stage", sa.String(length=24), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("evidence", JSON, nullable=False),
        _tenant_fk("policy_timeline"),
        _domain_fk("policy_timeline"),
        sa.ForeignKeyConstraint(
            ["change_id"], ["policy_change.id"],
            name="fk_policy_timeline_change_id_policy_change", ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_policy_timeline"),
    )
    op.create_index("ix_policy_timeline_tenant_id", "policy_timeline", ["tenant_id"])
    op.create_index(
        "ix_policy_timeline_tenant_id_domain_id_at", "policy_timeline",
        ["tenant_id", "domain_id", "at"],
    )


def downgrade():
    op.drop_table("policy_timeline")
    op.drop_table("policy_change")
    op.drop_table("policy_plan")
