"""Memberships without billing: answer the followers domain's questions the way
billing will, for the creators and users a test names."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select

from service.accounts.models import User
from service.followers.signals import access_requested, audience_requested


class Memberships:
    def __init__(self) -> None:
        self.tiers: dict[str, dict[str, str]] = {}  # creator id -> {user id: tier offering id}
        self.audiences: dict[str, Any] = {}  # creator id -> SELECT of user ids, for bulk tests

    def grant(self, user_id: str, creator_id: str, tier_id: str) -> None:
        self.tiers.setdefault(str(creator_id), {})[str(user_id)] = str(tier_id)

    def on_access(self, creator: Any, user: Any, **kwargs: object) -> dict[str, Any]:
        tier = self.tiers.get(str(creator.id), {}).get(str(user.id))
        if tier is None:
            return {}
        return {"membership": {"tier_offering_id": tier, "status": "active", "current_period_end": None}}

    def on_audience(self, creator: Any, tier_ids: list[Any] | None = None, **kwargs: object) -> Any:
        if str(creator.id) in self.audiences:
            return self.audiences[str(creator.id)]
        wanted = {str(t) for t in tier_ids} if tier_ids is not None else None
        members = self.tiers.get(str(creator.id), {})
        ids = [uuid.UUID(u) for u, tier in members.items() if wanted is None or tier in wanted]
        return select(User.id).where(User.id.in_(ids))


@contextmanager
def fake_memberships() -> Iterator[Memberships]:
    memberships = Memberships()
    access_requested.connect(memberships.on_access, weak=False)
    audience_requested.connect(memberships.on_audience, weak=False)
    try:
        yield memberships
    finally:
        access_requested.disconnect(memberships.on_access)
        audience_requested.disconnect(memberships.on_audience)
