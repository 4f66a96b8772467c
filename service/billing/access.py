"""What billing itself asks about access: seats held and a user's membership.

The rules are in `rules.py`. Other domains ask their questions through the
entitlements interface (`service.common.entitlements`), answered by
`service.entitlements` from these tables.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, union

from ..extensions import db
from .models import Purchase, Subscription
from .rules import ACCESS_RULE, PURCHASE_RULE


def holders(offering_id: uuid.UUID) -> int:
    """How many people currently hold an offering (what its capacity limits)."""
    members = select(Subscription.user_id).where(Subscription.offering_id == offering_id, ACCESS_RULE.sql())
    buyers = select(Purchase.user_id).where(Purchase.offering_id == offering_id, PURCHASE_RULE.sql())
    return db.session.scalar(select(func.count()).select_from(union(members, buyers).subquery())) or 0


def live_memberships(now: datetime | None = None) -> Any:
    """SELECT of the membership subscriptions (tiers, not recurring products) that grant access now."""
    return select(Subscription).where(Subscription.kind == "membership", ACCESS_RULE.sql(now))


def membership_of(*, user_id: uuid.UUID, creator_id: uuid.UUID) -> Subscription | None:
    """The user's access-granting membership with a creator, if any."""
    stmt = (
        live_memberships()
        .where(Subscription.creator_id == creator_id, Subscription.user_id == user_id)
        .order_by(Subscription.created_at.desc())
    )
    return db.session.scalars(stmt).first()
