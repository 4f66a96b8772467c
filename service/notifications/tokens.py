"""The signed token of a one-click unsubscribe link: it names the user and what to stop,
needs no login, and cannot be forged or pointed at someone else."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from .kinds import KINDS

SALT = "notifications.unsubscribe"
# On a message no one can turn off (a receipt, a verification), the link stops everything
# that can be stopped.
EVERYTHING = "all"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def unsubscribe_token(user_id: uuid.UUID, kind: str) -> str:
    target = kind if kind in KINDS and not KINDS[kind].transactional else EVERYTHING
    return _serializer().dumps({"u": str(user_id), "k": target})


def unsubscribe_url(user_id: uuid.UUID, kind: str) -> str:
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return f"{base}/v1/notifications/unsubscribe?{urlencode({'token': unsubscribe_token(user_id, kind)})}"


def read_unsubscribe_token(token: str) -> tuple[uuid.UUID, list[str]] | None:
    """The user and kinds a token stops, or None for a token we did not sign."""
    try:
        payload = _serializer().loads(token)
        user_id = uuid.UUID(payload["u"])
        target = payload["k"]
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    if target == EVERYTHING:
        return user_id, list(KINDS)
    return (user_id, [target]) if target in KINDS else None
