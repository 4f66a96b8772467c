"""money under races: disputes, refunds of any sale, one live membership

Revision ID: 0010_money_under_races
Revises: 0009_idempotency_claims
Create Date: 2026-12-01 10:09:07.062461

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_money_under_races'
down_revision = '0009_idempotency_claims'
branch_labels = None
depends_on = None


LIVE = "status IN ('incomplete', 'trialing', 'active', 'past_due', 'unpaid', 'paused')"
LIVE_MEMBERSHIP = "kind = 'membership' AND " + LIVE


def upgrade():
    op.create_table('disputes',
    sa.Column('stripe_dispute_id', sa.String(length=255), nullable=False),
    sa.Column('payment_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('synced_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_disputes_payment_id_payments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disputes')),
    sa.UniqueConstraint('stripe_dispute_id', name=op.f('uq_disputes_stripe_dispute_id'))
    )
    with op.batch_alter_table('disputes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_disputes_payment_id'), ['payment_id'], unique=False)

    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stripe_payment_intent_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('disputed_minor', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.create_unique_constraint(batch_op.f('uq_payments_stripe_payment_intent_id'), ['stripe_payment_intent_id'])
    # A purchase's ledger row is found by the purchase's payment intent from now on.
    op.execute(sa.text(
        "UPDATE payments SET stripe_payment_intent_id = (SELECT p.stripe_payment_intent_id FROM purchases p"
        " WHERE p.id = payments.purchase_id) WHERE purchase_id IS NOT NULL"
    ))

    with op.batch_alter_table('purchases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('void_reason', sa.String(length=32), nullable=True))
        batch_op.drop_column('dispute_event_at')

    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payment_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('failure_reason', sa.String(length=64), nullable=True))
    op.execute(sa.text(
        "UPDATE refunds SET payment_id = (SELECT pay.id FROM payments pay WHERE pay.purchase_id = refunds.purchase_id)"
    ))
    op.execute(sa.text("DELETE FROM refunds WHERE payment_id IS NULL"))
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.alter_column('payment_id', existing_type=sa.Uuid(), nullable=False)
        batch_op.alter_column('purchase_id', existing_type=sa.Uuid(), nullable=True)
        batch_op.create_index(batch_op.f('ix_refunds_payment_id'), ['payment_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_refunds_payment_id_payments'), 'payments', ['payment_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), nullable=False, server_default='membership'))
        batch_op.add_column(sa.Column('action_required_url', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('disputed', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('void_reason', sa.String(length=32), nullable=True))
    op.execute(sa.text(
        "UPDATE subscriptions SET kind = (SELECT o.kind FROM offerings o WHERE o.id = subscriptions.offering_id)"
    ))
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.alter_column('kind', existing_type=sa.String(length=16), server_default=None)
        batch_op.alter_column('disputed', existing_type=sa.Boolean(), server_default=None)
        batch_op.create_index('uq_subscriptions_live_membership', ['user_id', 'creator_id'], unique=True, postgresql_where=sa.text(LIVE_MEMBERSHIP), sqlite_where=sa.text(LIVE_MEMBERSHIP))
        batch_op.create_index('uq_subscriptions_live_offering', ['user_id', 'offering_id'], unique=True, postgresql_where=sa.text(LIVE), sqlite_where=sa.text(LIVE))
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.alter_column('disputed_minor', existing_type=sa.BigInteger(), server_default=None)

    # Account events are re-read from Stripe now, so their order needs no guard.
    with op.batch_alter_table('connected_accounts', schema=None) as batch_op:
        batch_op.drop_column('last_event_at')

    with op.batch_alter_table('upgrade_redemptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_upgrade_redemptions_offer_purchase'))
        batch_op.create_unique_constraint(batch_op.f('uq_upgrade_redemptions_upgrade_offer_id'), ['upgrade_offer_id', 'purchase_id'])


def downgrade():
    with op.batch_alter_table('connected_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_event_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('upgrade_redemptions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_upgrade_redemptions_upgrade_offer_id'), type_='unique')
        batch_op.create_index(batch_op.f('ix_upgrade_redemptions_offer_purchase'), ['upgrade_offer_id', 'purchase_id'], unique=False)

    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_index('uq_subscriptions_live_offering')
        batch_op.drop_index('uq_subscriptions_live_membership')
        batch_op.drop_column('void_reason')
        batch_op.drop_column('disputed')
        batch_op.drop_column('action_required_url')
        batch_op.drop_column('kind')

    # The old schema knows only refunds of purchases.
    op.execute(sa.text("DELETE FROM refunds WHERE purchase_id IS NULL"))
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_refunds_payment_id_payments'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_refunds_payment_id'))
        batch_op.alter_column('purchase_id', existing_type=sa.Uuid(), nullable=False)
        batch_op.drop_column('failure_reason')
        batch_op.drop_column('payment_id')

    with op.batch_alter_table('purchases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dispute_event_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_column('void_reason')

    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_payments_stripe_payment_intent_id'), type_='unique')
        batch_op.drop_column('disputed_minor')
        batch_op.drop_column('stripe_payment_intent_id')

    with op.batch_alter_table('disputes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_disputes_payment_id'))

    op.drop_table('disputes')
