"""analytics: memberships by creator and start (analytics, member export)

Revision ID: 0007_analytics
Revises: 0006_growth
Create Date: 2026-11-27 15:48:03.683614

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_analytics'
down_revision = '0006_growth'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.create_index('ix_subscriptions_creator_started', ['creator_id', 'started_at', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_index('ix_subscriptions_creator_started')
