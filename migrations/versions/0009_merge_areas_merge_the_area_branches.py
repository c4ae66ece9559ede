"""merge the area branches

Revision ID: 0009_merge_areas
Revises: 0003_dns, 0004_reports, 0005_policy, 0006_notifications, 0008_billing
Create Date: 2026-11-29 16:08:29.068240

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_merge_areas'
down_revision = ('0003_dns', '0004_reports', '0005_policy', '0006_notifications', '0008_billing')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
