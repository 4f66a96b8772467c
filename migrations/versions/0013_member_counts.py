"""member counts: a maintained counter per creator, and the members list's keyset index

Revision ID: 0013_member_counts
Revises: 0011_outbox
Create Date: 2026-12-01 13:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013_member_counts'
down_revision = '0011_outbox'
branch_labels = None
depends_on = None


# The access rule at the default grace period (PAST_DUE_GRACE_DAYS = 7); `flask billing
# recount-members` recounts with the configured one.
GRANTING = (
    "s.kind = 'membership' AND s.disputed = false AND (s.status IN ('trialing', 'active')"
    " OR (s.status = 'past_due' AND s.past_due_since > {week_ago}))"
)
WEEK_AGO = {"postgresql": "CURRENT_TIMESTAMP - interval '7 days'", "sqlite": "datetime('now', '-7 days')"}


def upgrade():
    with op.batch_alter_table('creators', schema=None) as batch_op:
        batch_op.add_column(sa.Column('member_count', sa.Integer(), nullable=False, server_default='0'))
    op.execute(sa.text(
        "UPDATE creators SET member_count = (SELECT count(*) FROM subscriptions s"
        " WHERE s.creator_id = creators.id AND "
        + GRANTING.format(week_ago=WEEK_AGO[op.get_bind().dialect.name]) + ")"
    ))
    with op.batch_alter_table('creators', schema=None) as batch_op:
        batch_op.alter_column('member_count', existing_type=sa.Integer(), server_default=None)

    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.create_index('ix_subscriptions_creator_created', ['creator_id', 'created_at', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_index('ix_subscriptions_creator_created')

    with op.batch_alter_table('creators', schema=None) as batch_op:
        batch_op.drop_column('member_count')
