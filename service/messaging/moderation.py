"""Blocks and reports: what keeps direct messages safe."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, delete, exists, or_, select

from ..accounts.models import User
from ..common.db import insert_or_ignore
from ..common.errors import Forbidden, NotFound, Unprocessable
from ..extensions import db
from .models import Block, ConversationMember, Message, Report


class Blocked(Forbidden):
    code = "blocked"
    title = "One of you has blocked the other"


class CannotBlockSelf(Unprocessable):
    code = "cannot_block_self"
    title = "You cannot block yourself"


class CannotReportSelf(Unprocessable):
    code = "cannot_report_self"
    title = "You cannot report yourself"


def get_live_user(user_id: uuid.UUID) -> User:
    """Raises NotFound for unknown and deleted accounts alike."""
    user = db.session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise NotFound("No user with this id.")
    return user


def block_between(user_id: Any, other_id: Any) -> Any:
    """A condition true when either user blocked the other (one unique-index probe each way)."""
    return exists().where(
        or_(
            and_(Block.blocker_id == user_id, Block.blocked_id == other_id),
            and_(Block.blocker_id == other_id, Block.blocked_id == user_id),
        )
    )


def check_not_blocked(user_id: uuid.UUID, other_id: uuid.UUID) -> None:
    """Raises Blocked when either user blocked the other."""
    if db.session.scalar(select(block_between(user_id, other_id))):
        raise Blocked()


def block(*, user: User, user_id: uuid.UUID) -> None:
    """Block a user; blocking again changes nothing. Raises NotFound, CannotBlockSelf."""
    target = get_live_user(user_id)
    if target.id == user.id:
        raise CannotBlockSelf()
    insert_or_ignore(db.session, Block, {"blocker_id": user.id, "blocked_id": target.id})


def unblock(*, user: User, user_id: uuid.UUID) -> None:
    """Lift a block; lifting it twice changes nothing. Raises NotFound."""
    target = get_live_user(user_id)
    db.session.execute(delete(Block).where(Block.blocker_id == user.id, Block.blocked_id == target.id))


def _visible_message(user: User, message_id: uuid.UUID) -> Message:
    message = db.session.scalar(
        select(Message)
        .join(ConversationMember, ConversationMember.conversation_id == Message.conversation_id)
        .where(Message.id == message_id, ConversationMember.user_id == user.id)
    )
    if message is None:
        raise NotFound("No message with this id.")
    return message


def create_report(
    *, user: User, reason: str, message_id: uuid.UUID | None = None, user_id: uuid.UUID | None = None
) -> Report:
    """Queue a report of a message the user can see, or of a user. Raises NotFound, CannotReportSelf."""
    report = Report(reporter_id=user.id, reason=reason, status="open")
    if message_id is not None:
        report.message_id = _visible_message(user, message_id).id
    else:
        target = get_live_user(user_id)  # type: ignore[arg-type]
        if target.id == user.id:
            raise CannotReportSelf()
        report.user_id = target.id
    db.session.add(report)
    db.session.flush()
    return report
