"""Posts: publishing, and who may read them, decided in bulk for whole pages."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, func, literal, select, true, union_all
from sqlalchemy.orm import aliased, contains_eager

from ..accounts.models import User
from ..catalog import service as catalog
from ..common.entitlements import Entitlements, current_entitlements
from ..common.errors import Unprocessable
from ..common.pagination import keyset, newest_first, newest_first_params, page
from ..creators import service as creators
from ..creators.models import Creator
from ..extensions import db
from ..followers.models import Follow
from .models import Post
from .signals import post_published


class InvalidPostTiers(Unprocessable):
    code = "invalid_post_tiers"
    title = "The tiers are not this creator's membership tiers"


@dataclass(frozen=True)
class Standing:
    """What a viewer has with one creator, as far as reading posts goes."""

    owner: bool = False
    following: bool = False
    # Offering ids (as strings) of the viewer's access-granting memberships.
    tiers: frozenset[str] = frozenset()


def may_read(post: Post, standing: Standing) -> bool:
    """The visibility rule: may a viewer with this standing read this post?"""
    if standing.owner or post.visibility == "public":
        return True
    if post.visibility == "followers":
        return standing.following or bool(standing.tiers)
    if post.visibility == "members":
        return bool(standing.tiers)
    return not standing.tiers.isdisjoint(post.tier_ids)


def _followed(viewer: User, creator_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    return set(db.session.scalars(_FOLLOWED, {"viewer": viewer.id, "creators": creator_ids}))


# Built once: every page of posts a logged-in viewer reads asks it.
_FOLLOWED = select(Follow.creator_id).where(
    Follow.user_id == bindparam("viewer", type_=Follow.user_id.type),
    Follow.creator_id.in_(bindparam("creators", expanding=True, type_=Follow.creator_id.type)),
)


def _tiers(viewer: User, creator_ids: list[uuid.UUID]) -> dict[uuid.UUID, frozenset[str]]:
    held = current_entitlements().tiers_held(viewer.id, creator_ids)
    return {creator_id: frozenset(str(t) for t in tiers) for creator_id, tiers in held.items()}


def standings(
    *, viewer: User | None, of: Iterable[Creator], followed: set[uuid.UUID] | None = None
) -> dict[uuid.UUID, Standing]:
    """The viewer's standing with each creator: two queries however many creators, one
    when the caller read `followed` (of these creators, those the viewer follows) already."""
    by_id = {c.id: c for c in of}
    if viewer is None:
        return {creator_id: Standing() for creator_id in by_id}
    owned = {cid for cid, c in by_id.items() if creators.is_owner(viewer, c)}
    others = [cid for cid in by_id if cid not in owned]
    if not others:
        return {cid: Standing(owner=True) for cid in owned}
    if followed is None:
        followed = _followed(viewer, others)
    tiers = _tiers(viewer, others)
    return {
        cid: Standing(owner=cid in owned, following=cid in followed, tiers=tiers.get(cid, frozenset()))
        for cid in by_id
    }


@dataclass(frozen=True)
class PostView:
    """A post and whether one viewer may read it: what `PostSchema` dumps. A view made
    without asking is a teaser."""

    post: Post
    readable: bool = False


def seen_by(
    posts: Sequence[Post], *, viewer: User | None, followed: set[uuid.UUID] | None = None
) -> list[PostView]:
    """Each post as this viewer may see it: readable, or a teaser."""
    creators_of = {p.creator_id: p.creator for p in posts}.values()
    by_creator = standings(viewer=viewer, of=creators_of, followed=followed)
    return [PostView(post, readable=may_read(post, by_creator[post.creator_id])) for post in posts]


def _check_tiers(creator: Creator, tier_ids: list[uuid.UUID]) -> None:
    unknown = catalog.unknown_tiers(creator=creator, tier_ids=tier_ids)
    if unknown:
        raise InvalidPostTiers(errors={"tier_ids": [f"Not one of your tiers: {i}" for i in unknown]})


def create_post(
    *, creator: Creator, title: str, body: str, visibility: str, tier_ids: list[uuid.UUID] | None = None
) -> Post:
    """Publish a post now. Raises InvalidPostTiers."""
    tier_ids = list(dict.fromkeys(tier_ids or []))
    _check_tiers(creator, tier_ids)
    post = Post(
        creator=creator,
        title=title,
        body=body,
        visibility=visibility,
        tier_ids=[str(i) for i in tier_ids],
    )
    db.session.add(post)
    db.session.flush()
    post_published.send(post)
    return post


def _with_creator(stmt: Select[Any], post: Any) -> Select[Any]:
    """Join each post's creator into its row (live creators only). `post` is what `stmt`
    selects posts from: the table, or an alias of a subquery."""
    # The creator comes in the same row; its tags are not shown, so they are not fetched.
    creator = contains_eager(post.creator)
    return (
        stmt.join(Creator, Creator.id == post.creator_id)
        .options(creator, creator.lazyload(Creator.tag_rows))
        .where(Creator.deleted_at.is_(None))
    )


def _page(
    rows: Sequence[Post], *, viewer: User | None, limit: int, followed: set[uuid.UUID] | None = None
) -> dict[str, Any]:
    """A page of posts, newest first, each unlocked or left a teaser for the viewer."""
    result = page(rows, limit=limit, key=lambda p: (p.created_at, p.id))
    result["data"] = seen_by(result["data"], viewer=viewer, followed=followed)
    return result


def list_posts(*, creator: Creator, viewer: User | None, limit: int, cursor: str | None) -> dict[str, Any]:
    """A creator's posts, newest first; those the viewer may not read come as teasers."""
    stmt = _with_creator(select(Post).where(Post.creator_id == creator.id), Post)
    rows = db.session.scalars(keyset(stmt, order=(Post.created_at, Post.id), limit=limit, cursor=cursor))
    return _page(rows.all(), viewer=viewer, limit=limit)


