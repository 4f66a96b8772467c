"""Conversations and their messages: who may start one, sending, reading, unread counts."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.orm import aliased

from ..accounts.models import User
from ..billing.signals import purchase_completed
from ..common import clock
from ..common.db import insert_or_ignore
from ..common.errors import Forbidden, NotFound, Unprocessable
from ..common.pagination import newest_first, newest_first_params, page
from ..creators import service as creators
from ..creators.models import Creator
from ..extensions import db
from ..followers import service as followers
from . import signals
from .models import HAS_UNREAD, Conversation, ConversationMember, Message
from .moderation import Blocked, block_between, check_not_blocked, get_live_user


class CannotMessageSelf(Unprocessable):
    code = "cannot_message_self"
    title = "You cannot start a conversation with yourself"


class DmFollowersOnly(Forbidden):
    code = "dm_followers_only"
    title = "This creator takes messages from followers only"


class DmMembersOnly(Forbidden):
    code = "dm_members_only"
    title = "This creator takes messages from members only"


class DmTierRequired(Forbidden):
    code = "dm_tier_required"
    title = "This creator takes messages from members of certain tiers only"


class DmClosed(Forbidden):
    code = "dm_closed"
    title = "This creator does not take direct messages"


class DmAudienceOnly(Forbidden):
    code = "dm_audience_only"
    title = "Creators can start conversations only with their followers and members"


class DmCreatorsOnly(Forbidden):
    code = "dm_creators_only"
    title = "Conversations are between a creator and their audience"


def ordered_pair(one: uuid.UUID, other: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    """The pair as stored: the smaller id first (the same order as the database's)."""
    return (one, other) if one < other else (other, one)


def _find_creator(user_id: uuid.UUID) -> Creator | None:
    return db.session.scalar(select(Creator).where(Creator.user_id == user_id, Creator.deleted_at.is_(None)))


def _find_conversation(one: uuid.UUID, other: uuid.UUID) -> Conversation | None:
    a, b = ordered_pair(one, other)
    return db.session.scalar(
        select(Conversation).where(Conversation.user_a_id == a, Conversation.user_b_id == b)
    )


def open_conversation(*, user_id: uuid.UUID, other_id: uuid.UUID) -> tuple[Conversation, bool]:
    """The pair's conversation, created when missing (no policy checks); True when new.

    Atomic against a concurrent start: the unique pair lets only one insert win.
    """
    a, b = ordered_pair(user_id, other_id)
    now = clock.utcnow()
    created = insert_or_ignore(db.session, Conversation, {"user_a_id": a, "user_b_id": b, "created_at": now})
    conversation = _find_conversation(a, b)
    assert conversation is not None  # inserted, or already there
    if created:
        for member in (a, b):
            db.session.add(
                ConversationMember(conversation_id=conversation.id, user_id=member, last_message_at=now)
            )
        db.session.flush()
    return conversation, created


def _is_audience(user: User, creator: Creator) -> bool:
    access = followers.access(user=user, creator=creator)
    return bool(access["following"] or access["membership"])


def _check_dm_policy(user: User, creator: Creator) -> None:
    """Whether the creator's `dm_policy` lets this user start a conversation."""
    policy = creator.dm_policy
    if policy == "everyone":
        return
    if policy == "nobody":
        raise DmClosed()
    access = followers.access(user=user, creator=creator)
    membership = access["membership"]
    if policy == "followers" and not (access["following"] or membership):
        raise DmFollowersOnly()
    if policy == "members" and not membership:
        raise DmMembersOnly()
    if policy == "tiers" and (not membership or str(membership.tier_offering_id) not in creator.dm_tier_ids):
        raise DmTierRequired()


def _check_may_start(user: User, target: User, target_creator: Creator | None) -> None:
    own_creator = _find_creator(user.id)
    if own_creator is not None and _is_audience(target, own_creator):
        return
    if target_creator is not None:
        _check_dm_policy(user, target_creator)
    elif own_creator is not None:
        raise DmAudienceOnly()
    else:
        raise DmCreatorsOnly()


def _resolve_target(creator_handle: str | None, user_id: uuid.UUID | None) -> tuple[User, Creator | None]:
    if creator_handle is not None:
        creator = creators.get_by_handle(creator_handle)
        return get_live_user(creator.user_id), creator
    target = get_live_user(user_id)  # type: ignore[arg-type]
    return target, _find_creator(target.id)


def start_conversation(
    *, user: User, creator_handle: str | None = None, user_id: uuid.UUID | None = None
) -> tuple[dict[str, Any], bool]:
    """Start a conversation, or return the existing one; True when new.

    Raises NotFound, CannotMessageSelf, Blocked, and for a new conversation one of
    the Dm* errors. An existing conversation is returned whatever the policy is now.
    """
    target, target_creator = _resolve_target(creator_handle, user_id)
    if target.id == user.id:
        raise CannotMessageSelf()
    check_not_blocked(user.id, target.id)
    if _find_conversation(user.id, target.id) is None:
        _check_may_start(user, target, target_creator)
    conversation, created = open_conversation(user_id=user.id, other_id=target.id)
    return get_conversation_summary(user=user, conversation_id=conversation.id), created


@cache
def _summaries_query() -> Any:
    """One row per conversation of the `viewer` (a bound parameter): own side, the other
    user, their handle and the last message, all in one statement. The unread count is on
    the own side. Plain columns but the last message: a page of summaries builds no other
    ORM objects. Built once: constructing it cost more than running it."""
    viewer: Any = bindparam("viewer")
    other = aliased(ConversationMember)
    last = aliased(Message, name="last_message")
    last_id = (
        select(Message.id)
        .where(Message.conversation_id == ConversationMember.conversation_id)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(
            ConversationMember.conversation_id,
            ConversationMember.last_message_at,
            ConversationMember.unread_count,
            User.id.label("other_id"),
            User.display_name,
            Creator.handle,
            last,
        )
        .join(
            other, and_(other.conversation_id == ConversationMember.conversation_id, other.user_id != viewer)
        )
        .join(User, User.id == other.user_id)
        .outerjoin(Creator, and_(Creator.user_id == User.id, Creator.deleted_at.is_(None)))
        # Portable (SQLite has no LATERAL): per row of the page, the newest message's id
        # from ix_messages_conversation_created, then that message by its primary key.
        .outerjoin(last, last.id == last_id)
        .where(ConversationMember.user_id == viewer)
    )


def _summaries(rows: list[Any]) -> list[dict[str, Any]]:
    """Summary rows as response items."""
    return [
        {
            "id": row.conversation_id,
            "other": {"id": row.other_id, "display_name": row.display_name, "handle": row.handle},
            "last_message": row.last_message,
            "last_message_at": row.last_message_at,
            "unread_count": row.unread_count,
        }
        for row in rows
    ]


def list_conversations(*, user: User, limit: int, cursor: str | None) -> dict[str, Any]:
    """The user's conversations, latest activity first, in one query whatever the page size."""
    order = (ConversationMember.last_message_at, ConversationMember.conversation_id)
    params = {"viewer": user.id, **newest_first_params(order, limit=limit, cursor=cursor)}
    result = page(
        db.session.execute(_conversations_page(after=cursor is not None), params).all(),
        limit=limit,
        key=lambda r: (r.last_message_at, r.conversation_id),
    )
    result["data"] = _summaries(result["data"])
    return result


@cache
def _conversations_page(*, after: bool) -> Select[Any]:
    latest = (ConversationMember.last_message_at, ConversationMember.conversation_id)
    return newest_first(_summaries_query(), *latest, after=after)


# What anyone not in a conversation is told of it, as if it did not exist.
NO_CONVERSATION = "No conversation with this id."


def get_conversation_summary(*, user: User, conversation_id: uuid.UUID) -> dict[str, Any]:
    """One conversation as the list shows it. Raises NotFound."""
    stmt = _summaries_query().where(ConversationMember.conversation_id == conversation_id)
    rows = db.session.execute(stmt, {"viewer": user.id}).all()
    if not rows:
        raise NotFound(NO_CONVERSATION)
    return _summaries(list(rows))[0]


def get_membership(*, user: User, conversation_id: uuid.UUID) -> ConversationMember:
    """The user's side of a conversation; anyone else gets NotFound, as if it did not exist."""
    member = db.session.get(ConversationMember, (conversation_id, user.id))
    if member is None:
        raise NotFound(NO_CONVERSATION)
    return member


def _lock_sides(*, user: User, conversation_id: uuid.UUID) -> tuple[ConversationMember, uuid.UUID]:
    """Lock both sides of a conversation the user is in, in `_lock`'s order, and read them
    in the same statement: the user's side and who is on the other. Raises NotFound (as
    get_membership does, having locked nothing) or Blocked, when either blocked the other."""
    rows = db.session.execute(_sides(), {"conversation": conversation_id, "user": user.id}).all()
    mine = [side for side, _ in rows if side.user_id == user.id]
    if not mine:
        raise NotFound(NO_CONVERSATION)
    if any(blocked for _, blocked in rows):
        raise Blocked()
    (other,) = (side.user_id for side, _ in rows if side.user_id != user.id)
    return mine[0], other


@cache
def _sides() -> Select[Any]:
    conversation = bindparam("conversation", type_=ConversationMember.conversation_id.type)
    user = bindparam("user", type_=ConversationMember.user_id.type)
    mine = aliased(ConversationMember)
    member = select(mine.user_id).where(mine.conversation_id == conversation, mine.user_id == user).exists()
    return (
        # Each side: has it blocked the user, or the user it? (Never true of the user's own.)
        select(ConversationMember, block_between(ConversationMember.user_id, user))
        .where(ConversationMember.conversation_id == conversation, member)
        .order_by(ConversationMember.conversation_id, ConversationMember.user_id)
        .with_for_update(of=ConversationMember)
    )


def _lock(conversation_ids: list[uuid.UUID]) -> None:
    """Lock both sides of the conversations, always in the same order, so that concurrent
    sends, reads and broadcasts over the same rows queue instead of deadlocking."""
    db.session.execute(_lock_statement(), {"conversations": conversation_ids})


# The statements of sending and reading are built once, their values bound: building one
# cost more than running it, and a message takes several. Updates go to the table, not
# the entity: no ORM bookkeeping of what the session holds.
_MEMBERS = cast(Table, ConversationMember.__table__)
_INSERT_MESSAGE = insert(cast(Table, Message.__table__))


@cache
def _lock_statement() -> Select[Any]:
    conversations = bindparam("conversations", expanding=True, type_=ConversationMember.conversation_id.type)
    return (
        select(ConversationMember.user_id)
        .where(ConversationMember.conversation_id.in_(conversations))
        .order_by(ConversationMember.conversation_id, ConversationMember.user_id)
        .with_for_update()
    )


def _after(marker: Any, message: Any) -> ColumnElement[bool]:
    """The message comes after the member's read marker, and the member did not write it."""
    return and_(
        tuple_(message.created_at, message.id) > tuple_(marker.last_read_at, marker.last_read_message_id),
        or_(message.sender_id.is_(None), message.sender_id != marker.user_id),
    )


def deliver(conversation_ids: list[uuid.UUID], message_ids: list[uuid.UUID], *, at: datetime) -> None:
    """New messages (already inserted) reach their conversations: each moves to the top of
    both participants' lists, and counts as unread for whoever did not write it.

    Exact under concurrency: each side's counter moves by one atomic UPDATE, under the lock
    `mark_read` takes before it recounts."""
    _lock(conversation_ids)
    _deliver_locked(conversation_ids, message_ids, at=at)


def _deliver_locked(conversation_ids: list[uuid.UUID], message_ids: list[uuid.UUID], *, at: datetime) -> None:
    """`deliver`, for a caller that holds the conversations' lock already."""
    db.session.execute(
        _deliver_statement(), {"conversations": conversation_ids, "messages": message_ids, "at": at}
    )


@cache
def _deliver_statement() -> Any:
    member = _MEMBERS.c
    conversations = bindparam("conversations", expanding=True, type_=member.conversation_id.type)
    at = bindparam("at", type_=member.last_message_at.type)
    new = (
        select(func.count(Message.id))
        .where(
            Message.id.in_(bindparam("messages", expanding=True, type_=Message.id.type)),
            Message.conversation_id == member.conversation_id,
            _after(member, Message),
        )
        .scalar_subquery()
    )
    return (
        update(_MEMBERS)
        .where(member.conversation_id.in_(conversations))
        .values(
            last_message_at=case((member.last_message_at < at, at), else_=member.last_message_at),
            unread_count=member.unread_count + new,
        )
    )


def _advance_marker(member: ConversationMember, message: Message) -> None:
    """Move the read marker forward to the message, never back, and recount what is left
    unread after it: a range scan of only the messages after the new marker.

    The caller holds the lock on the member's row (`_lock`), so this statement's snapshot
    sees every delivery that already counted; a delivery still to come counts itself."""
    params = {"conversation": member.conversation_id, "user": member.user_id}
    db.session.execute(_advance_statement(), {**params, "at": message.created_at, "message": message.id})


@cache
def _advance_statement() -> Any:
    member = _MEMBERS.c
    conversation = bindparam("conversation", type_=member.conversation_id.type)
    user = bindparam("user", type_=member.user_id.type)
    at = bindparam("at", type_=member.last_read_at.type)
    message = bindparam("message", type_=member.last_read_message_id.type)
    position = tuple_(at, message)
    left = (
        select(func.count(Message.id))
        .where(
            Message.conversation_id == conversation,
            tuple_(Message.created_at, Message.id) > position,
            or_(Message.sender_id.is_(None), Message.sender_id != user),
        )
        .scalar_subquery()
    )
    return (
        update(_MEMBERS)
        .where(
            member.conversation_id == conversation,
            member.user_id == user,
            tuple_(member.last_read_at, member.last_read_message_id) < position,
        )
        .values(last_read_at=at, last_read_message_id=message, unread_count=left)
    )


def send_message(*, user: User, conversation_id: uuid.UUID, body: str) -> Message:
    """Post a text message; the sender has read everything up to it. Raises NotFound, Blocked.

    The message is returned as written, outside the session: the database adds nothing to
    it, so answering it reads nothing back after the commit."""
    member, recipient_id = _lock_sides(user=user, conversation_id=conversation_id)
    message = Message(
        id=uuid.uuid4(),
        conversation_id=conversation_id,
        sender_id=user.id,
        kind="text",
        body=body,
        created_at=clock.utcnow(),
    )
    # Written as a plain row: the session need not track a message it never changes.
    db.session.execute(_INSERT_MESSAGE, {c.key: getattr(message, c.key) for c in _INSERT_MESSAGE.table.c})
    _deliver_locked([conversation_id], [message.id], at=message.created_at)
    _advance_marker(member, message)
    signals.message_sent.send(message, recipient_id=recipient_id)
    return message


def list_messages(
    *, user: User, conversation_id: uuid.UUID, limit: int, cursor: str | None
) -> dict[str, Any]:
    """Messages newest first. Raises NotFound."""
    order = (Message.created_at, Message.id)
    params = {"conversation": conversation_id, "viewer": user.id}
    params.update(newest_first_params(order, limit=limit, cursor=cursor))
    rows = db.session.scalars(_messages_page(after=cursor is not None), params).all()
    if not rows:  # a member's empty page, or a conversation that is not the user's
        get_membership(user=user, conversation_id=conversation_id)
    return page(rows, limit=limit, key=lambda m: (m.created_at, m.id))


@cache
def _messages_page(*, after: bool) -> Select[Any]:
    """A page of a conversation's messages, empty unless the viewer is in it. The member
    check rides in the page's own statement (one round trip, not two), and the statement is
    built once for each shape (with or without a cursor)."""
    conversation = bindparam("conversation", type_=Message.conversation_id.type)
    viewer = bindparam("viewer", type_=ConversationMember.user_id.type)
    member = (
        select(ConversationMember.user_id)
        .where(ConversationMember.conversation_id == conversation, ConversationMember.user_id == viewer)
        .exists()
    )
    stmt = select(Message).where(Message.conversation_id == conversation, member)
    return newest_first(stmt, Message.created_at, Message.id, after=after)


def mark_read(*, user: User, conversation_id: uuid.UUID, message_id: uuid.UUID) -> None:
    """Everything up to this message counts as read. Raises NotFound."""
    member = get_membership(user=user, conversation_id=conversation_id)
    message = db.session.scalar(
        select(Message).where(Message.id == message_id, Message.conversation_id == conversation_id)
    )
    if message is None:
        raise NotFound("No message with this id in the conversation.")
    _lock([conversation_id])
    _advance_marker(member, message)


# The partial index's own condition, as text: a bound 0 would not let the planner use it.
_UNREAD_TOTAL = select(func.sum(ConversationMember.unread_count)).where(
    ConversationMember.user_id == bindparam("user", type_=ConversationMember.user_id.type),
    text(HAS_UNREAD),
)


def count_unread(*, user: User) -> int:
    """Unread messages over all the user's conversations, for a badge."""
    return db.session.scalar(_UNREAD_TOTAL, {"user": user.id}) or 0


@purchase_completed.connect
def _open_service_conversation(purchase: Any, **kwargs: object) -> None:
    """A bought service is delivered in conversation: open it with a note naming the
    purchase. A retried webhook finds the note there (unique purchase id)."""
    if purchase.offering.kind != "service":
        return
    creator_user_id = db.session.scalars(
        select(Creator.user_id).where(Creator.id == purchase.creator_id)
    ).one()
    conversation, _ = open_conversation(user_id=purchase.user_id, other_id=creator_user_id)
    now = clock.utcnow()
    note = {
        "id": uuid.uuid4(),
        "conversation_id": conversation.id,
        "sender_id": None,
        "kind": "system",
        "body": f"Purchase completed: {purchase.offering.title}",
        "purchase_id": purchase.id,
        "created_at": now,
    }
    if insert_or_ignore(db.session, Message, note):
        deliver([conversation.id], [note["id"]], at=now)
