"""e-mail verification: when the address was proven, and a change waiting for its link

Existing accounts start unverified (both columns null).

Revision ID: 0019_email_verification
Revises: 0017_webhooks_out
Create Date: 2026-12-01 15:54:29.718888

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019_email_verification'
down_revision = '0017_webhooks_out'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_verified_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('pending_email', sa.String(length=320), nullable=True))


def downgrade():
    # Not by copying the table on SQLite: dropping the old users table would cascade to
    # everything that references it. SQLite (3.35+) drops a plain column in place.
    with op.batch_alter_table('users', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('pending_email')
        batch_op.drop_column('email_verified_at')