def feed(*, user: User, limit: int, cursor: str | None) -> dict[str, Any]:
    """Posts of the creators the user follows or is a member of, newest first, teasers included."""
    params = {
        "viewer": user.id,
        **newest_first_params((Post.created_at, Post.id), limit=limit, cursor=cursor),
    }
    postgresql = db.engine.dialect.name == "postgresql"
    # An app's entitlements are one object for its lifetime: a key by identity.
    answers = current_entitlements()
    stmt = _feed_statement(answers, postgresql, after=cursor is not None)  # type: ignore[arg-type]
    rows = db.session.execute(stmt, params).all()
    # Whom the viewer follows comes with each post, from the snapshot that chose the posts.
    followed = {post.creator_id for post, follows in rows if follows}
    return _page([post for post, _ in rows], viewer=user, limit=limit, followed=followed)


@cache
def _feed_statement(entitlements: Entitlements, lateral: bool, *, after: bool) -> Select[Any]:
    """The feed's query, built once for each shape: the viewer, the row count and the
    cursor are bound parameters (`viewer`, `rows`, `after_at` and `after_id`), since
    building it cost about as much as running it. Each row is a post and whether the
    viewer follows its creator (1 or 0)."""
    viewer: Any = bindparam("viewer")
    followed = select(Follow.creator_id, literal(1).label("follows")).where(Follow.user_id == viewer)
    joined = entitlements.creators_joined(viewer).add_columns(literal(0).label("follows"))
    both = union_all(followed, joined).subquery("both")
    sources = (
        select(both.c.creator_id, func.max(both.c.follows).label("follows"))
        .group_by(both.c.creator_id)
        .subquery("sources")
    )
    if not lateral:  # SQLite has no LATERAL
        stmt = select(Post, sources.c.follows).join(sources, sources.c.creator_id == Post.creator_id)
        return newest_first(_with_creator(stmt, Post), Post.created_at, Post.id, after=after)
    # Each creator's newest posts past the cursor, from one short range scan of
    # ix_posts_creator_created per creator; the page is the newest of those. This
    # reads at most (limit + 1) posts per creator, however many posts they have.
    each = select(Post).where(Post.creator_id == sources.c.creator_id)
    newest = newest_first(each, Post.created_at, Post.id, after=after).lateral("newest")
    post = aliased(Post, newest)
    stmt = _with_creator(select(post, sources.c.follows).select_from(sources).join(newest, true()), post)
    return newest_first(stmt, post.created_at, post.id, after=after)
