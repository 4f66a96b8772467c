"""The signed token of a one-click unsubscribe link: it names the user and what to stop,
needs no login, and cannot be forged or pointed at someone else."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from flask import current_app

from ..common.security import InvalidToken, sign, unsign
from .kinds import KINDS

SALT = "notifications.unsubscribe"
# On a message no one can turn off (a receipt, a verification), the link stops everything
# that can be stopped.
EVERYTHING = "all"


def unsubscribe_token(user_id: uuid.UUID, kind: str) -> str:
    target = kind if kind in KINDS and not KINDS[kind].transactional else EVERYTHING
    return sign({"u": str(user_id), "k": target}, salt=SALT)


def unsubscribe_url(user_id: uuid.UUID, kind: str) -> str:
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return f"{base}/v1/notifications/unsubscribe?{urlencode({'token': unsubscribe_token(user_id, kind)})}"


def read_unsubscribe_token(token: str) -> tuple[uuid.UUID, list[str]] | None:
    """The user and kinds a token stops, or None for a token we did not sign."""
    try:
        # No age limit: an unsubscribe link must work for as long as the e-mail is kept.
        payload = unsign(token, salt=SALT, max_age=None)
        user_id = uuid.UUID(payload["u"])
        target = payload["k"]
    except (InvalidToken, KeyError, TypeError, ValueError):
        return None
    if target == EVERYTHING:
        return user_id, list(KINDS)
    return (user_id, [target]) if target in KINDS else None
