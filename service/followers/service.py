"""Follow and unfollow, follower lists, and what a user has with a creator."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import selectinload

from ..accounts.models import User
from ..common.db import insert_or_ignore
from ..common.entitlements import current_entitlements
from ..common.errors import Unprocessable
from ..common.pagination import keyset, page
from ..creators import service as creators
from ..creators.models import Creator
from ..extensions import db
from . import signals
from .models import Follow


class CannotFollowSelf(Unprocessable):
    code = "cannot_follow_self"
    title = "You cannot follow yourself"


def is_following(*, user: User, creator: Creator) -> bool:
    stmt = select(Follow.id).where(Follow.user_id == user.id, Follow.creator_id == creator.id)
    return db.session.scalar(stmt) is not None


def follow(*, user: User, creator: Creator, referral_code: str | None = None) -> None:
    """Follow a creator; following again changes nothing. Raises CannotFollowSelf.

    A new follow is announced with the referral code it came with (growth credits it)."""
    if creators.is_owner(user, creator):
        raise CannotFollowSelf()
    if not insert_or_ignore(db.session, Follow, {"user_id": user.id, "creator_id": creator.id}):
        return  # already following, perhaps from a concurrent request
    creators.change_follower_count(creator_id=creator.id, delta=1)
    new = db.session.scalar(select(Follow).where(Follow.user_id == user.id, Follow.creator_id == creator.id))
    signals.follower_created.send(new, referral_code=referral_code)


def unfollow(*, user: User, creator: Creator) -> None:
    """Stop following; unfollowing twice changes nothing."""
    followed_at = db.session.scalar(
        delete(Follow)
        .where(Follow.user_id == user.id, Follow.creator_id == creator.id)
        .returning(Follow.created_at)
    )
    if followed_at is not None:
        creators.change_follower_count(creator_id=creator.id, delta=-1)
        signals.follower_deleted.send(creator, user_id=user.id, followed_at=followed_at)


def _follows_page(stmt: Any, *, limit: int, cursor: str | None) -> dict[str, Any]:
    """A page of (Follow, other side) rows, newest follow first."""
    order = (Follow.created_at, Follow.id)
    rows = db.session.execute(keyset(stmt, order=order, limit=limit, cursor=cursor)).all()
    return page(rows, limit=limit, key=lambda r: (r[0].created_at, r[0].id))


def list_following(*, user: User, limit: int, cursor: str | None) -> dict[str, Any]:
    """The creators the user follows, most recently followed first."""
    stmt = (
        select(Follow, Creator)
        .join(Creator, Creator.id == Follow.creator_id)
        .options(selectinload(Creator.tag_rows))
        .where(Follow.user_id == user.id, Creator.deleted_at.is_(None))
    )
    result = _follows_page(stmt, limit=limit, cursor=cursor)
    result["data"] = [c for _, c in result["data"]]
    return result


def list_followers(*, creator: Creator, limit: int, cursor: str | None) -> dict[str, Any]:
    """A creator's followers, newest first, each marked whether they are a member."""
    stmt = (
        select(Follow, User)
        .join(User, User.id == Follow.user_id)
        .where(Follow.creator_id == creator.id, User.deleted_at.is_(None))
    )
    result = _follows_page(stmt, limit=limit, cursor=cursor)
    members = member_ids(creator=creator, user_ids=[u.id for _, u in result["data"]])
    result["data"] = [
        {"user": user, "followed_at": f.created_at, "is_member": user.id in members}
        for f, user in result["data"]
    ]
    return result


def member_ids(*, creator: Creator, user_ids: list[Any]) -> set[Any]:
    """Which of these users hold an access-granting membership."""
    return current_entitlements().member_ids(creator.id, user_ids)


def access(*, user: User, creator: Creator) -> dict[str, Any]:
    """What the user has with this creator: following, membership, purchases."""
    holding = current_entitlements().access_of(creator.id, user.id)
    return {
        "following": is_following(user=user, creator=creator),
        "membership": holding.membership,
        "purchases": holding.purchases,
    }
