"""Creator profiles: create, read, update, ownership."""

from __future__ import annotations

import uuid
from typing import cast

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute

from ..accounts.models import User
from ..accounts.signals import user_deleted
from ..common import clock
from ..common.entitlements import current_entitlements
from ..common.errors import Conflict, Forbidden, NotFound, Unprocessable
from ..extensions import db
from . import signals
from .handles import handle_problem, normalise_handle
from .models import Creator, CreatorTag


class InvalidHandle(Unprocessable):
    code = "invalid_handle"
    title = "The handle is not acceptable"


class HandleTaken(Conflict):
    code = "handle_taken"
    title = "This handle is taken"


class AlreadyCreator(Conflict):
    code = "already_creator"
    title = "You already have a creator profile"


class NotOwner(Forbidden):
    code = "not_owner"
    title = "Only the creator can do this"


class InvalidDmTiers(Unprocessable):
    code = "invalid_dm_tiers"
    title = "The DM tiers are not this creator's membership tiers"


def _clean_tags(tags: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for tag in tags:
        seen.setdefault(normalise_handle(tag), None)
    return list(seen)


def _set_tags(creator: Creator, tags: list[str]) -> None:
    cleaned = _clean_tags(tags)
    creator.tag_rows = [CreatorTag(tag=t, position=i) for i, t in enumerate(cleaned)]
    creator.tags_text = " ".join(cleaned)


def _check_dm_policy(creator: Creator, policy: str, tier_ids: list[uuid.UUID]) -> None:
    # Tiers given with a policy that does not read them would be ignored without a word.
    if policy != "tiers" and tier_ids:
        raise InvalidDmTiers(
            f"`dm_tier_ids` go with the `tiers` policy only, not `{policy}`.",
            errors={"dm_tier_ids": ["Only with dm_policy `tiers`."]},
        )
    if policy == "tiers" and not tier_ids:
        raise InvalidDmTiers(
            "Choose at least one tier for the `tiers` policy.", errors={"dm_tier_ids": ["Required."]}
        )
    tiers = current_entitlements().tier_ids_of(creator.id, tier_ids)
    unknown = {str(i) for i in tier_ids if i not in tiers}
    if unknown:
        raise InvalidDmTiers(errors={"dm_tier_ids": [f"Not one of your tiers: {i}" for i in sorted(unknown)]})


def create_creator(
    *,
    user: User,
    handle: str,
    display_name: str,
    currency: str,
    bio: str = "",
    purpose: str = "",
    tags: list[str] | None = None,
    dm_policy: str = "followers",
    dm_tier_ids: list[uuid.UUID] | None = None,
) -> Creator:
    """Turn the user into a creator. Raises InvalidHandle, HandleTaken, AlreadyCreator."""
    handle = normalise_handle(handle)
    problem = handle_problem(handle)
    if problem:
        raise InvalidHandle(problem, errors={"handle": [problem]})
    if db.session.scalar(select(Creator.id).where(Creator.user_id == user.id)) is not None:
        raise AlreadyCreator()
    if db.session.scalar(select(Creator.id).where(Creator.handle == handle)) is not None:
        raise HandleTaken()
    creator = Creator(
        user_id=user.id,
        handle=handle,
        display_name=display_name,
        bio=bio,
        purpose=purpose,
        currency=currency,
        dm_policy=dm_policy,
        dm_tier_ids=[],
    )
    _set_tags(creator, tags or [])
    _check_dm_policy(creator, dm_policy, dm_tier_ids or [])
    db.session.add(creator)
    try:
        db.session.flush()
    except IntegrityError as exc:  # lost a race for the handle or the user
        raise HandleTaken() from exc
    return creator


def find_by_handle(handle: str) -> Creator | None:
    handle = normalise_handle(handle)
    if handle_problem(handle):  # no such handle can exist; do not send odd bytes to the database
        return None
    return db.session.scalar(select(Creator).where(Creator.handle == handle, Creator.deleted_at.is_(None)))


def get_by_handle(handle: str) -> Creator:
    """Raises NotFound."""
    creator = find_by_handle(handle)
    if creator is None:
        raise NotFound("No creator with this handle.")
    return creator


def is_owner(user: User | None, creator: Creator) -> bool:
    return user is not None and creator.user_id == user.id


def get_owned(*, user: User, handle: str) -> Creator:
    """The caller's own creator profile. Raises NotFound, NotOwner."""
    own: Creator | None = user.creator  # type: ignore[attr-defined]
    if own is not None and own.deleted_at is None and own.handle == normalise_handle(handle):
        return own
    creator = get_by_handle(handle)
    if not is_owner(user, creator):
        raise NotOwner()
    return creator


def update_creator(*, creator: Creator, **changes: object) -> Creator:
    """Apply profile changes. Raises InvalidDmTiers."""
    if "tags" in changes:
        _set_tags(creator, changes.pop("tags"))  # type: ignore[arg-type]
    policy = str(changes.get("dm_policy", creator.dm_policy))
    tier_ids = changes.pop("dm_tier_ids", None)
    if tier_ids is not None or "dm_policy" in changes:
        if tier_ids is not None:
            ids = cast(list[uuid.UUID], tier_ids)
        else:  # leaving the `tiers` policy lets its tiers go
            ids = [uuid.UUID(i) for i in creator.dm_tier_ids] if policy == "tiers" else []
        _check_dm_policy(creator, policy, ids)
        creator.dm_tier_ids = [str(i) for i in ids]
    for name, value in changes.items():
        setattr(creator, name, value)
    db.session.flush()
    return creator


def change_follower_count(*, creator_id: uuid.UUID, delta: int) -> None:
    _add(creator_id, Creator.follower_count, delta)


def change_member_count(*, creator_id: uuid.UUID, delta: int) -> None:
    _add(creator_id, Creator.member_count, delta)


def _add(creator_id: uuid.UUID, counter: InstrumentedAttribute[int], delta: int) -> None:
    """Adjust a cached count in one UPDATE, so concurrent changes never lose one."""
    db.session.execute(
        update(Creator)
        .where(Creator.id == creator_id)
        .values({counter: counter + delta})
        .execution_options(synchronize_session=False)
    )
    signals.counts_changed.send(creator_id)


@user_deleted.connect
def _close_profile(user: User, **kwargs: object) -> None:
    """The profile goes with the account; the handle stays taken so links never
    point at someone else."""
    creator = db.session.scalar(select(Creator).where(Creator.user_id == user.id))
    if creator is not None:
        creator.deleted_at = clock.utcnow()
        creator.display_name = "Deleted creator"
        creator.bio = creator.purpose = ""
        _set_tags(creator, [])
        db.session.flush()


def set_payouts_enabled(*, creator: Creator, enabled: bool) -> None:
    creator.payouts_enabled = enabled
    db.session.flush()
