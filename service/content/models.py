from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..common import clock
from ..common.db import Base, CreatedMixin, IdMixin
from ..creators.models import Creator

VISIBILITIES = ("public", "followers", "members", "tiers")


class Post(IdMixin, CreatedMixin, Base):
    __tablename__ = "posts"
    __table_args__ = (
        # Keyset pages of one creator's posts, and the feed's per-creator range scans.
        Index("ix_posts_creator_created", "creator_id", "created_at", "id"),
        CheckConstraint("visibility IN ('public', 'followers', 'members', 'tiers')", name="visibility"),
    )

    creator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    visibility: Mapped[str] = mapped_column(String(16))
    # Membership offering ids (as strings) for `tiers`; empty otherwise.
    tier_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    published_at: Mapped[datetime] = mapped_column(default=clock.utcnow)

    creator: Mapped[Creator] = relationship()
