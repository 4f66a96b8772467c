"""Webhook endpoints, the events feed, and the log of what was sent where."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..common import clock
from ..common.db import Base, CreatedMixin, IdMixin

# An integer key that autoincrements on SQLite too (which does so only for INTEGER).
EventId = BigInteger().with_variant(Integer(), "sqlite")


class WebhookEndpoint(IdMixin, CreatedMixin, Base):
    """A creator's URL and the event types it is sent. A disabled endpoint is sent nothing."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (CheckConstraint("status IN ('enabled', 'disabled')", name="status"),)

    creator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(500))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The signing key (`whsec_…`): kept readable, since each delivery is signed with it.
    secret: Mapped[str] = mapped_column(String(100))
    # After a rotation the old key signs too, until then, so receivers can switch over.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_until: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="enabled")
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    disabled_at: Mapped[datetime | None]


class EventSequence(Base):
    """A creator's last event number. Numbering a transaction's events locks this row until
    it commits, so a creator's events commit in the order of their numbers (see events.py)."""

    __tablename__ = "event_sequences"

    creator_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("creators.id", ondelete="CASCADE"), primary_key=True
    )
    last_seq: Mapped[int] = mapped_column(BigInteger)


class Event(Base):
    """Something that happened at a creator's, as its webhooks and the feed tell it."""

    __tablename__ = "events"
    __table_args__ = (
        # The feed's order, and its key.
        UniqueConstraint("creator_id", "seq", name="uq_events_creator_id_seq"),
        UniqueConstraint("creator_id", "key", name="uq_events_creator_id_key"),
        Index("ix_events_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    creator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Set for what must be recorded once however often it is announced (a purchase's
    # completion, a payment, a new membership).
    key: Mapped[str | None] = mapped_column(String(100))
    # The creator's event number: 1, 2, 3 … in commit order, given just before the commit
    # (null only inside the writing transaction).
    seq: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=clock.utcnow)


class Delivery(IdMixin, CreatedMixin, Base):
    """One event (or a ping, with no event) for one endpoint, until sent or given up."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "created_at"),
    )

    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[int | None] = mapped_column(
        EventId, ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # Attempts made so far; the job for attempt n runs only while n - 1 were made.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]


class DeliveryAttempt(IdMixin, CreatedMixin, Base):
    """One try at sending a delivery: what the receiver answered, and how fast."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id", "attempt"),)

    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    # Why no answer counted: refused address, timeout, connection error, redirect.
    error: Mapped[str | None] = mapped_column(String(500))
    # When the next attempt is due (None: this one succeeded, or it was the last).
    next_attempt_at: Mapped[datetime | None]
