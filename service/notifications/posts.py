"""A new post, told to everyone who may read it, in chunks like broadcasts.

Publishing writes one planning job. The plan fixes the audience as the post's visibility
says (followers and members, members, or members of some tiers; never someone blocked
either way) and writes one job per CHUNK_SIZE readers. A chunk's notifications are
unique per (reader, post), so a chunk that runs twice, or a reader in two chunks, is told
once. Whether the e-mail may still say what the post is about is asked again when it is
sent: access can end in between.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select, union

from .. import jobs
from ..accounts.models import User
from ..common.entitlements import current_entitlements
from ..content.models import Post
from ..creators.models import Creator
from ..extensions import db
from ..followers.models import Follow
from ..messaging.moderation import block_between
from .excerpts import excerpt
from .mail import SEND_CHECKS
from .models import Email
from .service import notify_many

CHUNK_SIZE = 500


def post_published(post: Post, **_: Any) -> None:
    jobs.enqueue(plan_post, str(post.id))


def _readers(post: Post, creator: Creator) -> Select[tuple[uuid.UUID]]:
    """Who may read the post, by the visibility rule (`content.may_read`), less the
    creator, deleted accounts and blocks."""
    members = current_entitlements().audience(
        creator.id, [uuid.UUID(t) for t in post.tier_ids] if post.visibility == "tiers" else None
    )
    if post.visibility in ("public", "followers"):
        audience = union(select(Follow.user_id).where(Follow.creator_id == creator.id), members).subquery()
    else:
        audience = members.subquery()
    user_id = list(audience.c)[0]
    return (
        select(User.id)
        .join(audience, User.id == user_id)
        .where(
            User.deleted_at.is_(None), User.id != creator.user_id, ~block_between(User.id, creator.user_id)
        )
        .order_by(User.id)
    )


def plan_post(post_id: str) -> None:
    """Job: fix the readers and write one job per chunk of them."""
    post = db.session.get(Post, uuid.UUID(post_id))
    if post is None or post.creator.deleted_at is not None:
        return
    creator = post.creator
    readers = [str(u) for u in db.session.scalars(_readers(post, creator))]
    for number, start in enumerate(range(0, len(readers), CHUNK_SIZE)):
        chunk = readers[start : start + CHUNK_SIZE]
        jobs.enqueue(notify_readers, post_id, chunk, key=f"post:{post_id}:{number}")


def notify_readers(post_id: str, user_ids: list[str]) -> None:
    """Job: tell one chunk of readers, in the app and by e-mail (for those who want it)."""
    post = db.session.get(Post, uuid.UUID(post_id))
    if post is None or post.creator.deleted_at is not None:
        return
    creator = post.creator
    data = {
        "post_id": post_id,
        "creator_id": str(creator.id),
        "creator_handle": creator.handle,
        "creator_name": creator.display_name,
        "title": excerpt(post.title, 120),
        "excerpt": excerpt(post.body),
        "visibility": post.visibility,
    }
    notify_many([uuid.UUID(u) for u in user_ids], "new_post", post_id, data)


def _may_still_read(emails: list[Email]) -> dict[uuid.UUID, str]:
    """The e-mails whose reader can no longer read the post (access ended, a block, the
    post gone): one query per post, for the whole batch."""
    refused: dict[uuid.UUID, str] = {}
    by_post: dict[str, list[Email]] = {}
    for email in emails:
        by_post.setdefault(email.data["post_id"], []).append(email)
    for post_id, group in by_post.items():
        post = db.session.get(Post, uuid.UUID(post_id))
        if post is None or post.creator.deleted_at is not None:
            refused.update({e.id: "post_deleted" for e in group})
            continue
        asked = [e.user_id for e in group]
        readers = set(db.session.scalars(_readers(post, post.creator).where(User.id.in_(asked))))
        refused.update({e.id: "no_access" for e in group if e.user_id not in readers})
    return refused


SEND_CHECKS["new_post"] = _may_still_read
