"""report write path: one constraint check and fewer index inserts per record

report_record, report_daily and report_dkim_selector receive a row per source IP of every
report (200,000 for one large report). Their tenant_id foreign keys duplicate the cascade that
already reaches them through report_id / domain_id, and their single-column tenant_id indexes
and report_daily's (tenant_id, domain_id, day) index duplicate the leading columns of other
indexes. report_record gets the report_id index its cascade and the enrichment reads need.
report_daily and report_dkim_selector lose their surrogate ids: their natural (unique) keys
become their primary keys, one index instead of two. Their remaining foreign keys (report_id,
domain_id) cost a lookup in the parent for every row written (about 1-3 us each, a second per
large report); AFTER DELETE triggers on report and domain now do the cascade those foreign
keys did. The rows are written only by the ingestion, with ids of the report it has just
claimed in the same transaction (whose own foreign key to domain keeps the domain in place).

Revision ID: 0010_report_write_path
Revises: 0009_merge_areas
Create Date: 2026-11-29 17:40:00

"""
import sqlalchemy as sa
from alembic import op


revision = "0010_report_write_path"
down_revision = "0009_merge_areas"
branch_labels = None
depends_on = None

_TABLES = ("report_record", "report_daily", "report_dkim_selector")
_PARENT_KEYS = (  # (table, column, parent): the foreign keys replaced by delete triggers
    ("report_record", "report_id", "report"),
    ("report_daily", "domain_id", "domain"),
    ("report_dkim_selector", "domain_id", "domain"),
)
_PG_FUNCTIONS = {
    "report": "DELETE FROM report_record WHERE report_id = OLD.id;",
    "domain": "DELETE FROM report_daily WHERE tenant_id = OLD.tenant_id AND domain_id = OLD.id; "
    "DELETE FROM report_dkim_selector WHERE tenant_id = OLD.tenant_id AND domain_id = OLD.id;",
}


_NATURAL_KEYS = {
    "report_daily": (
        "tenant_id",
        "domain_id",
        "day",
        "source_ip",
        "header_from",
        "disposition",
        "spf_aligned",
        "dkim_aligned",
    ),
    "report_dkim_selector": ("tenant_id", "domain_id", "source_ip", "signing_domain", "selector"),
}
_UNIQUE = {"report_daily": "uq_report_daily_key", "report_dkim_selector": "uq_report_dkim_selector_key"}


def upgrade():
    for table, key in _NATURAL_KEYS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(_UNIQUE[table], type_="unique")
            batch_op.drop_column("id")  # takes its primary key with it
            batch_op.create_primary_key(f"pk_{table}", list(key))
    with op.batch_alter_table("report_record", schema=None) as batch_op:
        batch_op.drop_index("ix_report_record_tenant_id_report_id")
        batch_op.create_index("ix_report_record_report_id", ["report_id"], unique=False)
    with op.batch_alter_table("report_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_report_daily_tenant_id_domain_id_day")
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_tenant_id"))
            batch_op.drop_constraint(batch_op.f(f"fk_{table}_tenant_id_tenant"), type_="foreignkey")
    for table, column, parent in _PARENT_KEYS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f"fk_{table}_{column}_{parent}"), type_="foreignkey")
    _create_delete_triggers()


def _create_delete_triggers():
    for parent, body in _PG_FUNCTIONS.items():
        if op.get_bind().dialect.name == "postgresql":
            op.execute(
                f"CREATE FUNCTION {parent}_delete_report_rows() RETURNS trigger LANGUAGE plpgsql "
                f"AS $$ BEGIN {body} RETURN OLD; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {parent}_delete_report_rows AFTER DELETE ON {parent} "
                f"FOR EACH ROW EXECUTE FUNCTION {parent}_delete_report_rows()"
            )
        else:
            op.execute(
                f"CREATE TRIGGER {parent}_delete_report_rows AFTER DELETE ON {parent} "
                f"FOR EACH ROW BEGIN {body} END"
            )


def _drop_delete_triggers():
    for parent in _PG_FUNCTIONS:
        op.execute(f"DROP TRIGGER IF EXISTS {parent}_delete_report_rows" + (
            f" ON {parent}" if op.get_bind().dialect.name == "postgresql" else ""
        ))
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP FUNCTION IF EXISTS {parent}_delete_report_rows()")


def downgrade():
    _drop_delete_triggers()
    for table, column, parent in _PARENT_KEYS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_{column}_{parent}"),
                parent,
                [column],
                ["id"],
                ondelete="CASCADE",
            )
    for table, key in _NATURAL_KEYS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"pk_{table}", type_="primary")
            batch_op.add_column(sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False))
            batch_op.create_primary_key(f"pk_{table}", ["id"])
            batch_op.create_unique_constraint(_UNIQUE[table], list(key))
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_tenant_id_tenant"),
                "tenant",
                ["tenant_id"],
                ["id"],
                ondelete="CASCADE",
            )
            batch_op.create_index(batch_op.f(f"ix_{table}_tenant_id"), ["tenant_id"], unique=False)
    with op.batch_alter_table("report_daily", schema=None) as batch_op:
        batch_op.create_index(
            "ix_report_daily_tenant_id_domain_id_day", ["tenant_id", "domain_id", "day"], unique=False
        )
    with op.batch_alter_table("report_record", schema=None) as batch_op:
        batch_op.drop_index("ix_report_record_report_id")
        batch_op.create_index(
            "ix_report_record_tenant_id_report_id", ["tenant_id", "report_id"], unique=False
        )
