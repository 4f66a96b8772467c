"""Finding creators by words and tags.

On PostgreSQL, words go through full-text search: the stored weighted tsvector
`creators.search_vector` (handle and name first, then tags, purpose, bio) matched
with `websearch_to_tsquery`, served by its GIN index and ranked by relevance, then
followers. SQLite gets a case-insensitive substring match on the same column (there
the fields lower-cased) ranked by followers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, Select, and_, func, literal, select, tuple_
from sqlalchemy.orm import selectinload

from ..common.pagination import decode_cursor, encode_cursor
from ..extensions import db
from .handles import normalise_handle
from .models import Creator, CreatorTag


def _text_filter(stmt: Select[Any], q: str) -> tuple[Select[Any], Any]:
    """Add the word match; returns the statement and its relevance expression."""
    if db.engine.dialect.name == "postgresql":
        query = func.websearch_to_tsquery("english", q)
        rank = func.ts_rank(Creator.search_vector, query, type_=Float)
        return stmt.where(Creator.search_vector.op("@@")(query)), rank
    words = [w for w in q.lower().split() if w][:10]
    matches = [Creator.search_vector.contains(w, autoescape=True) for w in words]
    return stmt.where(and_(*matches)), literal(0.0, type_=Float)


def search_statement(*, q: str | None, tag: str | None, limit: int, cursor: str | None) -> Select[Any]:
    """SELECT creator, rank … for one page (one extra row tells whether there is more)."""
    stmt = select(Creator).where(Creator.deleted_at.is_(None)).options(selectinload(Creator.tag_rows))
    if tag:
        stmt = stmt.join(CreatorTag, CreatorTag.creator_id == Creator.id).where(
            CreatorTag.tag == normalise_handle(tag)
        )
    rank: Any = literal(0.0, type_=Float)
    if q:
        stmt, rank = _text_filter(stmt, q)
    order = (rank, Creator.follower_count, Creator.id)
    if cursor:
        stmt = stmt.where(tuple_(*order) < tuple_(*decode_cursor(cursor, order)))
    return stmt.add_columns(rank.label("rank")).order_by(*(o.desc() for o in order)).limit(limit + 1)


def search_creators(*, q: str | None, tag: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
    """One page of creators matching words and/or a tag, best first."""
    rows = db.session.execute(search_statement(q=q, tag=tag, limit=limit, cursor=cursor)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more:
        last, last_rank = rows[-1]
        next_cursor = encode_cursor((last_rank, last.follower_count, last.id))
    return {"data": [creator for creator, _ in rows], "next_cursor": next_cursor}
