from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Computed, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from ..accounts.models import User
from ..common import clock
from ..common.db import Base, CreatedMixin, IdMixin

# The generated column's expression on PostgreSQL; migration 0014 creates it from this text.
SEARCH_VECTOR = (
    "setweight(to_tsvector('english'::regconfig, (handle::text || ' ' || display_name::text)), 'A')"
    " || setweight(to_tsvector('english'::regconfig, tags_text), 'B')"
    " || setweight(to_tsvector('english'::regconfig, purpose), 'C')"
    " || setweight(to_tsvector('english'::regconfig, bio), 'D')"
)


class Creator(IdMixin, CreatedMixin, Base):
    __tablename__ = "creators"
    __table_args__ = (
        Index("ix_creators_follower_count_id", "follower_count", "id"),
        Index("ix_creators_search", "search_vector", postgresql_using="gin"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    handle: Mapped[str] = mapped_column(String(30), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    bio: Mapped[str] = mapped_column(Text, default="")
    purpose: Mapped[str] = mapped_column(Text, default="")
    # Space-joined copy of the tags, so full-text search reads one row.
    tags_text: Mapped[str] = mapped_column(Text, default="")
    currency: Mapped[str] = mapped_column(String(3))
    dm_policy: Mapped[str] = mapped_column(String(16), default="followers")
    dm_tier_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Changed only by atomic UPDATE … SET follower_count = follower_count ± 1.
    follower_count: Mapped[int] = mapped_column(Integer, default=0)
    # Users whose membership grants access now, kept by billing in the transaction that changes
    # one (atomic ± 1 like follower_count); `flask billing recount-members` recounts it.
    member_count: Mapped[int] = mapped_column(Integer, default=0)
    payouts_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when the owner deletes their account: the profile disappears, sales records stay.
    deleted_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=clock.utcnow, onupdate=clock.utcnow)
    # What discovery matches words against, kept by the database itself. On PostgreSQL the
    # weighted tsvector (so ranking reads it instead of rebuilding it per match); on SQLite
    # the same fields lower-cased (migration 0014). Deferred: no response shows it.
    search_vector: Mapped[Any] = mapped_column(
        TSVECTOR().with_variant(Text(), "sqlite"), Computed(SEARCH_VECTOR, persisted=True), deferred=True
    )

    # A user comes with their profile (one outer join): authenticated routes learn who is
    # calling, and whether they own the creator at hand, from the token's single query.
    user: Mapped[User] = relationship(backref=backref("creator", uselist=False, lazy="joined"))
    # Loaded on use; lists of creators ask for them in one go (selectinload).
    tag_rows: Mapped[list[CreatorTag]] = relationship(
        cascade="all, delete-orphan", order_by="CreatorTag.position"
    )

    @property
    def tags(self) -> list[str]:
        return [t.tag for t in self.tag_rows]


class CreatorTag(Base):
    """One tag of a creator; the table exists so `?tag=` is an index lookup."""

    __tablename__ = "creator_tags"

    creator_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("creators.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(30), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
