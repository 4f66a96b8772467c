from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import User
from ..common.db import Base, CreatedMixin, IdMixin
from ..creators.models import Creator


class Follow(IdMixin, CreatedMixin, Base):
    __tablename__ = "follows"
    __table_args__ = (
        UniqueConstraint("user_id", "creator_id"),
        # Keyset pages: a creator's followers, and a user's follows, newest first.
        Index("ix_follows_creator_created", "creator_id", "created_at", "id"),
        Index("ix_follows_user_created", "user_id", "created_at", "id"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    creator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"))

    user: Mapped[User] = relationship()
    creator: Mapped[Creator] = relationship()


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
