"""billing

Revision ID: 0004_billing
Revises: 0003_messaging
Create Date: 2026-11-27 15:13:29.941459

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004_billing'
down_revision = '0003_messaging'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('local_gateway_objects',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_local_gateway_objects'))
    )
    with op.batch_alter_table('local_gateway_objects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_local_gateway_objects_kind'), ['kind'], unique=False)

    op.create_table('webhook_events',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=128), nullable=False),
    sa.Column('account', sa.String(length=255), nullable=True),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('api_version', sa.String(length=64), nullable=True),
    sa.Column('event_created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_events'))
    )
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_events_pending', ['status', 'next_attempt_at'], unique=False)

    op.create_table('customers',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('stripe_customer_id', sa.String(length=255), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_customers_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers')),
    sa.UniqueConstraint('stripe_customer_id', name=op.f('uq_customers_stripe_customer_id')),
    sa.UniqueConstraint('user_id', name=op.f('uq_customers_user_id'))
    )
    op.create_table('idempotent_requests',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_idempotent_requests_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotent_requests')),
    sa.UniqueConstraint('user_id', 'key', name=op.f('uq_idempotent_requests_user_id'))
    )
    op.create_table('connected_accounts',
    sa.Column('creator_id', sa.Uuid(), nullable=False),
    sa.Column('stripe_account_id', sa.String(length=255), nullable=False),
    sa.Column('charges_enabled', sa.Boolean(), nullable=False),
    sa.Column('payouts_enabled', sa.Boolean(), nullable=False),
    sa.Column('details_submitted', sa.Boolean(), nullable=False),
    sa.Column('requirements_due', sa.JSON(), nullable=False),
    sa.Column('disabled_reason', sa.String(length=255), nullable=True),
    sa.Column('deauthorized_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_event_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('synced_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['creator_id'], ['creators.id'], name=op.f('fk_connected_accounts_creator_id_creators'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_connected_accounts')),
    sa.UniqueConstraint('creator_id', name=op.f('uq_connected_accounts_creator_id')),
    sa.UniqueConstraint('stripe_account_id', name=op.f('uq_connected_accounts_stripe_account_id'))
    )
    op.create_table('checkout_sessions',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('creator_id', sa.Uuid(), nullable=False),
    sa.Column('offering_id', sa.Uuid(), nullable=False),
    sa.Column('price_id', sa.Uuid(), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('stripe_session_id', sa.String(length=255), nullable=True),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('success_url', sa.Text(), nullable=False),
    sa.Column('cancel_url', sa.Text(), nullable=False),
    sa.Column('discount_minor', sa.BigInteger(), nullable=False),
    sa.Column('upgrade_offer_id', sa.Uuid(), nullable=True),
    sa.Column('referral_code', sa.String(length=64), nullable=True),
    sa.Column('purchase_id', sa.Uuid(), nullable=True),
    sa.Column('subscription_id', sa.Uuid(), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['creator_id'], ['creators.id'], name=op.f('fk_checkout_sessions_creator_id_creators'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['offering_id'], ['offerings.id'], name=op.f('fk_checkout_sessions_offering_id_offerings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['price_id'], ['prices.id'], name=op.f('fk_checkout_sessions_price_id_prices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_checkout_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checkout_sessions')),
    sa.UniqueConstraint('stripe_session_id', name=op.f('uq_checkout_sessions_stripe_session_id'))
    )
    with op.batch_alter_table('checkout_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_checkout_sessions_user_price', ['user_id', 'price_id', 'status'], unique=False)

    op.create_table('provider_prices',
    sa.Column('price_id', sa.Uuid(), nullable=False),
    sa.Column('stripe_price_id', sa.String(length=255), nullable=False),
    sa.Column('stripe_product_id', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['price_id'], ['prices.id'], name=op.f('fk_provider_prices_price_id_prices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('price_id', name=op.f('pk_provider_prices')),
    sa.UniqueConstraint('stripe_price_id', name=op.f('uq_provider_prices_stripe_price_id'))
    )
    op.create_table('subscriptions',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('creator_id', sa.Uuid(), nullable=False),
    sa.Column('offering_id', sa.Uuid(), nullable=False),
    sa.Column('price_id', sa.Uuid(), nullable=False),
    sa.Column('stripe_subscription_id', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('cancel_at_period_end', sa.Boolean(), nullable=False),
    sa.Column('current_period_start', sa.DateTime(timezone=True), nullable=True),
    sa.Column('current_period_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('trial_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('canceled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('past_due_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('pending_price_id', sa.Uuid(), nullable=True),
    sa.Column('scheduled_price_id', sa.Uuid(), nullable=True),
    sa.Column('synced_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['creator_id'], ['creators.id'], name=op.f('fk_subscriptions_creator_id_creators'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['offering_id'], ['offerings.id'], name=op.f('fk_subscriptions_offering_id_offerings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['pending_price_id'], ['prices.id'], name=op.f('fk_subscriptions_pending_price_id_prices')),
    sa.ForeignKeyConstraint(['price_id'], ['prices.id'], name=op.f('fk_subscriptions_price_id_prices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['scheduled_price_id'], ['prices.id'], name=op.f('fk_subscriptions_scheduled_price_id_prices')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_subscriptions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriptions')),
    sa.UniqueConstraint('stripe_subscription_id', name=op.f('uq_subscriptions_stripe_subscription_id'))
    )
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.create_index('ix_subscriptions_creator_status', ['creator_id', 'status', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_subscriptions_user_created', ['user_id', 'created_at', 'id'], unique=False)

    op.create_table('purchases',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('creator_id', sa.Uuid(), nullable=False),
    sa.Column('offering_id', sa.Uuid(), nullable=False),
    sa.Column('price_id', sa.Uuid(), nullable=False),
    sa.Column('checkout_session_id', sa.Uuid(), nullable=False),
    sa.Column('stripe_payment_intent_id', sa.String(length=255), nullable=True),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount_refunded_minor', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('disputed', sa.Boolean(), nullable=False),
    sa.Column('dispute_event_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['checkout_session_id'], ['checkout_sessions.id'], name=op.f('fk_purchases_checkout_session_id_checkout_sessions')),
    sa.ForeignKeyConstraint(['creator_id'], ['creators.id'], name=op.f('fk_purchases_creator_id_creators'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['offering_id'], ['offerings.id'], name=op.f('fk_purchases_offering_id_offerings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['price_id'], ['prices.id'], name=op.f('fk_purchases_price_id_prices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_purchases_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchases')),
    sa.UniqueConstraint('checkout_session_id', name=op.f('uq_purchases_checkout_session_id')),
    sa.UniqueConstraint('stripe_payment_intent_id', name=op.f('uq_purchases_stripe_payment_intent_id'))
    )
    with op.batch_alter_table('purchases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_purchases_creator_id'), ['creator_id'], unique=False)
        batch_op.create_index('ix_purchases_offering', ['offering_id', 'status'], unique=False)
        batch_op.create_index('ix_purchases_user_created', ['user_id', 'created_at', 'id'], unique=False)

    op.create_table('payments',
    sa.Column('creator_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('offering_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('purchase_id', sa.Uuid(), nullable=True),
    sa.Column('subscription_id', sa.Uuid(), nullable=True),
    sa.Column('stripe_invoice_id', sa.String(length=255), nullable=True),
    sa.Column('billing_reason', sa.String(length=64), nullable=True),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('fee_minor', sa.BigInteger(), nullable=False),
    sa.Column('refunded_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['creator_id'], ['creators.id'], name=op.f('fk_payments_creator_id_creators'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['offering_id'], ['offerings.id'], name=op.f('fk_payments_offering_id_offerings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['purchase_id'], ['purchases.id'], name=op.f('fk_payments_purchase_id_purchases')),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], name=op.f('fk_payments_subscription_id_subscriptions')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_payments_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments')),
    sa.UniqueConstraint('purchase_id', name=op.f('uq_payments_purchase_id')),
    sa.UniqueConstraint('stripe_invoice_id', name=op.f('uq_payments_stripe_invoice_id'))
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index('ix_payments_creator_paid', ['creator_id', 'paid_at', 'id'], unique=False)

    op.create_table('refunds',
    sa.Column('purchase_id', sa.Uuid(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('stripe_refund_id', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['purchase_id'], ['purchases.id'], name=op.f('fk_refunds_purchase_id_purchases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refunds')),
    sa.UniqueConstraint('stripe_refund_id', name=op.f('uq_refunds_stripe_refund_id'))
    )
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refunds_purchase_id'), ['purchase_id'], unique=False)



def downgrade():
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refunds_purchase_id'))

    op.drop_table('refunds')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index('ix_payments_creator_paid')

    op.drop_table('payments')
    with op.batch_alter_table('purchases', schema=None) as batch_op:
        batch_op.drop_index('ix_purchases_user_created')
        batch_op.drop_index('ix_purchases_offering')
        batch_op.drop_index(batch_op.f('ix_purchases_creator_id'))

    op.drop_table('purchases')
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_index('ix_subscriptions_user_created')
        batch_op.drop_index('ix_subscriptions_creator_status')

    op.drop_table('subscriptions')
    op.drop_table('provider_prices')
    with op.batch_alter_table('checkout_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_checkout_sessions_user_price')

    op.drop_table('checkout_sessions')
    op.drop_table('connected_accounts')
    op.drop_table('idempotent_requests')
    op.drop_table('customers')
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_events_pending')

    op.drop_table('webhook_events')
    with op.batch_alter_table('local_gateway_objects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_local_gateway_objects_kind'))

    op.drop_table('local_gateway_objects')
