"""notifications: teams, endpoints (sealed secrets), routing rules and deliveries

Revision ID: 0006_notifications
Revises: 0001_foundation
Create Date: 2026-11-29 15:00:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0006_notifications'
down_revision = '0001_foundation'
branch_labels = ('notifications',)
depends_on = None


def upgrade():
    op.create_table('notification_team',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('receives_digest', sa.Boolean(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_notification_team_tenant_id_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_team')),
    sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_notification_team_tenant_id_name'))
    )
    op.create_index(op.f('ix_notification_team_tenant_id'), 'notification_team', ['tenant_id'], unique=False)
    op.create_table('notification_endpoint',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('config', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('sealed_secrets', sa.Text(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['notification_team.id'], name=op.f('fk_notification_endpoint_team_id_notification_team'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_notification_endpoint_tenant_id_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_endpoint'))
    )
    op.create_index(op.f('ix_notification_endpoint_team_id'), 'notification_endpoint', ['team_id'], unique=False)
    op.create_index(op.f('ix_notification_endpoint_tenant_id'), 'notification_endpoint', ['tenant_id'], unique=False)
    op.create_index('ix_notification_endpoint_tenant_id_team_id', 'notification_endpoint', ['tenant_id', 'team_id'], unique=False)
    op.create_table('notification_rule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('kinds', sa.String(length=64), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('min_severity', sa.String(length=16), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['notification_team.id'], name=op.f('fk_notification_rule_team_id_notification_team'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_notification_rule_tenant_id_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_rule'))
    )
    op.create_index(op.f('ix_notification_rule_team_id'), 'notification_rule', ['team_id'], unique=False)
    op.create_index(op.f('ix_notification_rule_tenant_id'), 'notification_rule', ['tenant_id'], unique=False)
    op.create_index('ix_notification_rule_tenant_id_team_id', 'notification_rule', ['tenant_id', 'team_id'], unique=False)
    op.create_table('notification_delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('endpoint_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=True),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('message', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('receipt', sa.String(length=300), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['endpoint_id'], ['notification_endpoint.id'], name=op.f('fk_notification_delivery_endpoint_id_notification_endpoint'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['event.id'], name=op.f('fk_notification_delivery_event_id_event'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_notification_delivery_tenant_id_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_delivery')),
    sa.UniqueConstraint('tenant_id', 'endpoint_id', 'key', name=op.f('uq_notification_delivery_tenant_id_endpoint_id_key'))
    )
    op.create_index(op.f('ix_notification_delivery_endpoint_id'), 'notification_delivery', ['endpoint_id'], unique=False)
    op.create_index(op.f('ix_notification_delivery_event_id'), 'notification_delivery', ['event_id'], unique=False)
    op.create_index('ix_notification_delivery_status_next_attempt_at', 'notification_delivery', ['status', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_notification_delivery_tenant_id'), 'notification_delivery', ['tenant_id'], unique=False)
    op.create_index('ix_notification_delivery_tenant_id_created_at', 'notification_delivery', ['tenant_id', 'created_at'], unique=False)


def downgrade():
    op.drop_table('notification_delivery')
    op.drop_table('notification_rule')
    op.drop_table('notification_endpoint')
    op.drop_table('notification_team')
