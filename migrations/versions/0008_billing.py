"""billing: accounts (Stripe customer and subscription per tenant), webhook events, usage reports

Revision ID: 0008_billing
Revises: 0001_foundation
Create Date: 2026-11-29 15:10:00

"""
from alembic import op
import sqlalchemy as sa

revision = "0008_billing"
down_revision = "0001_foundation"
branch_labels = ("billing",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "billing_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_subscription_id", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("plan", sa.String(length=32), nullable=True),
        sa.Column("price_id", sa.String(length=255), nullable=True),
        sa.Column("current_period_end", TS, nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("delinquent", sa.Boolean(), nullable=False),
        sa.Column("payment_failed_at", TS, nullable=True),
        sa.Column("last_invoice_id", sa.String(length=255), nullable=True),
        sa.Column("subscription_event_at", TS, nullable=True),
        sa.Column("invoice_event_at", TS, nullable=True),
        sa.Column("last_synced_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"],
                                name=op.f("fk_billing_account_tenant_id_tenant"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_account")),
        sa.UniqueConstraint("tenant_id", name="uq_billing_account_tenant_id"),
        sa.UniqueConstraint("stripe_customer_id",
                            name=op.f("uq_billing_account_stripe_customer_id")),
        sa.UniqueConstraint("stripe_subscription_id",
                            name=op.f("uq_billing_account_stripe_subscription_id")),
    )
    op.create_index(op.f("ix_billing_account_tenant_id"), "billing_account", ["tenant_id"])

    op.create_table(
        "billing_stripe_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stripe_event_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("object_id", sa.String(length=255), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("created", TS, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"],
                                name=op.f("fk_billing_stripe_event_tenant_id_tenant"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_stripe_event")),
        sa.UniqueConstraint("stripe_event_id",
                            name=op.f("uq_billing_stripe_event_stripe_event_id")),
    )
    op.create_index("ix_billing_stripe_event_tenant_id_received_at", "billing_stripe_event",
                    ["tenant_id", "received_at"])

    op.create_table(
        "billing_usage_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(length=100), nullable=False),
        sa.Column("reported_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"],
                                name=op.f("fk_billing_usage_report_tenant_id_tenant"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_usage_report")),
        sa.UniqueConstraint("tenant_id", "day", name="uq_billing_usage_report_day"),
        sa.UniqueConstraint("identifier", name=op.f("uq_billing_usage_report_identifier")),
    )
    op.create_index(op.f("ix_billing_usage_report_tenant_id"), "billing_usage_report",
                    ["tenant_id"])


def downgrade():
    op.drop_index(op.f("ix_billing_usage_report_tenant_id"), table_name="billing_usage_report")
    op.drop_table("billing_usage_report")
    op.drop_index("ix_billing_stripe_event_tenant_id_received_at",
                  table_name="billing_stripe_event")
    op.drop_table("billing_stripe_event")
    op.drop_index(op.f("ix_billing_account_tenant_id"), table_name="billing_account")
    op.drop_table("billing_account")
