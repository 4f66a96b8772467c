"""Direct messages and broadcasts by e-mail: at most one e-mail per conversation per
DM_EMAIL_DIGEST_MINUTES, and only about what is still unread when it is due.

The first unread message opens a period (a `pending_digests` row and one delayed job);
messages within the period add nothing. When the job runs it closes the period and, if
the reader has not caught up meanwhile, queues one e-mail about what is unread.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, select, tuple_

from .. import jobs
from ..accounts.models import User
from ..common import clock
from ..common.db import insert_rows_or_ignore
from ..creators.models import Creator
from ..extensions import db
from ..messaging.models import Broadcast, ConversationMember, Message
from .excerpts import excerpt
from .mail import SEND_CHECKS
from .models import Email, PendingDigest
from .service import choices, notify_many, queue_emails


def _period() -> timedelta:
    return timedelta(minutes=current_app.config["DM_EMAIL_DIGEST_MINUTES"])


def _open_periods(kind: str, opened: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]]) -> list[Any]:
    """Open a period for each (user, conversation, first message) that has none; returns
    the (user, conversation) pairs opened now and schedules their digest."""
    if not opened:
        return []
    due = clock.utcnow() + _period()
    rows = [
        {"user_id": u, "conversation_id": c, "kind": kind, "first_message_id": m, "due_at": due}
        for u, c, m in opened
    ]
    new = insert_rows_or_ignore(db.session, PendingDigest, rows)  # their (user, conversation)
    if new:
        jobs.enqueue(send_digests, [[str(u), str(c)] for u, c in new], delay=_period())
    return new


def message_sent(message: Message, *, recipient_id: uuid.UUID, **_: Any) -> None:
    """A direct message: in the app once per period, and a digest e-mail when it is due."""
    if not _open_periods("direct_message", [(recipient_id, message.conversation_id, message.id)]):
        return
    sender = db.session.get(User, message.sender_id)
    data = {
        "conversation_id": str(message.conversation_id),
        "message_id": str(message.id),
        "sender_name": sender.display_name if sender else "",
        "excerpt": excerpt(message.body),
    }
    notify_many([recipient_id], "direct_message", str(message.id), data, email=False)


def broadcast_delivered(
    broadcast: Broadcast, *, sender_id: uuid.UUID, conversation_ids: list[uuid.UUID], **_: Any
) -> None:
    """A chunk of a broadcast: each recipient told in the app, and a digest period opened."""
    recipients = db.session.execute(
        select(ConversationMember.user_id, ConversationMember.conversation_id, Message.id)
        .join(Message, Message.conversation_id == ConversationMember.conversation_id)
        .where(
            ConversationMember.conversation_id.in_(conversation_ids),
            ConversationMember.user_id != sender_id,
            Message.broadcast_id == broadcast.id,
        )
    ).all()
    creator = db.session.get(Creator, broadcast.creator_id)
    name = creator.display_name if creator else ""
    data = {"broadcast_id": str(broadcast.id), "sender_name": name, "creator_name": name}
    data["excerpt"] = excerpt(broadcast.body)
    notify_many([r.user_id for r in recipients], "broadcast", str(broadcast.id), data, email=False)
    # Broadcast e-mails are chosen, not default: no period for those who did not choose them.
    wanted = choices([r.user_id for r in recipients], "broadcast")
    _open_periods(
        "broadcast", [(r.user_id, r.conversation_id, r.id) for r in recipients if wanted[r.user_id].email]
    )


def _latest_from_others(pairs: list[tuple[uuid.UUID, uuid.UUID]]) -> dict[tuple[uuid.UUID, uuid.UUID], Any]:
    """For each (reader, conversation): its unread count, and the newest message someone
    else wrote there with its writer's name — one statement for the whole batch."""
    newest = (
        select(Message.id)
        .where(
            Message.conversation_id == ConversationMember.conversation_id,
            Message.sender_id != ConversationMember.user_id,
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
        .correlate(ConversationMember)
        .scalar_subquery()
    )
    rows = db.session.execute(
        select(
            ConversationMember.user_id,
            ConversationMember.conversation_id,
            ConversationMember.unread_count,
            Message.body,
            User.display_name,
        )
        .join(Message, Message.id == newest)
        .join(User, User.id == Message.sender_id)
        .where(tuple_(ConversationMember.user_id, ConversationMember.conversation_id).in_(pairs))
    ).all()
    return {(r.user_id, r.conversation_id): r for r in rows}


def send_digests(pairs: list[list[str]]) -> None:
    """Job: close each period; queue one e-mail for each conversation still unread."""
    keys = [(uuid.UUID(u), uuid.UUID(c)) for u, c in pairs]
    closed = db.session.execute(
        delete(PendingDigest)
        .where(tuple_(PendingDigest.user_id, PendingDigest.conversation_id).in_(keys))
        .returning(
            PendingDigest.user_id,
            PendingDigest.conversation_id,
            PendingDigest.kind,
            PendingDigest.first_message_id,
        )
    ).all()
    if not closed:
        return
    latest = _latest_from_others([(c.user_id, c.conversation_id) for c in closed])
    wanted = {
        kind: choices([c.user_id for c in closed if c.kind == kind], kind)
        for kind in {c.kind for c in closed}
    }
    emails = []
    for user_id, conversation_id, kind, first_message_id in closed:
        found = latest.get((user_id, conversation_id))
        if found is None or not found.unread_count or not wanted[kind][user_id].email:
            continue
        data = {
            "conversation_id": str(conversation_id),
            "sender_name": found.display_name,
            "unread": found.unread_count,
            "excerpt": excerpt(found.body),
        }
        emails.append(
            {
                "key": f"digest:{user_id}:{conversation_id}:{first_message_id}",
                "user_id": user_id,
                "kind": kind,
                "data": data,
            }
        )
    queue_emails(emails)


def _still_unread(emails: list[Email]) -> dict[uuid.UUID, str]:
    """The digests whose conversation was read since they were written."""
    pairs = [(e.user_id, uuid.UUID(e.data["conversation_id"])) for e in emails]
    unread = set(
        db.session.execute(
            select(ConversationMember.user_id, ConversationMember.conversation_id).where(
                tuple_(ConversationMember.user_id, ConversationMember.conversation_id).in_(pairs),
                ConversationMember.unread_count > 0,
            )
        ).tuples()
    )
    return {e.id: "read" for e, pair in zip(emails, pairs, strict=True) if pair not in unread}


SEND_CHECKS["direct_message"] = _still_unread
SEND_CHECKS["broadcast"] = _still_unread
