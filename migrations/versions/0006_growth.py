"""growth: referrals and upgrade offers

Revision ID: 0006_growth
Revises: 0005_content
Create Date: 2026-11-27 15:38:42.510770

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_growth'
down_revision = '0005_content'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('referral_codes',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('creator_id', sa.Uuid(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['creator_id'], ['creators.id'], name=op.f('fk_referral_codes_creator_id_creators'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_referral_codes_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referral_codes')),
    sa.UniqueConstraint('code', name=op.f('uq_referral_codes_code')),
    sa.UniqueConstraint('user_id', 'creator_id', name=op.f('uq_referral_codes_user_id'))
    )
    op.create_table('referrals',
    sa.Column('referrer_id', sa.Uuid(), nullable=False),
    sa.Column('referred_user_id', sa.Uuid(), nullable=False),
    sa.Column('creator_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('subject_id', sa.Uuid(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['creator_id'], ['creators.id'], name=op.f('fk_referrals_creator_id_creators'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['referred_user_id'], ['users.id'], name=op.f('fk_referrals_referred_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['referrer_id'], ['users.id'], name=op.f('fk_referrals_referrer_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referrals')),
    sa.UniqueConstraint('kind', 'creator_id', 'referred_user_id', 'subject_id', name=op.f('uq_referrals_kind'))
    )
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index('ix_referrals_creator', ['creator_id', 'created_at'], unique=False)
        batch_op.create_index('ix_referrals_referrer', ['referrer_id', 'created_at'], unique=False)

    op.create_table('upgrade_offers',
    sa.Column('creator_id', sa.Uuid(), nullable=False),
    sa.Column('from_offering_id', sa.Uuid(), nullable=False),
    sa.Column('to_price_id', sa.Uuid(), nullable=False),
    sa.Column('credit_percent', sa.Integer(), nullable=True),
    sa.Column('credit_amount_minor', sa.BigInteger(), nullable=True),
    sa.Column('valid_days', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['creator_id'], ['creators.id'], name=op.f('fk_upgrade_offers_creator_id_creators'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['from_offering_id'], ['offerings.id'], name=op.f('fk_upgrade_offers_from_offering_id_offerings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['to_price_id'], ['prices.id'], name=op.f('fk_upgrade_offers_to_price_id_prices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_upgrade_offers'))
    )
    with op.batch_alter_table('upgrade_offers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_upgrade_offers_creator_id'), ['creator_id'], unique=False)
        batch_op.create_index('ix_upgrade_offers_from', ['from_offering_id'], unique=False)

    op.create_table('upgrade_redemptions',
    sa.Column('upgrade_offer_id', sa.Uuid(), nullable=False),
    sa.Column('purchase_id', sa.Uuid(), nullable=False),
    sa.Column('checkout_session_id', sa.Uuid(), nullable=False),
    sa.Column('credit_minor', sa.BigInteger(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['checkout_session_id'], ['checkout_sessions.id'], name=op.f('fk_upgrade_redemptions_checkout_session_id_checkout_sessions')),
    sa.ForeignKeyConstraint(['purchase_id'], ['purchases.id'], name=op.f('fk_upgrade_redemptions_purchase_id_purchases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['upgrade_offer_id'], ['upgrade_offers.id'], name=op.f('fk_upgrade_redemptions_upgrade_offer_id_upgrade_offers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_upgrade_redemptions')),
    sa.UniqueConstraint('checkout_session_id', name=op.f('uq_upgrade_redemptions_checkout_session_id'))
    )
    with op.batch_alter_table('upgrade_redemptions', schema=None) as batch_op:
        batch_op.create_index('ix_upgrade_redemptions_offer_purchase', ['upgrade_offer_id', 'purchase_id'], unique=False)



def downgrade():
    with op.batch_alter_table('upgrade_redemptions', schema=None) as batch_op:
        batch_op.drop_index('ix_upgrade_redemptions_offer_purchase')

    op.drop_table('upgrade_redemptions')
    with op.batch_alter_table('upgrade_offers', schema=None) as batch_op:
        batch_op.drop_index('ix_upgrade_offers_from')
        batch_op.drop_index(batch_op.f('ix_upgrade_offers_creator_id'))

    op.drop_table('upgrade_offers')
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index('ix_referrals_referrer')
        batch_op.drop_index('ix_referrals_creator')

    op.drop_table('referrals')
    op.drop_table('referral_codes')
