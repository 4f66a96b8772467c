"""The Entitlements protocol answered in SQL, a fixed number of statements per question."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection
from typing import Any

from sqlalchemy import Select, bindparam, select

from ..billing.access import live_memberships, membership_of
from ..billing.models import Purchase, Subscription
from ..billing.rules import PURCHASE_RULE
from ..catalog import service as catalog
from ..common.entitlements import Bought, Holding, Membership
from ..extensions import db

# Built once: every logged-in view of a creator with products asks it.
_DELIVERED = select(Purchase.offering_id).where(
    Purchase.user_id == bindparam("user"),
    Purchase.offering_id.in_(bindparam("offerings", expanding=True)),
    PURCHASE_RULE.sql(),
)


def _members(creator_id: uuid.UUID) -> Select[Any]:
    return live_memberships().where(Subscription.creator_id == creator_id)


class BillingEntitlements:
    """Members and buyers as billing's rows and rules say."""

    def member_ids(self, creator_id: uuid.UUID, user_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        if not user_ids:
            return set()
        stmt = (
            _members(creator_id)
            .where(Subscription.user_id.in_(list(user_ids)))
            .with_only_columns(Subscription.user_id)
        )
        return set(db.session.scalars(stmt))

    def audience(
        self, creator_id: uuid.UUID, tier_ids: Collection[uuid.UUID] | None = None
    ) -> Select[tuple[uuid.UUID]]:
        stmt = _members(creator_id).with_only_columns(Subscription.user_id).distinct()
        if tier_ids is not None:
            stmt = stmt.where(Subscription.offering_id.in_(list(tier_ids)))
        return stmt

    def access_of(self, creator_id: uuid.UUID, user_id: uuid.UUID) -> Holding:
        sub = membership_of(user_id=user_id, creator_id=creator_id)
        membership = None
        if sub is not None:
            membership = Membership(
                subscription_id=sub.id,
                tier_offering_id=sub.offering_id,
                price_id=sub.price_id,
                status=sub.status,
                current_period_end=sub.current_period_end,
            )
        kept = (
            select(Purchase.id, Purchase.offering_id, Purchase.price_id, Purchase.paid_at)
            .where(Purchase.user_id == user_id, Purchase.creator_id == creator_id, PURCHASE_RULE.sql())
            .order_by(Purchase.paid_at, Purchase.id)
        )
        purchases = [Bought(*row) for row in db.session.execute(kept)]
        return Holding(membership=membership, purchases=purchases)

    def tiers_held(
        self, user_id: uuid.UUID, creator_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, frozenset[uuid.UUID]]:
        if not creator_ids:
            return {}
        found: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
        for creator_id, tier_id in db.session.execute(
            _TIERS_HELD, {"user": user_id, "creators": list(creator_ids)}
        ):
            found[creator_id].add(tier_id)
        return {creator_id: frozenset(tiers) for creator_id, tiers in found.items()}

    def creators_joined(self, user_id: uuid.UUID) -> Select[tuple[uuid.UUID]]:
        return self._joined(user_id).with_only_columns(Subscription.creator_id)

    def delivered_offering_ids(
        self, user_id: uuid.UUID, offering_ids: Collection[uuid.UUID]
    ) -> set[uuid.UUID]:
        if not offering_ids:
            return set()
        return set(db.session.scalars(_DELIVERED, {"user": user_id, "offerings": list(offering_ids)}))

    def tier_ids_of(self, creator_id: uuid.UUID, ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        return catalog.tier_ids_of(creator_id=creator_id, ids=ids)

    @staticmethod
    def _joined(user_id: Any) -> Select[Any]:
        """(creator id, tier id) of the user's memberships."""
        return (
            live_memberships()
            .with_only_columns(Subscription.creator_id, Subscription.offering_id)
            .where(Subscription.user_id == user_id)
        )


# Built once, like _DELIVERED: every page of posts a logged-in viewer reads asks it.
_TIERS_HELD = BillingEntitlements._joined(bindparam("user", type_=Subscription.user_id.type)).where(
    Subscription.creator_id.in_(bindparam("creators", expanding=True, type_=Subscription.creator_id.type))
)
