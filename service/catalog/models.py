from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..common import clock
from ..common.db import Base, CreatedMixin, IdMixin
from ..creators.models import Creator

KINDS = ("membership", "service", "product")
STATUSES = ("draft", "published", "archived")
PRICE_TYPES = ("one_time", "recurring")
INTERVALS = ("month", "year")
# How each kind is paid: a tier recurs (it grants access while paid for); services and
# products are bought once (a purchase grants what was bought). A recurring product would
# take money every period and deliver nothing, so no other pairing is sold.
PRICE_TYPE_OF_KIND = {"membership": "recurring", "service": "one_time", "product": "one_time"}


def sells(kind: str, price_type: str) -> bool:
    """Whether an offering of this kind may be sold at a price of this type."""
    return PRICE_TYPE_OF_KIND[kind] == price_type


class Offering(IdMixin, CreatedMixin, Base):
    __tablename__ = "offerings"
    __table_args__ = (
        Index("ix_offerings_creator_rank", "creator_id", "rank", "created_at", "id"),
        CheckConstraint("kind IN ('membership', 'service', 'product')", name="kind"),
        CheckConstraint("status IN ('draft', 'published', 'archived')", name="status"),
        CheckConstraint("capacity IS NULL OR capacity > 0", name="capacity_positive"),
    )

    creator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    benefits: Mapped[list[str]] = mapped_column(JSON, default=list)
    capacity: Mapped[int | None] = mapped_column(Integer)
    rank: Mapped[int] = mapped_column(Integer, default=0)
    delivery: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    updated_at: Mapped[datetime] = mapped_column(default=clock.utcnow, onupdate=clock.utcnow)
    published_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]

    creator: Mapped[Creator] = relationship()
    prices: Mapped[list[Price]] = relationship(
        back_populates="offering", order_by="Price.created_at", lazy="selectin"
    )


class Price(IdMixin, CreatedMixin, Base):
    __tablename__ = "prices"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("type IN ('one_time', 'recurring')", name="type"),
        CheckConstraint(
            "(type = 'one_time' AND interval IS NULL AND interval_count IS NULL)"
            " OR (type = 'recurring' AND interval IN ('month', 'year') AND interval_count >= 1)",
            name="recurrence",
        ),
    )

    offering_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offerings.id", ondelete="CASCADE"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    type: Mapped[str] = mapped_column(String(16))
    interval: Mapped[str | None] = mapped_column(String(8))
    interval_count: Mapped[int | None] = mapped_column(Integer)
    trial_days: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    archived_at: Mapped[datetime | None]

    offering: Mapped[Offering] = relationship(back_populates="prices")
