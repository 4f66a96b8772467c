"""referral rewards

Revision ID: 0008_referral_rewards
Revises: 0007_analytics
Create Date: 2026-11-27 16:17:01.664073

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_referral_rewards'
down_revision = '0007_analytics'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('referral_rewards',
    sa.Column('creator_id', sa.Uuid(), nullable=False),
    sa.Column('after_paid_referrals', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['creator_id'], ['creators.id'], name=op.f('fk_referral_rewards_creator_id_creators'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('creator_id', name=op.f('pk_referral_rewards'))
    )
    op.create_table('reward_grants',
    sa.Column('referrer_id', sa.Uuid(), nullable=False),
    sa.Column('creator_id', sa.Uuid(), nullable=False),
    sa.Column('milestone', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['creator_id'], ['creators.id'], name=op.f('fk_reward_grants_creator_id_creators'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['referrer_id'], ['users.id'], name=op.f('fk_reward_grants_referrer_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reward_grants')),
    sa.UniqueConstraint('referrer_id', 'creator_id', 'milestone', name=op.f('uq_reward_grants_referrer_id'))
    )


def downgrade():
    op.drop_table('reward_grants')
    op.drop_table('referral_rewards')
