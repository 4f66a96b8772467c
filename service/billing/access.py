"""What payments grant, answered to the domains that ask (followers, catalog, creators).

The rule lives in `subscriptions.grants_access`; the SQL here mirrors it so
lists and counts need no per-row work.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, func, or_, select, union

from ..accounts.models import User
from ..accounts.signals import user_deleted
from ..catalog.models import Offering
from ..catalog.signals import delivery_access_requested
from ..common import clock
from ..creators.models import Creator
from ..creators.signals import member_count_requested
from ..extensions import db
from ..followers.signals import access_requested, audience_requested, members_requested
from ..jobs import enqueue_after_commit
from .models import LIVE_STATUSES, Purchase, Subscription


def access_clause() -> Any:
    """SQL for grants_access(): trialing/active, or past due within the grace period; not disputed."""
    grace_start = clock.utcnow() - timedelta(days=current_app.config["PAST_DUE_GRACE_DAYS"])
    return and_(
        or_(
            Subscription.status.in_(("trialing", "active")),
            and_(Subscription.status == "past_due", Subscription.past_due_since > grace_start),
        ),
        Subscription.disputed.is_(False),
    )


def purchase_grants_access() -> Any:
    """SQL: a paid purchase, not refunded in full, with no open or lost dispute."""
    return and_(Purchase.status == "paid", Purchase.disputed.is_(False))


def holders(offering_id: uuid.UUID) -> int:
    """How many people currently hold an offering (what its capacity limits)."""
    members = select(Subscription.user_id).where(Subscription.offering_id == offering_id, access_clause())
    buyers = select(Purchase.user_id).where(Purchase.offering_id == offering_id, purchase_grants_access())
    return db.session.scalar(select(func.count()).select_from(union(members, buyers).subquery())) or 0


def live_memberships() -> Any:
    """SELECT of the membership subscriptions (tiers, not recurring products) that grant access now."""
    return (
        select(Subscription)
        .join(Offering, Offering.id == Subscription.offering_id)
        .where(Offering.kind == "membership", access_clause())
    )


def _memberships(creator_id: uuid.UUID) -> Any:
    return live_memberships().where(Subscription.creator_id == creator_id)


def membership_of(*, user_id: uuid.UUID, creator_id: uuid.UUID) -> Subscription | None:
    """The user's access-granting membership with a creator, if any."""
    stmt = (
        _memberships(creator_id)
        .where(Subscription.user_id == user_id)
        .order_by(Subscription.created_at.desc())
    )
    return db.session.scalars(stmt).first()


def purchased_offering_ids(*, user_id: uuid.UUID, creator_id: uuid.UUID | None = None) -> list[uuid.UUID]:
    stmt = select(Purchase.offering_id).where(Purchase.user_id == user_id, purchase_grants_access())
    if creator_id is not None:
        stmt = stmt.where(Purchase.creator_id == creator_id)
    return list(dict.fromkeys(db.session.scalars(stmt)))


@access_requested.connect
def _access(creator: Creator, user: User, **kwargs: object) -> dict[str, Any]:
    sub = membership_of(user_id=user.id, creator_id=creator.id)
    membership = None
    if sub is not None:
        membership = {
            "tier_offering_id": sub.offering_id,
            "status": sub.status,
            "current_period_end": sub.current_period_end,
        }
    return {
        "membership": membership,
        "purchases": purchased_offering_ids(user_id=user.id, creator_id=creator.id),
    }


@members_requested.connect
def _members(creator: Creator, user_ids: list[uuid.UUID], **kwargs: object) -> set[uuid.UUID]:
    if not user_ids:
        return set()
    stmt = (
        _memberships(creator.id)
        .where(Subscription.user_id.in_(user_ids))
        .with_only_columns(Subscription.user_id)
    )
    return set(db.session.scalars(stmt))


@audience_requested.connect
def _audience(creator: Creator, tier_ids: list[uuid.UUID] | None = None, **kwargs: object) -> Any:
    stmt = _memberships(creator.id).with_only_columns(Subscription.user_id).distinct()
    if tier_ids is not None:
        stmt = stmt.where(Subscription.offering_id.in_(tier_ids))
    return stmt


@member_count_requested.connect
def _member_count(creator: Creator, **kwargs: object) -> int:
    users = _memberships(creator.id).with_only_columns(Subscription.user_id).distinct().subquery()
    return db.session.scalar(select(func.count()).select_from(users)) or 0


@delivery_access_requested.connect
def _bought(user: User, offering_ids: list[uuid.UUID], **kwargs: object) -> set[uuid.UUID]:
    if not offering_ids:
        return set()
    stmt = select(Purchase.offering_id).where(
        Purchase.user_id == user.id,
        Purchase.offering_id.in_(offering_ids),
        purchase_grants_access(),
    )
    return set(db.session.scalars(stmt))


@user_deleted.connect
def _end_subscriptions(user: User, **kwargs: object) -> None:
    """A deleted account's subscriptions end at their period end (after this commit)."""
    from .subscriptions import cancel_all_for_user

    live = select(Subscription.id).where(
        Subscription.user_id == user.id, Subscription.status.in_(LIVE_STATUSES)
    )
    if db.session.scalars(live).first() is not None:
        enqueue_after_commit(cancel_all_for_user, str(user.id))
