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

from ..creators import service as creators
from ..creators.models import Creator
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


def grants_membership(row: Any) -> bool:
    """Whether a subscription (a loaded row, or any row with its columns) makes its user a member."""
    return bool(row.kind == "membership" and ACCESS_RULE.holds(row))


def locked_grants_membership(subscription_id: uuid.UUID) -> bool:
    """Lock the subscription's row and tell whether it makes its user a member as the database
    holds it now: the state a change is counted from, whatever copy the caller loaded."""
    row = db.session.execute(
        select(Subscription.kind, Subscription.status, Subscription.past_due_since, Subscription.disputed)
        .where(Subscription.id == subscription_id)
        .with_for_update()
    ).one()
    return grants_membership(row)


def count_membership_change(sub: Subscription, *, granted_before: bool) -> None:
    """Keep the creator's member count: ± 1 when the (locked) row started or stopped granting."""
    granted = grants_membership(sub)
    if granted != granted_before:
        creators.change_member_count(creator_id=sub.creator_id, delta=1 if granted else -1)


def recount_members(creator_id: uuid.UUID) -> tuple[int, int]:
    """Set the creator's member count to the members there are; (before, after).

    The creator's row is locked before counting, so a membership change committed meanwhile
    is seen by the count, and one still under way adds its ± 1 after our value."""
    before = db.session.scalar(select(Creator.member_count).where(Creator.id == creator_id).with_for_update())
    members = live_memberships().where(Subscription.creator_id == creator_id)
    after = db.session.scalar(members.with_only_columns(func.count())) or 0
    if before != after:
        creators.change_member_count(creator_id=creator_id, delta=after - (before or 0))
    return before or 0, after


def recount_all_members() -> list[tuple[uuid.UUID, int, int]]:
    """Job, hourly (and `flask billing recount-members`): recount every creator's members,
    one commit each, since a past-due member's grace ends without any write that would
    change the count. The creators whose count was wrong, with (before, after)."""
    fixed = []
    for creator_id in db.session.scalars(select(Creator.id).order_by(Creator.id)).all():
        before, after = recount_members(creator_id)
        db.session.commit()
        if before != after:
            fixed.append((creator_id, before, after))
    return fixed


def membership_of(*, user_id: uuid.UUID, creator_id: uuid.UUID) -> Subscription | None:
    """The user's access-granting membership with a creator, if any."""
    stmt = (
        live_memberships()
        .where(Subscription.creator_id == creator_id, Subscription.user_id == user_id)
        .order_by(Subscription.created_at.desc())
    )
    return db.session.scalars(stmt).first()
