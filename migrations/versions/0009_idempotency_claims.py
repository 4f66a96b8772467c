"""idempotency claims: a key is claimed before the work, answered after

Revision ID: 0009_idempotency_claims
Revises: 0008_referral_rewards
Create Date: 2026-12-01 10:08:04.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_idempotency_claims'
down_revision = '0008_referral_rewards'
branch_labels = None
depends_on = None


def upgrade():
    # Rows stored before claims existed are finished answers.
    with op.batch_alter_table('idempotent_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=16), nullable=False, server_default='done'))

    with op.batch_alter_table('idempotent_requests', schema=None) as batch_op:
        batch_op.alter_column('state', existing_type=sa.String(length=16), existing_nullable=False, server_default=None)
        batch_op.alter_column('status_code', existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column('body', existing_type=sa.Text(), nullable=True)
        batch_op.create_index('ix_idempotent_requests_created', ['created_at'], unique=False)


def downgrade():
    # A claim still running has no answer the old schema could hold.
    op.execute(sa.text("DELETE FROM idempotent_requests WHERE state <> 'done'"))
    with op.batch_alter_table('idempotent_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_idempotent_requests_created')
        batch_op.alter_column('body', existing_type=sa.Text(), nullable=False)
        batch_op.alter_column('status_code', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('state')
