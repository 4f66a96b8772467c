from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Index, UniqueConstraint
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
