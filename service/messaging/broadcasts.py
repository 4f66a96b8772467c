"""Broadcasts: one creator message copied into each recipient's conversation.

The request records the broadcast and its planning job; nothing in it grows with the
audience. `plan_broadcast` copies the audience into `broadcast_recipients` and writes
one `deliver_chunk` job per CHUNK_SIZE recipients (by user id range). Each chunk
delivers its copies, counts them and marks itself done in one transaction, and a
message's unique (broadcast, conversation) pair backs that up: whatever crashes, every
recipient gets exactly one copy.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Uuid, and_, case, func, insert, literal, or_, select, update

from .. import jobs
from ..accounts.models import User
from ..catalog import service as catalog
from ..common import clock
from ..common.db import Base, insert_ignoring_conflicts
from ..common.entitlements import current_entitlements
from ..common.errors import NotFound, Unprocessable
from ..creators.models import Creator
from ..extensions import db
from ..followers.models import Follow
from .conversations import deliver, ordered_pair
from .models import Broadcast, BroadcastRecipient, Conversation, ConversationMember, Message
from .moderation import block_between
from .signals import broadcast_delivered

CHUNK_SIZE = 500


class InvalidBroadcastTiers(Unprocessable):
    code = "invalid_broadcast_tiers"
    title = "The tiers are not this creator's membership tiers"


def _check_tiers(creator: Creator, tier_ids: list[uuid.UUID]) -> None:
    unknown = catalog.unknown_tiers(creator=creator, tier_ids=tier_ids)
    if unknown:
        raise InvalidBroadcastTiers(errors={"tier_ids": [f"Not one of your tiers: {i}" for i in unknown]})


def _audience(creator: Creator, audience: str, tier_ids: list[uuid.UUID]) -> Any:
    """SELECT of the user ids the broadcast is for (members as the entitlements say)."""
    if audience == "followers":
        return select(Follow.user_id).where(Follow.creator_id == creator.id)
    return current_entitlements().audience(creator.id, tier_ids if audience == "tiers" else None)


def _copy_audience(broadcast: Broadcast, creator: Creator, tier_ids: list[uuid.UUID]) -> None:
    audience = _audience(creator, broadcast.audience, tier_ids).subquery()
    user_id = list(audience.c)[0]
    eligible = (
        select(literal(broadcast.id, Uuid()), user_id)
        .distinct()
        .join(User, User.id == user_id)
        .where(
            User.deleted_at.is_(None), user_id != creator.user_id, ~block_between(user_id, creator.user_id)
        )
    )
    db.session.execute(insert(BroadcastRecipient).from_select(["broadcast_id", "user_id"], eligible))


def create_broadcast(
    *, creator: Creator, body: str, audience: str, tier_ids: list[uuid.UUID] | None = None
) -> Broadcast:
    """Record a broadcast and the job that plans its delivery. Raises InvalidBroadcastTiers."""
    tier_ids = list(tier_ids or [])
    _check_tiers(creator, tier_ids)
    broadcast = Broadcast(
        creator_id=creator.id,
        body=body,
        audience=audience,
        tier_ids=[str(i) for i in tier_ids],
        status="queued",
        delivered=0,
        chunks=0,
        chunks_done=0,
    )
    db.session.add(broadcast)
    db.session.flush()
    jobs.enqueue(plan_broadcast, str(broadcast.id))
    return broadcast


def get_broadcast(*, creator: Creator, broadcast_id: uuid.UUID) -> Broadcast:
    """Raises NotFound for a broadcast that is not this creator's."""
    broadcast = db.session.get(Broadcast, broadcast_id)
    if broadcast is None or broadcast.creator_id != creator.id:
        raise NotFound("No such broadcast.")
    return broadcast


def plan_broadcast(broadcast_id: str) -> None:
    """Job: fix the audience as of now, less blocks, and write one job per chunk of it."""
    broadcast = db.session.get(Broadcast, uuid.UUID(broadcast_id), with_for_update=True)
    if broadcast is None or broadcast.status != "queued":
        return
    creator = db.session.get(Creator, broadcast.creator_id)
    if creator is None:
        return
    _copy_audience(broadcast, creator, [uuid.UUID(i) for i in broadcast.tier_ids])
    bounds = _chunk_bounds(broadcast.id, CHUNK_SIZE)
    broadcast.recipients = db.session.scalar(
        select(func.count()).where(BroadcastRecipient.broadcast_id == broadcast.id)
    )
    broadcast.chunks = len(bounds)
    broadcast.status = "sending" if bounds else "sent"
    broadcast.finished_at = None if bounds else clock.utcnow()
    for number, (after, upto) in enumerate(bounds):
        jobs.enqueue(
            deliver_chunk,
            broadcast_id,
            after and str(after),
            upto and str(upto),
            key=f"broadcast:{broadcast_id}:{number}",
        )


