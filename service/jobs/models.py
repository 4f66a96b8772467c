"""The outbox: one row per job, written in the transaction of the change that needs it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ..common.db import Base

STATES = ("pending", "running", "done", "dead")
OPEN = "state IN ('pending', 'running')"


class Job(Base):
    """A job and what became of it. The database, not the queue, says whether it ran:
    a queue message only asks a worker to look at this row."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'running', 'done', 'dead')", name="state"),
        # The sweep's question: which open jobs are due? Done rows are most rows and never asked.
        Index("ix_jobs_open_due", "run_at", postgresql_where=text(OPEN), sqlite_where=text(OPEN)),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # `module:function` of the job; its positional arguments as JSON (ids, never objects).
    name: Mapped[str] = mapped_column(String(200))
    args: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # At most one job per key, ever: a periodic job's time slot, a broadcast's chunk.
    key: Mapped[str | None] = mapped_column(String(200), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=10)
    run_at: Mapped[datetime]
    # A running job belongs to its worker until then; after it, the job is anyone's again.
    lease_until: Mapped[datetime | None]
    # When the sweep last handed the row to the queue (handing over after commit sets nothing).
    handed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
