"""The simulator's state: every Stripe-shaped object it made, in one table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from ..common.db import Base, CreatedMixin


class LocalObject(CreatedMixin, Base):
    """State of the local payment gateway (development and demos only)."""

    __tablename__ = "local_gateway_objects"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
