"""merge the branches of the console round (security, notifications digest, publishing)

Revision ID: 0012_merge_console_round
Revises: 0011_notify_digest, 0011_publishing, 0011_security
Create Date: 2026-12-03 15:05:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012_merge_console_round'
down_revision = ('0011_notify_digest', '0011_publishing', '0011_security')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
