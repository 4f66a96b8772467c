"""What happens to messages when their author leaves, and what the author can take away."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from ..accounts.models import User
from ..accounts.signals import user_deleted
from ..extensions import db
from .models import Message

REMOVED = "This message was removed when its author deleted their account."


@user_deleted.connect
def _anonymise_messages(user: User, **kwargs: object) -> None:
    """The other party keeps the conversation; the departed author's words go."""
    db.session.execute(
        update(Message)
        .where(Message.sender_id == user.id)
        .values(body=REMOVED)
        .execution_options(synchronize_session=False)
    )


def export_messages(user: User) -> dict[str, Any]:
    """The user's part of their export (listed by create_app): the messages they sent."""
    sent = select(Message).where(Message.sender_id == user.id).order_by(Message.created_at)
    return {
        "messages_sent": [
            {"conversation_id": str(m.conversation_id), "body": m.body, "sent_at": m.created_at.isoformat()}
            for m in db.session.scalars(sent)
        ]
    }
