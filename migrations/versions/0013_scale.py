"""scale: reads that stay flat as report data grows

- ``report_domain_day``: messages, DMARC passes and unknown-sender messages per domain and day,
  the summary the portfolio, attention queue, tenant dashboard and compliance charts read
  instead of the per-IP roll-up (filled here from ``report_daily``; kept by the ingestion and
  the enrichment from now on).
- ``report_sender_day``: the roll-up named and summed per domain, day and sender key, which a
  page of senders reads for the days marked ``report_domain_day.senders_current``.
- ``report_domain_latest``: each domain's last day with aggregate data (one row per domain), so
  "reports stopped arriving" reads only the silent domains.
- ``report``: the reports list newest first in index order, MSP-wide ``(begin DESC, id DESC)``
  and per tenant ``(tenant_id, begin DESC, id DESC)``, and each domain's last report received
  ``(tenant_id, domain_id, created_at)``.
- ``report_ip_info``: the source IPs of a sender key ``(sender_key)``, so a page of senders
  reads only its senders' roll-up rows for their networks.
- ``dns_posture_run``: a domain's latest run by one backward probe
  ``(domain_id, checked_at DESC, id DESC)``.
- PostgreSQL only: ``report_record.report_id`` gets an ``n_distinct`` setting. ANALYZE samples
  30,000 rows and sees few of a large report's many ids, so the planner thinks each report has
  ten times more records than it has and chooses to hash the whole of ``report_ip_info`` for
  the enrichment's look-up of a report's new IPs instead of probing it. A report averages a
  handful of records (most receivers send one to ten), hence -0.2: distinct ids = rows / 5.

Revision ID: 0013_scale
Revises: 0012_merge_console_round
Create Date: 2026-12-04 16:40:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0013_scale"
down_revision = "0012_merge_console_round"
branch_labels = None
depends_on = None

# The unknown count of a day is the messages whose sender has no verdict other than unknown
# (the read side's rule: the enrichment's key of the IP, else "ip:<address>").
_BACKFILL = """
INSERT INTO report_domain_day (tenant_id, domain_id, day, messages, passed, unknown,
                               senders_current)
SELECT d.tenant_id, d.domain_id, d.day,
       SUM(d.messages),
       SUM(CASE WHEN d.spf_aligned OR d.dkim_aligned THEN d.messages ELSE 0 END),
       SUM(CASE WHEN COALESCE(s.status, 'unknown') = 'unknown' THEN d.messages ELSE 0 END),
       TRUE
FROM report_daily d
LEFT JOIN report_ip_info i ON i.ip = d.source_ip
LEFT JOIN report_sender s ON s.tenant_id = d.tenant_id AND s.domain_id = d.domain_id
     AND s.key = COALESCE(i.sender_key, 'ip:' || d.source_ip)
WHERE EXISTS (SELECT 1 FROM domain WHERE domain.id = d.domain_id)
GROUP BY d.tenant_id, d.domain_id, d.day
"""
_SENDER_DAYS = """
INSERT INTO report_sender_day (tenant_id, domain_id, day, key, name, messages, passed, spf, dkim)
SELECT d.tenant_id, d.domain_id, d.day, COALESCE(i.sender_key, 'ip:' || d.source_ip),
       MAX(COALESCE(i.sender_name, d.source_ip)), SUM(d.messages),
       SUM(CASE WHEN d.spf_aligned OR d.dkim_aligned THEN d.messages ELSE 0 END),
       SUM(CASE WHEN d.spf_aligned THEN d.messages ELSE 0 END),
       SUM(CASE WHEN d.dkim_aligned THEN d.messages ELSE 0 END)
