"""New followers, told to the creator once a day: a follow schedules that day's digest
(one job per creator and day, by its key); the digest counts who followed that day and
still does."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select

from .. import jobs
from ..accounts.models import User
from ..common import clock
from ..creators.models import Creator
from ..extensions import db
from ..followers.models import Follow
from .service import notify

NAMES_SHOWN = 3


def follower_created(follow: Follow, **_: Any) -> None:
    day = follow.created_at.astimezone(UTC).date()
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
    jobs.enqueue(
        send_follower_digest,
        str(follow.creator_id),
        day.isoformat(),
        key=f"follower-digest:{follow.creator_id}:{day.isoformat()}",
        delay=max(end - clock.utcnow(), timedelta(0)),
    )


def send_follower_digest(creator_id: str, day: str) -> None:
    """Job: tell the creator how many people followed on that day (if any still do)."""
    creator = db.session.get(Creator, uuid.UUID(creator_id))
    if creator is None or creator.deleted_at is not None:
        return
    start = datetime.combine(date.fromisoformat(day), time(), tzinfo=UTC)
    that_day = (
        Follow.creator_id == creator.id,
        Follow.created_at >= start,
        Follow.created_at < start + timedelta(days=1),
    )
    count = db.session.scalar(select(func.count()).select_from(Follow).where(*that_day)) or 0
    if not count:
        return
    names = db.session.scalars(
        select(User.display_name)
        .join(Follow, Follow.user_id == User.id)
        .where(*that_day)
        .order_by(Follow.created_at.desc())
        .limit(NAMES_SHOWN)
    ).all()
    data = {"day": day, "count": count, "names": list(names), "creator_handle": creator.handle}
    notify(creator.user_id, "new_follower", day, data)
