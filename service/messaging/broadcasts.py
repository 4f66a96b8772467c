"""Broadcasts: one creator message copied into each recipient's conversation.

The request records the broadcast and copies its audience into
`broadcast_recipients`; the job `deliver_broadcast` then pages through that copy
by primary key, one commit per batch. A message's unique (broadcast, conversation)
pair makes every batch safe to run again.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Uuid, and_, func, insert, literal, or_, select, update

from ..accounts.models import User
from ..catalog import service as catalog
from ..common import clock
from ..common.db import Base, insert_ignoring_conflicts
from ..common.entitlements import current_entitlements
from ..common.errors import Unprocessable
from ..creators.models import Creator
from ..extensions import db
from ..followers.models import Follow
from .conversations import deliver, ordered_pair
from .models import Broadcast, BroadcastRecipient, Conversation, ConversationMember, Message
from .moderation import block_between

BATCH_SIZE = 500


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
    """Record a broadcast and its audience as of now, less blocks, for the job to deliver.
    Raises InvalidBroadcastTiers."""
    tier_ids = list(tier_ids or [])
    _check_tiers(creator, tier_ids)
    broadcast = Broadcast(
        creator_id=creator.id,
        body=body,
        audience=audience,
        tier_ids=[str(i) for i in tier_ids],
        status="queued",
        delivered=0,
    )
    db.session.add(broadcast)
    db.session.flush()
    _copy_audience(broadcast, creator, tier_ids)
    broadcast.recipients = db.session.scalar(
        select(func.count()).where(BroadcastRecipient.broadcast_id == broadcast.id)
    )
    db.session.flush()
    return broadcast


def deliver_broadcast(broadcast_id: str, batch_size: int = BATCH_SIZE) -> None:
    """Job: deliver a broadcast in batches, one commit each; running it again adds nothing."""
    broadcast = db.session.get(Broadcast, uuid.UUID(str(broadcast_id)))
    if broadcast is None or broadcast.status == "done":
        return
    sender_id = db.session.scalars(select(Creator.user_id).where(Creator.id == broadcast.creator_id)).one()
    broadcast.status = "sending"
    db.session.commit()
    after = None
    while batch := _next_batch(broadcast.id, sender_id, after=after, size=batch_size):
        delivered = _deliver_batch(broadcast, sender_id, batch)
        db.session.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast.id)
            .values(delivered=Broadcast.delivered + delivered)
        )
        db.session.commit()
        after = batch[-1]
    broadcast.status, broadcast.finished_at = "done", clock.utcnow()
    db.session.commit()


def _next_batch(
    broadcast_id: uuid.UUID, sender_id: uuid.UUID, *, after: uuid.UUID | None, size: int
) -> list[uuid.UUID]:
    """The next recipients by id; anyone who blocked (or was blocked) since queuing is skipped."""
    recipient = BroadcastRecipient.user_id
    stmt = select(recipient).where(
        BroadcastRecipient.broadcast_id == broadcast_id, ~block_between(recipient, sender_id)
    )
    if after is not None:
        stmt = stmt.where(recipient > after)
    return list(db.session.scalars(stmt.order_by(recipient).limit(size)))


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
        deliver([c for c, m in ids.items() if m in new], list(new), at=now)
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