FROM report_daily d
LEFT JOIN report_ip_info i ON i.ip = d.source_ip
WHERE EXISTS (SELECT 1 FROM domain WHERE domain.id = d.domain_id)
GROUP BY d.tenant_id, d.domain_id, d.day, COALESCE(i.sender_key, 'ip:' || d.source_ip)
"""


def upgrade():
    op.create_table(
        "report_domain_day",
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.Column("passed", sa.BigInteger(), nullable=False),
        sa.Column("unknown", sa.BigInteger(), nullable=False),
        sa.Column("senders_current", sa.Boolean(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"],
            ["domain.id"],
            name=op.f("fk_report_domain_day_domain_id_domain"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "domain_id", "day", name="pk_report_domain_day"),
    )
    with op.batch_alter_table("report_domain_day", schema=None) as batch_op:
        batch_op.create_index(
            "ix_report_domain_day_day",
            ["day", "tenant_id", "domain_id", "messages", "passed", "unknown"],
            unique=False,
        )
    op.execute(_BACKFILL)
    op.create_table(
        "report_sender_day",
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("key", sa.String(length=253), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.Column("passed", sa.BigInteger(), nullable=False),
        sa.Column("spf", sa.BigInteger(), nullable=False),
        sa.Column("dkim", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"],
            ["domain.id"],
            name=op.f("fk_report_sender_day_domain_id_domain"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "domain_id", "day", "key", name="pk_report_sender_day"
        ),
    )
    op.execute(_SENDER_DAYS)
    op.create_table(
        "report_domain_latest",
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"],
            ["domain.id"],
            name=op.f("fk_report_domain_latest_domain_id_domain"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "domain_id", name="pk_report_domain_latest"),
    )
    with op.batch_alter_table("report_domain_latest", schema=None) as batch_op:
        batch_op.create_index("ix_report_domain_latest_last_day", ["last_day"], unique=False)
    op.execute(
        "INSERT INTO report_domain_latest (tenant_id, domain_id, last_day) "
        "SELECT tenant_id, domain_id, MAX(day) FROM report_domain_day "
        "GROUP BY tenant_id, domain_id"
    )
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.create_index(
            "ix_report_begin_id", [sa.text("begin DESC"), sa.text("id DESC")], unique=False
        )
        batch_op.create_index(
            "ix_report_tenant_id_begin_id",
            ["tenant_id", sa.text("begin DESC"), sa.text("id DESC")],
            unique=False,
        )
        batch_op.create_index(
            "ix_report_tenant_id_domain_id_created_at",
            ["tenant_id", "domain_id", "created_at"],
            unique=False,
        )
    with op.batch_alter_table("report_ip_info", schema=None) as batch_op:
        batch_op.create_index("ix_report_ip_info_sender_key", ["sender_key"], unique=False)
    with op.batch_alter_table("dns_posture_run", schema=None) as batch_op:
        batch_op.create_index(
            "ix_dns_posture_run_domain_latest",
            ["domain_id", sa.text("checked_at DESC"), sa.text("id DESC")],
            unique=False,
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE report_record ALTER COLUMN report_id SET (n_distinct = -0.2)")
        op.execute("ANALYZE report_record")
        op.execute("ANALYZE report_domain_day")
        op.execute("ANALYZE report_domain_latest")
        op.execute("ANALYZE report_sender_day")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE report_record ALTER COLUMN report_id RESET (n_distinct)")
    with op.batch_alter_table("dns_posture_run", schema=None) as batch_op:
        batch_op.drop_index("ix_dns_posture_run_domain_latest")
    with op.batch_alter_table("report_ip_info", schema=None) as batch_op:
        batch_op.drop_index("ix_report_ip_info_sender_key")
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.drop_index("ix_report_tenant_id_domain_id_created_at")
        batch_op.drop_index("ix_report_tenant_id_begin_id")
        batch_op.drop_index("ix_report_begin_id")
    with op.batch_alter_table("report_domain_latest", schema=None) as batch_op:
        batch_op.drop_index("ix_report_domain_latest_last_day")
    op.drop_table("report_domain_latest")
    op.drop_table("report_sender_day")
    with op.batch_alter_table("report_domain_day", schema=None) as batch_op:
        batch_op.drop_index("ix_report_domain_day_day")
    op.drop_table("report_domain_day")
