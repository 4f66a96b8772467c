from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import User
from ..catalog.models import Offering, Price
from ..common import clock
from ..common.db import Base, CreatedMixin, IdMixin
from ..creators.models import Creator

# Subscription statuses, as Stripe names them.
LIVE_STATUSES = ("incomplete", "trialing", "active", "past_due", "unpaid", "paused")
FINAL_STATUSES = ("canceled", "incomplete_expired")
_LIVE = text("status IN ('incomplete', 'trialing', 'active', 'past_due', 'unpaid', 'paused')")
_LIVE_MEMBERSHIP = text(
    "kind = 'membership' AND status IN ('incomplete', 'trialing', 'active', 'past_due', 'unpaid', 'paused')"
)

# Dispute statuses that take access away. Inquiries (`warning_*`) do not; `won`, `prevented`
# and `warning_closed` give it back; `lost` keeps it away for good.
ACCESS_REMOVING_DISPUTES = ("needs_response", "under_review", "lost")


class Customer(IdMixin, CreatedMixin, Base):
    """A user's customer record at the payment provider (one per user on the platform)."""

    __tablename__ = "customers"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    stripe_customer_id: Mapped[str] = mapped_column(String(255), unique=True)


class ConnectedAccount(IdMixin, CreatedMixin, Base):
    """A creator's Connect Express account, mirrored from the provider."""

    __tablename__ = "connected_accounts"

    creator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"), unique=True)
    stripe_account_id: Mapped[str] = mapped_column(String(255), unique=True)
    charges_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    payouts_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    details_submitted: Mapped[bool] = mapped_column(Boolean, default=False)
    requirements_due: Mapped[list[str]] = mapped_column(JSON, default=list)
    disabled_reason: Mapped[str | None] = mapped_column(String(255))
    deauthorized_at: Mapped[datetime | None]
    synced_at: Mapped[datetime | None]

    creator: Mapped[Creator] = relationship()

    @property
    def can_take_charges(self) -> bool:
        return self.charges_enabled and self.deauthorized_at is None


class ProviderPrice(Base):
    """The provider's product and price for one of our prices (made on first checkout)."""

    __tablename__ = "provider_prices"

    price_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("prices.id", ondelete="CASCADE"), primary_key=True)
    stripe_price_id: Mapped[str] = mapped_column(String(255), unique=True)
    stripe_product_id: Mapped[str] = mapped_column(String(255))


class CheckoutSession(IdMixin, CreatedMixin, Base):
    __tablename__ = "checkout_sessions"
    __table_args__ = (Index("ix_checkout_sessions_user_price", "user_id", "price_id", "status"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    creator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"))
    offering_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offerings.id", ondelete="CASCADE"))
    price_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("prices.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open")
    stripe_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    url: Mapped[str | None] = mapped_column(Text)
    success_url: Mapped[str] = mapped_column(Text)
    cancel_url: Mapped[str] = mapped_column(Text)
    discount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    upgrade_offer_id: Mapped[uuid.UUID | None]
    referral_code: Mapped[str | None] = mapped_column(String(64))
    purchase_id: Mapped[uuid.UUID | None]
    subscription_id: Mapped[uuid.UUID | None]
    expires_at: Mapped[datetime]

    price: Mapped[Price] = relationship()
    offering: Mapped[Offering] = relationship()


class Purchase(IdMixin, CreatedMixin, Base):
    """A paid one-off: a service or a product."""

    __tablename__ = "purchases"
    __table_args__ = (
        Index("ix_purchases_user_created", "user_id", "created_at", "id"),
        Index("ix_purchases_offering", "offering_id", "status"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    creator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"), index=True)
    offering_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offerings.id", ondelete="CASCADE"))
    price_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("prices.id", ondelete="CASCADE"))
    checkout_session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("checkout_sessions.id"), unique=True)
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    amount_refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # paid | refunded (in full) ; a partial refund keeps `paid`.
    status: Mapped[str] = mapped_column(String(16), default="paid")
    # An open or lost dispute (see ACCESS_REMOVING_DISPUTES), mirrored from the provider.
    disputed: Mapped[bool] = mapped_column(Boolean, default=False)
    # Why we refunded it ourselves at once: sold_out (capacity was gone when the payment landed).
    void_reason: Mapped[str | None] = mapped_column(String(32))
    paid_at: Mapped[datetime]

    offering: Mapped[Offering] = relationship()
    user: Mapped[User] = relationship()
    creator: Mapped[Creator] = relationship()


class Subscription(IdMixin, CreatedMixin, Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        Index("ix_subscriptions_user_created", "user_id", "created_at", "id"),
        Index("ix_subscriptions_creator_status", "creator_id", "status", "created_at", "id"),
        # Analytics: a creator's memberships by start, and the member export's keyset order.
        Index("ix_subscriptions_creator_started", "creator_id", "started_at", "id"),
        # The members list's keyset order, newest first, whatever the status.
        Index("ix_subscriptions_creator_created", "creator_id", "created_at", "id"),
        # One live membership per follower and creator, and one live subscription per offering,
        # whatever the timing of checkouts and webhooks.
        Index(
            "uq_subscriptions_live_membership",
            "user_id",
            "creator_id",
            unique=True,
            postgresql_where=_LIVE_MEMBERSHIP,
            sqlite_where=_LIVE_MEMBERSHIP,
        ),
        Index(
            "uq_subscriptions_live_offering",
            "user_id",
            "offering_id",
            unique=True,
            postgresql_where=_LIVE,
            sqlite_where=_LIVE,
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    creator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"))
    offering_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offerings.id", ondelete="CASCADE"))
    price_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("prices.id", ondelete="CASCADE"))
    # The offering's kind when subscribed (offerings never change kind): memberships are one per creator.
    kind: Mapped[str] = mapped_column(String(16), default="membership")
    stripe_subscription_id: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(24))
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    current_period_start: Mapped[datetime | None]
    current_period_end: Mapped[datetime | None]
    trial_end: Mapped[datetime | None]
    canceled_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    past_due_since: Mapped[datetime | None]
    started_at: Mapped[datetime] = mapped_column(default=clock.utcnow)
    # An upgrade waiting for its payment, and a downgrade waiting for the period end.
    pending_price_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("prices.id"))
    scheduled_price_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("prices.id"))
    # An invoice waits for the member to authenticate the payment (3-D Secure): its page.
    action_required_url: Mapped[str | None] = mapped_column(Text)
    # An open or lost dispute on one of its invoices: no access meanwhile.
    disputed: Mapped[bool] = mapped_column(Boolean, default=False)
    # Why we ended it ourselves at once: duplicate_membership (another tab paid first) or sold_out.
    void_reason: Mapped[str | None] = mapped_column(String(32))
    synced_at: Mapped[datetime | None]

    price: Mapped[Price] = relationship(foreign_keys=[price_id])
    offering: Mapped[Offering] = relationship()
    user: Mapped[User] = relationship()
    creator: Mapped[Creator] = relationship()


