"""unread badge: a partial index of the conversations with unread messages

Revision ID: 0022_unread_badge_index
Revises: 0021_conversion_counters
Create Date: 2026-12-02 06:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0022_unread_badge_index'
down_revision = '0021_conversion_counters'
branch_labels = None
depends_on = None

HAS_UNREAD = 'unread_count > 0'


def upgrade():
    with op.batch_alter_table('conversation_members', schema=None) as batch_op:
        batch_op.create_index('ix_conversation_members_unread', ['user_id', 'unread_count'], unique=False, postgresql_where=sa.text(HAS_UNREAD), sqlite_where=sa.text(HAS_UNREAD))


def downgrade():
    with op.batch_alter_table('conversation_members', schema=None) as batch_op:
        batch_op.drop_index('ix_conversation_members_unread', postgresql_where=sa.text(HAS_UNREAD), sqlite_where=sa.text(HAS_UNREAD))
