"""The roll-up analytics keeps: what happened per creator and UTC day, and what each
subscription and payment has put into it (see `rollup`)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from ..common.db import Base

# The columns a day row and a membership event both carry, each a change counted from its instant on.
MEASURES = ("members", "held_members", "starts", "ends", "paying", "held_paying")
DAY_MEASURES = (*MEASURES, "one_off", "recurring", "followers")


class AnalyticsDay(Base):
    """Changes of one creator on one UTC day; membership figures per price length in months
    (MRR is summed exactly per length and rounded once), the others under months 0."""

    __tablename__ = "analytics_days"

    creator_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("creators.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(primary_key=True)
    months: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Memberships granting access (+1 when one starts granting, -1 when it stops), and the
    # part of them whose current status stops them at now ("held": counted before now only).
    members: Mapped[int] = mapped_column(BigInteger, default=0)
    held_members: Mapped[int] = mapped_column(BigInteger, default=0)
    starts: Mapped[int] = mapped_column(BigInteger, default=0)
    ends: Mapped[int] = mapped_column(BigInteger, default=0)
    # What paying memberships pay per period of `months` months, in minor units.
    paying: Mapped[int] = mapped_column(BigInteger, default=0)
    held_paying: Mapped[int] = mapped_column(BigInteger, default=0)
    # Net revenue of the sales paid that day, and follows made that day that still exist.
    one_off: Mapped[int] = mapped_column(BigInteger, default=0)
    recurring: Mapped[int] = mapped_column(BigInteger, default=0)
    followers: Mapped[int] = mapped_column(BigInteger, default=0)


class MembershipEvent(Base):
    """One instant at which a membership changes the figures, as booked into `analytics_days`:
    the day's totals are the sums of these, and the part of a day before an instant is read here."""

    __tablename__ = "analytics_membership_events"
    __table_args__ = (Index("ix_analytics_membership_events_creator_at", "creator_id", "at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    creator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"))
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime]
    months: Mapped[int] = mapped_column(Integer)
    # What a former price paid, up to the change: history, never re-booked.
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    members: Mapped[int] = mapped_column(Integer, default=0)
    held_members: Mapped[int] = mapped_column(Integer, default=0)
    starts: Mapped[int] = mapped_column(Integer, default=0)
    ends: Mapped[int] = mapped_column(Integer, default=0)
    paying: Mapped[int] = mapped_column(BigInteger, default=0)
    held_paying: Mapped[int] = mapped_column(BigInteger, default=0)


class BookedMembership(Base):
    """The price a membership is booked at, and since when (None: since it began)."""

    __tablename__ = "analytics_memberships"

    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), primary_key=True
    )
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    months: Mapped[int] = mapped_column(Integer)
    price_since: Mapped[datetime | None]


class BookedPayment(Base):
    """What a payment has put into its day's revenue: its net amount when last booked."""

    __tablename__ = "analytics_payments"

    payment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("payments.id", ondelete="CASCADE"), primary_key=True
    )
    net_minor: Mapped[int] = mapped_column(BigInteger)


class AnalyticsCustomer(Base):
    """What conversion knows of one user of one creator (see `rollup.book_customer`)."""

    __tablename__ = "analytics_customers"

    creator_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("creators.id", ondelete="CASCADE"), primary_key=True
    )
    # Indexed for the cascade when a user is deleted.
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    # The user's payments to the creator, and the part of them that are purchases, that
    # still bring something in (net above zero, as `analytics_payments` booked them).
    kept_payments: Mapped[int] = mapped_column(Integer, default=0)
    kept_purchases: Mapped[int] = mapped_column(Integer, default=0)
    following: Mapped[bool] = mapped_column(Boolean, default=False)
    # Ever held a membership that got past checkout.
    member: Mapped[bool] = mapped_column(Boolean, default=False)


class AnalyticsConversion(Base):
    """A creator's conversion counts over all time: the customers' flags summed."""

    __tablename__ = "analytics_conversion"

    creator_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("creators.id", ondelete="CASCADE"), primary_key=True
    )
    followers_who_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    one_off_buyers: Mapped[int] = mapped_column(BigInteger, default=0)
    one_off_buyers_who_were_members: Mapped[int] = mapped_column(BigInteger, default=0)