def _chunk_bounds(broadcast_id: uuid.UUID, size: int) -> list[tuple[uuid.UUID | None, uuid.UUID | None]]:
    """(after, up to) user-id ranges of at most `size` recipients, covering them all."""
    ranked = (
        select(
            BroadcastRecipient.user_id,
            func.row_number().over(order_by=BroadcastRecipient.user_id).label("rank"),
        )
        .where(BroadcastRecipient.broadcast_id == broadcast_id)
        .subquery()
    )
    total = db.session.scalar(select(func.count()).select_from(ranked)) or 0
    if total == 0:
        return []
    edges = list(db.session.scalars(select(ranked.c.user_id).where(ranked.c.rank % size == 0)))
    lows: list[uuid.UUID | None] = [None, *edges]
    highs: list[uuid.UUID | None] = [*edges, None]
    if total % size == 0:  # the last edge closes the last chunk
        lows, highs = lows[:-1], [*edges[:-1], None]
    return list(zip(lows, highs, strict=True))


def deliver_chunk(broadcast_id: str, after: str | None, upto: str | None) -> None:
    """Job: deliver one chunk's copies and count it, in the job's own transaction."""
    broadcast = db.session.get(Broadcast, uuid.UUID(broadcast_id))
    if broadcast is None:
        return
    sender_id = db.session.scalars(select(Creator.user_id).where(Creator.id == broadcast.creator_id)).one()
    recipients = _recipients(broadcast.id, sender_id, after=after, upto=upto)
    delivered = _deliver_batch(broadcast, sender_id, recipients) if recipients else 0
    last = Broadcast.chunks_done + 1 == Broadcast.chunks
    db.session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast.id)
        .values(
            delivered=Broadcast.delivered + delivered,
            chunks_done=Broadcast.chunks_done + 1,
            status=case((last, "sent"), else_=Broadcast.status),
            finished_at=case((last, clock.utcnow()), else_=Broadcast.finished_at),
        )
        .execution_options(synchronize_session=False)
    )


def _recipients(
    broadcast_id: uuid.UUID, sender_id: uuid.UUID, *, after: str | None, upto: str | None
) -> list[uuid.UUID]:
    """The chunk's recipients; anyone who blocked (or was blocked) since planning is skipped."""
    recipient = BroadcastRecipient.user_id
    stmt = select(recipient).where(
        BroadcastRecipient.broadcast_id == broadcast_id, ~block_between(recipient, sender_id)
    )
    if after is not None:
        stmt = stmt.where(recipient > uuid.UUID(after))
    if upto is not None:
        stmt = stmt.where(recipient <= uuid.UUID(upto))
    return list(db.session.scalars(stmt))


def _deliver_batch(broadcast: Broadcast, sender_id: uuid.UUID, recipient_ids: list[uuid.UUID]) -> int:
    """One copy into each recipient's conversation; returns how many were new."""
    now = clock.utcnow()
    conversation_ids = _open_conversations(sender_id, recipient_ids, at=now)
    ids = {conversation_id: uuid.uuid4() for conversation_id in conversation_ids}
    copies = [
        {
            "id": message_id,
            "conversation_id": conversation_id,
            "sender_id": sender_id,
            "kind": "broadcast",
            "body": broadcast.body,
            "broadcast_id": broadcast.id,
            "created_at": now,
        }
        for conversation_id, message_id in ids.items()
    ]
    new = set(_insert_new(Message, copies, returning=Message.id))
    if new:
        delivered = [c for c, m in ids.items() if m in new]
        deliver(delivered, list(new), at=now)
        broadcast_delivered.send(broadcast, sender_id=sender_id, conversation_ids=delivered)
    return len(new)


def _open_conversations(
    sender_id: uuid.UUID, recipient_ids: list[uuid.UUID], *, at: datetime
) -> list[uuid.UUID]:
    """The sender's conversation with each recipient, creating the missing ones in bulk."""
    pairs = [ordered_pair(sender_id, r) for r in recipient_ids]
    _insert_new(
        Conversation,
        [{"id": uuid.uuid4(), "user_a_id": a, "user_b_id": b, "created_at": at} for a, b in pairs],
    )
    rows = db.session.execute(
        select(Conversation.id, Conversation.user_a_id, Conversation.user_b_id).where(
            or_(
                and_(Conversation.user_a_id == sender_id, Conversation.user_b_id.in_(recipient_ids)),
                and_(Conversation.user_b_id == sender_id, Conversation.user_a_id.in_(recipient_ids)),
            )
        )
    ).all()
    members = [
        {"conversation_id": cid, "user_id": user_id, "last_message_at": at}
        for cid, a, b in rows
        for user_id in (a, b)
    ]
    _insert_new(ConversationMember, members)
    return [cid for cid, _, _ in rows]


def _insert_new(model: type[Base], rows: list[dict[str, Any]], returning: Any = None) -> list[Any]:
    """Bulk INSERT … ON CONFLICT DO NOTHING; with `returning`, that column of the new rows."""
    stmt = insert_ignoring_conflicts(db.session, model)
    if returning is None:
        db.session.execute(stmt, rows)
        return []
    return list(db.session.scalars(stmt.returning(returning), rows))
