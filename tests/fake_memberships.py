"""Memberships without billing: entitlements that answer as billing would for the
creators and users a test names, and as the real ones for everyone else."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy import or_, select

from service.accounts.models import User
from service.common.entitlements import EXTENSION, Entitlements, Holding, Membership


class Memberships:
    """Wraps the app's entitlements; granted memberships are added to theirs."""

    def __init__(self, real: Entitlements) -> None:
        self.real = real
        self.tiers: dict[str, dict[str, str]] = {}  # creator id -> {user id: tier offering id}
        self.audiences: dict[str, Any] = {}  # creator id -> SELECT of user ids, for bulk tests

    def grant(self, user_id: str, creator_id: str, tier_id: str) -> None:
        self.tiers.setdefault(str(creator_id), {})[str(user_id)] = str(tier_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def access_of(self, creator_id: uuid.UUID, user_id: uuid.UUID) -> Holding:
        real = self.real.access_of(creator_id, user_id)
        tier = self.tiers.get(str(creator_id), {}).get(str(user_id))
        if tier is None:
            return real
        membership = Membership(
            subscription_id=uuid.uuid4(),
            tier_offering_id=uuid.UUID(tier),
            price_id=uuid.uuid4(),
            status="active",
            current_period_end=None,
        )
        return Holding(membership, real.purchases)

    def tiers_held(
        self, user_id: uuid.UUID, creator_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, frozenset[uuid.UUID]]:
        held = dict(self.real.tiers_held(user_id, creator_ids))
        for creator_id in creator_ids:
            tier = self.tiers.get(str(creator_id), {}).get(str(user_id))
            if tier is not None:
                held[creator_id] = held.get(creator_id, frozenset()) | {uuid.UUID(tier)}
        return held

    def audience(self, creator_id: uuid.UUID, tier_ids: Collection[uuid.UUID] | None = None) -> Any:
        if str(creator_id) in self.audiences:
            return self.audiences[str(creator_id)]
        wanted = {str(t) for t in tier_ids} if tier_ids is not None else None
        members = self.tiers.get(str(creator_id), {})
        ids = [uuid.UUID(u) for u, tier in members.items() if wanted is None or tier in wanted]
        real = self.real.audience(creator_id, tier_ids)
        return select(User.id).where(or_(User.id.in_(ids), User.id.in_(real)))


@contextmanager
def fake_memberships(app: Flask) -> Iterator[Memberships]:
    real = app.extensions[EXTENSION]
    memberships = Memberships(real)
    app.extensions[EXTENSION] = memberships
    try:
        yield memberships
    finally:
        app.extensions[EXTENSION] = real