class Payment(IdMixin, CreatedMixin, Base):
    """Money received: one row per paid purchase or paid invoice (the sales ledger)."""

    __tablename__ = "payments"
    __table_args__ = (Index("ix_payments_creator_paid", "creator_id", "paid_at", "id"),)

    creator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    offering_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offerings.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # purchase | invoice
    purchase_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("purchases.id"), unique=True)
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("subscriptions.id"))
    stripe_invoice_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # How refunds and disputes find this row (an invoice's payment, or a purchase's).
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    billing_reason: Mapped[str | None] = mapped_column(String(64))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    fee_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # Taken back by a lost dispute.
    disputed_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    paid_at: Mapped[datetime]

    offering: Mapped[Offering] = relationship()
    user: Mapped[User] = relationship()

    @hybrid_property
    def net_minor(self) -> int:
        """What the sale still brings in: paid, less refunds and lost disputes."""
        return self.amount_minor - self.refunded_minor - self.disputed_minor


class Refund(IdMixin, CreatedMixin, Base):
    """A refund of a sale, made by us or in the provider's dashboard, mirrored by its provider id."""

    __tablename__ = "refunds"

    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"), index=True)
    purchase_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("purchases.id", ondelete="CASCADE"), index=True
    )
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    stripe_refund_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # pending | requires_action | succeeded | failed | canceled, as the provider says.
    status: Mapped[str] = mapped_column(String(16), default="pending")
    failure_reason: Mapped[str | None] = mapped_column(String(64))


class Dispute(IdMixin, CreatedMixin, Base):
    """A chargeback or inquiry on a sale, mirrored from the provider."""

    __tablename__ = "disputes"

    stripe_dispute_id: Mapped[str] = mapped_column(String(255), unique=True)
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(64))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    synced_at: Mapped[datetime]


class WebhookEvent(CreatedMixin, Base):
    """The inbox: every provider event, stored before it is applied."""

    __tablename__ = "webhook_events"
    __table_args__ = (Index("ix_webhook_events_pending", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # evt_…
    type: Mapped[str] = mapped_column(String(128))
    account: Mapped[str | None] = mapped_column(String(255))
    livemode: Mapped[bool] = mapped_column(Boolean, default=False)
    api_version: Mapped[str | None] = mapped_column(String(64))
    event_created: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # pending | processing | done | ignored | unmatched | failed | dead
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=clock.utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None]


class IdempotentRequest(CreatedMixin, Base):
    """A request sent with an Idempotency-Key: claimed while it runs, then its answer for replays."""

    __tablename__ = "idempotent_requests"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        # Keys expire by age; the purge deletes the oldest rows.
        Index("ix_idempotent_requests_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    # in_progress while the first request runs (no answer yet); done once its answer is stored.
    state: Mapped[str] = mapped_column(String(16), default="in_progress")
    status_code: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[str | None] = mapped_column(Text)
