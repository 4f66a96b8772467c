from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ..common.db import Base, CreatedMixin, IdMixin

UNREAD = "read_at IS NULL"
EMAIL_STATUSES = ("pending", "sent", "skipped", "failed")


class Notification(IdMixin, CreatedMixin, Base):
    """Something that happened, told to one user. The cause's key makes it once per cause:
    a retried job or webhook finds the row there and adds nothing."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("uq_notifications_cause", "user_id", "kind", "cause_key", unique=True),
        Index("ix_notifications_user_created", "user_id", "created_at", "id"),
        # The unread count is a count of this small index, not of the user's whole history.
        Index("ix_notifications_unread", "user_id", postgresql_where=text(UNREAD), sqlite_where=text(UNREAD)),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    cause_key: Mapped[str] = mapped_column(String(200))
    # What a client shows and the e-mail says: names, titles, excerpts, ids. Written once.
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    read_at: Mapped[datetime | None]


class NotificationSetting(Base):
    """A user's choice for one kind, where it differs from the kind's default."""

    __tablename__ = "notification_settings"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[bool] = mapped_column(Boolean)
    in_app: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime]


class Email(IdMixin, CreatedMixin, Base):
    """One e-mail to send, and what became of it. Rendered at send time, so what it says
    and whether it goes at all follow the state then (consent, verification, access)."""

    __tablename__ = "emails"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sent', 'skipped', 'failed')", name="status"),
        Index("ix_emails_user_created", "user_id", "created_at"),
    )

    # Once per cause, like notifications: a notification's id, a digest's first message.
    key: Mapped[str] = mapped_column(String(200), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Only for an address that is not yet the account's (verifying a new one); else the
    # account's address at send time.
    to_address: Mapped[str | None] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # Why it was skipped or failed: suppressed, unverified, unsubscribed, no_access, or the
    # server's answer.
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[str | None] = mapped_column(String(250))
    sent_at: Mapped[datetime | None]


class Suppression(CreatedMixin, Base):
    """An address no e-mail goes to: the server refused it for good, or its owner said
    stop to everything."""

    __tablename__ = "email_suppressions"

    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    reason: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str | None] = mapped_column(Text)


class PendingDigest(Base):
    """Unread messages in one conversation for one user that an e-mail will tell about
    once it is due, if they are still unread then. While the row exists, new messages
    add nothing: that is the at-most-one-per-period rule."""

    __tablename__ = "pending_digests"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(40))
    # The message that opened the period: the digest e-mail's key.
    first_message_id: Mapped[uuid.UUID]
    due_at: Mapped[datetime]


class LocalMail(IdMixin, CreatedMixin, Base):
    """The development mailbox (EMAIL_BACKEND=local): each message as it would have left."""

    __tablename__ = "local_mail"
    __table_args__ = (Index("ix_local_mail_created", "created_at", "id"),)

    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text)
    # The whole message (RFC 5322, both parts), exactly what SMTP would have carried.
    raw: Mapped[str] = mapped_column(Text)
