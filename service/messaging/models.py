from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from ..common.db import Base, CreatedMixin, IdMixin

KINDS = ("text", "system", "broadcast")
AUDIENCES = ("followers", "members", "tiers")
NOTHING_READ = (datetime(1970, 1, 1, tzinfo=UTC), uuid.UUID(int=0))
HAS_UNREAD = "unread_count > 0"


class Conversation(IdMixin, CreatedMixin, Base):
    """One per unordered pair of users, stored with the smaller id first so the
    unique constraint also stops two concurrent starts."""

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("user_a_id", "user_b_id"),
        CheckConstraint("user_a_id < user_b_id", name="ordered_pair"),
    )

    user_a_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    user_b_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)


class ConversationMember(Base):
    """A participant's side of a conversation: where it sorts in their list and
    how far they have read."""

    __tablename__ = "conversation_members"
    __table_args__ = (
        # The conversation list is one range scan of this index, newest activity first.
        Index("ix_conversation_members_user_activity", "user_id", "last_message_at", "conversation_id"),
        # The unread badge reads only the conversations with something unread, from the
        # index alone: a creator with thousands of conversations, all read, reads none.
        Index(
            "ix_conversation_members_unread",
            "user_id",
            "unread_count",
            postgresql_where=text(HAS_UNREAD),
            sqlite_where=text(HAS_UNREAD),
        ),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    # Copied onto both sides on every new message, so each user's list is ordered by an index.
    last_message_at: Mapped[datetime]
    # The read marker is the keyset position (created_at, id) of the last message read:
    # a position, not a reference, so no foreign key. It starts before every message
    # rather than NULL, so counting unread messages is one index range scan.
    last_read_at: Mapped[datetime] = mapped_column(default=NOTHING_READ[0])
    last_read_message_id: Mapped[uuid.UUID] = mapped_column(default=NOTHING_READ[1])
    # Messages after the read marker that this member did not write: raised by one atomic
    # UPDATE per delivery, recounted when the marker moves, so the list never counts them.
    unread_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Message(IdMixin, CreatedMixin, Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation_created", "conversation_id", "created_at", "id"),
        # A retried fan-out or webhook finds its message already there.
        UniqueConstraint("broadcast_id", "conversation_id"),
        UniqueConstraint("purchase_id"),
        CheckConstraint("kind IN ('text', 'system', 'broadcast')", name="kind"),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    # None for system messages, which nobody in the conversation wrote.
    sender_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default="text")
    body: Mapped[str] = mapped_column(Text)
    broadcast_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("broadcasts.id", ondelete="SET NULL"))
    # Billing's purchase id; no foreign key, because messaging must not depend on billing's tables.
    purchase_id: Mapped[uuid.UUID | None]


class Block(IdMixin, CreatedMixin, Base):
    __tablename__ = "blocks"
    __table_args__ = (UniqueConstraint("blocker_id", "blocked_id"),)

    blocker_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    blocked_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)


class Report(IdMixin, CreatedMixin, Base):
    __tablename__ = "reports"
    __table_args__ = (
        Index("ix_reports_status_created", "status", "created_at", "id"),
        CheckConstraint("(message_id IS NULL) <> (user_id IS NULL)", name="one_target"),
        CheckConstraint("status IN ('open', 'closed')", name="status"),
    )

    reporter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")


class Broadcast(IdMixin, CreatedMixin, Base):
    __tablename__ = "broadcasts"
    __table_args__ = (
        Index("ix_broadcasts_creator_created", "creator_id", "created_at", "id"),
        CheckConstraint("audience IN ('followers', 'members', 'tiers')", name="audience"),
        CheckConstraint("status IN ('queued', 'sending', 'sent')", name="status"),
    )

    creator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    audience: Mapped[str] = mapped_column(String(16))
    tier_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    # The audience when planned (less blocks), unknown while queued; `delivered` is what
    # the chunks sent, `chunks_done` of `chunks` how far they are.
    recipients: Mapped[int | None] = mapped_column(Integer)
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    chunks: Mapped[int] = mapped_column(Integer, default=0)
    chunks_done: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime | None]


class BroadcastRecipient(Base):
    """The audience of a broadcast, copied when it is queued: the job pages through
    it by primary key however the audience was defined."""

    __tablename__ = "broadcast_recipients"

    broadcast_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("broadcasts.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
