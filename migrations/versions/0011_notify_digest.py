"""notifications: the weekly digest (per-tenant settings, opt-outs, rendered issues, one claimed
row per recipient and week, the MSP staff's roll-up claims), teams' quiet hours and daily summary, problem states for
duplicate suppression

Revision ID: 0011_notify_digest
Revises: 0010_report_write_path
Create Date: 2026-12-03 14:20:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0011_notify_digest'
down_revision = '0010_report_write_path'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def _tenant(table):
    return [
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f(f'fk_{table}_tenant_id_tenant'), ondelete='CASCADE'),
    ]


def _stamps():
    return [
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade():
    op.add_column('notification_team', sa.Column('quiet_start', sa.Integer(), nullable=True))
    op.add_column('notification_team', sa.Column('quiet_end', sa.Integer(), nullable=True))
    op.add_column('notification_team', sa.Column('summary_mode', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('notification_team', sa.Column('summary_hour', sa.Integer(), nullable=False, server_default='8'))
    # batch mode: SQLite (the standalone default) cannot ALTER COLUMN; PostgreSQL alters in place
    with op.batch_alter_table('notification_team') as batch:
        batch.alter_column('summary_mode', server_default=None)
        batch.alter_column('summary_hour', server_default=None)

    t = 'notification_digest_settings'
    op.create_table(t,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=True),
    sa.Column('hour', sa.Integer(), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=True),
    sa.Column('addresses', JSON, nullable=False),
    *_tenant(t), *_stamps(),
    sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{t}')),
    sa.UniqueConstraint('tenant_id', name=op.f(f'uq_{t}_tenant_id'))
    )
    op.create_index(op.f(f'ix_{t}_tenant_id'), t, ['tenant_id'], unique=False)

    t = 'notification_digest_optout'
    op.create_table(t,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=254), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    *_tenant(t),
    sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{t}')),
    sa.UniqueConstraint('tenant_id', 'address', name=op.f(f'uq_{t}_tenant_id_address'))
    )
    op.create_index(op.f(f'ix_{t}_tenant_id'), t, ['tenant_id'], unique=False)

    t = 'notification_digest_issue'
    op.create_table(t,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('week', sa.String(length=10), nullable=False),
    sa.Column('content', JSON, nullable=False),
    *_tenant(t), *_stamps(),
    sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{t}')),
    sa.UniqueConstraint('tenant_id', 'week', name=op.f(f'uq_{t}_tenant_id_week'))
    )
    op.create_index(op.f(f'ix_{t}_tenant_id'), t, ['tenant_id'], unique=False)

    t = 'notification_digest_send'
    op.create_table(t,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issue_id', sa.Integer(), nullable=False),
    sa.Column('week', sa.String(length=10), nullable=False),
    sa.Column('address', sa.String(length=254), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    *_tenant(t), *_stamps(),
    sa.ForeignKeyConstraint(['issue_id'], ['notification_digest_issue.id'], name=op.f(f'fk_{t}_issue_id_notification_digest_issue'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{t}')),
    sa.UniqueConstraint('tenant_id', 'week', 'address', name=op.f(f'uq_{t}_tenant_id_week_address'))
    )
    op.create_index(op.f(f'ix_{t}_tenant_id'), t, ['tenant_id'], unique=False)
    op.create_index(f'ix_{t}_tenant_id_issue_id', t, ['tenant_id', 'issue_id'], unique=False)

    t = 'notification_rollup_send'
    op.create_table(t,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('week', sa.String(length=10), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    *_stamps(),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f(f'fk_{t}_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{t}')),
    sa.UniqueConstraint('week', 'user_id', name=op.f(f'uq_{t}_week_user_id'))
    )
    op.create_index(op.f(f'ix_{t}_user_id'), t, ['user_id'], unique=False)

    t = 'notification_problem_state'
    op.create_table(t,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('is_open', sa.Boolean(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('notified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('notified_open', sa.Boolean(), nullable=False),
    *_tenant(t),
    sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{t}')),
    sa.UniqueConstraint('tenant_id', 'key', name=op.f(f'uq_{t}_tenant_id_key'))
    )
    op.create_index(op.f(f'ix_{t}_tenant_id'), t, ['tenant_id'], unique=False)


def downgrade():
    op.drop_table('notification_problem_state')
    op.drop_table('notification_rollup_send')
    op.drop_table('notification_digest_send')
    op.drop_table('notification_digest_issue')
    op.drop_table('notification_digest_optout')
    op.drop_table('notification_digest_settings')
    for column in ('summary_hour', 'summary_mode', 'quiet_end', 'quiet_start'):
        op.drop_column('notification_team', column)
