"""publishing: DNS provider accounts, each domain's provider/zone/mode, publications

Revision ID: 0011_publishing
Revises: 0010_report_write_path
Create Date: 2026-12-03 14:00:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011_publishing"
down_revision = "0010_report_write_path"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TS = sa.DateTime(timezone=True)


def _tenant_fk(table):
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenant.id"], name=op.f(f"fk_{table}_tenant_id_tenant"), ondelete="CASCADE"
    )


def upgrade():
    op.create_table(
        "dns_provider",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("config", JSON, nullable=False),
        sa.Column("sealed_secrets", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        _tenant_fk("dns_provider"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dns_provider")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_dns_provider_tenant_id_name")),
    )
    op.create_index(op.f("ix_dns_provider_tenant_id"), "dns_provider", ["tenant_id"])
    op.create_table(
        "domain_publishing",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=True),
        sa.Column("zone", sa.String(length=253), nullable=True),
        sa.Column("mode", sa.String(length=16), nullable=True),
        sa.Column("delegated", sa.Boolean(), nullable=False),
        sa.Column("mta_sts_mode", sa.String(length=16), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"],
            ["domain.id"],
            name=op.f("fk_domain_publishing_domain_id_domain"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["dns_provider.id"],
            name=op.f("fk_domain_publishing_provider_id_dns_provider"),
            ondelete="SET NULL",
        ),
        _tenant_fk("domain_publishing"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domain_publishing")),
    )
    op.create_index(op.f("ix_domain_publishing_tenant_id"), "domain_publishing", ["tenant_id"])
    op.create_index(op.f("ix_domain_publishing_provider_id"), "domain_publishing", ["provider_id"])
    op.create_index(
        "ix_domain_publishing_tenant_id_domain_id",
        "domain_publishing",
        ["tenant_id", "domain_id"],
        unique=True,
    )
    op.create_table(
        "dns_publication",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("change_id", sa.Integer(), nullable=True),
        sa.Column("provider_id", sa.Integer(), nullable=True),
        sa.Column("provider", sa.String(length=100), nullable=False),
        sa.Column("zone", sa.String(length=253), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("records", JSON, nullable=False),
        sa.Column("approved_by", sa.String(length=200), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("written_at", TS, nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"],
            ["domain.id"],
            name=op.f("fk_dns_publication_domain_id_domain"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["change_id"],
            ["policy_change.id"],
            name=op.f("fk_dns_publication_change_id_policy_change"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["dns_provider.id"],
            name=op.f("fk_dns_publication_provider_id_dns_provider"),
            ondelete="SET NULL",
        ),
        _tenant_fk("dns_publication"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dns_publication")),
        sa.UniqueConstraint("change_id", name=op.f("uq_dns_publication_change_id")),
    )
    op.create_index(op.f("ix_dns_publication_tenant_id"), "dns_publication", ["tenant_id"])
    op.create_index(op.f("ix_dns_publication_provider_id"), "dns_publication", ["provider_id"])
    op.create_index(
        "ix_dns_publication_tenant_id_domain_id", "dns_publication", ["tenant_id", "domain_id"]
    )
    op.create_index(
        "ix_dns_publication_status_next_attempt_at",
        "dns_publication",
        ["status", "next_attempt_at"],
    )


def downgrade():
    op.drop_table("dns_publication")
    op.drop_table("domain_publishing")
    op.drop_table("dns_provider")
