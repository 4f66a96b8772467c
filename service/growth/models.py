from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..catalog.models import Offering, Price
from ..common.db import Base, CreatedMixin, IdMixin
from ..creators.models import Creator


class ReferralCode(IdMixin, CreatedMixin, Base):
    """A user's personal code for sharing one creator."""

    __tablename__ = "referral_codes"
    __table_args__ = (UniqueConstraint("user_id", "creator_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    creator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(16), unique=True)

    creator: Mapped[Creator] = relationship()


class Referral(IdMixin, CreatedMixin, Base):
    """Something a referred user did (signed up, followed, bought, subscribed), credited once."""

    __tablename__ = "referrals"
    __table_args__ = (
        # One credit per event: the same purchase or subscription is never counted twice.
        UniqueConstraint("kind", "creator_id", "referred_user_id", "subject_id"),
        Index("ix_referrals_referrer", "referrer_id", "created_at"),
        Index("ix_referrals_creator", "creator_id", "created_at"),
    )

    referrer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    referred_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    creator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # signup | follow | purchase | subscription
    # The purchase or subscription credited; the referred user's id for signups and follows.
    subject_id: Mapped[uuid.UUID]
    amount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str | None] = mapped_column(String(3))


class ReferralReward(CreatedMixin, Base):
    """A creator's reward for ambassadors: a free period after every N paid referrals."""

    __tablename__ = "referral_rewards"

    creator_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("creators.id", ondelete="CASCADE"), primary_key=True
    )
    after_paid_referrals: Mapped[int] = mapped_column(Integer)


class RewardGrant(IdMixin, CreatedMixin, Base):
    """One reward earned (the n-th milestone of a referrer with a creator), granted once."""

    __tablename__ = "reward_grants"
    __table_args__ = (UniqueConstraint("referrer_id", "creator_id", "milestone"),)

    referrer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    creator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"))
    milestone: Mapped[int] = mapped_column(Integer)
    # applied: a free period went on the referrer's membership; not_a_member: nothing to credit.
    status: Mapped[str] = mapped_column(String(16))


class UpgradeOffer(IdMixin, CreatedMixin, Base):
    """A creator's invitation from a one-off offering to a membership price, with a credit."""

    __tablename__ = "upgrade_offers"
    __table_args__ = (Index("ix_upgrade_offers_from", "from_offering_id"),)

    creator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"), index=True)
    from_offering_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offerings.id", ondelete="CASCADE"))
    to_price_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("prices.id", ondelete="CASCADE"))
    credit_percent: Mapped[int | None] = mapped_column(Integer)
    credit_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    valid_days: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    to_price: Mapped[Price] = relationship()
    from_offering: Mapped[Offering] = relationship()


class UpgradeRedemption(IdMixin, CreatedMixin, Base):
    """An upgrade offer taken for one purchase, through one checkout session."""

    __tablename__ = "upgrade_redemptions"
    # Each purchase is upgraded once: a second checkout racing the first cannot also take the credit.
    __table_args__ = (UniqueConstraint("upgrade_offer_id", "purchase_id"),)

    upgrade_offer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("upgrade_offers.id", ondelete="CASCADE"))
    purchase_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("purchases.id", ondelete="CASCADE"))
    checkout_session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("checkout_sessions.id"), unique=True)
    credit_minor: Mapped[int] = mapped_column(BigInteger)
