"""`Idempotency-Key` on POSTs that move money: the effect happens once per key.

A request claims its key before doing any work, with an insert only one request
can win, committed at once; a concurrent request with the same key finds the
claim and gets 409 (retry shortly), a later one gets the first answer back. The
same key with a different body is refused (422), like Stripe does. Only
successful answers are kept: a request that failed gives its key back, so it
may be retried with the same key. Keys expire after 24 hours; `purge_expired`
deletes them.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

from flask import Response, current_app, request
from flask_smorest import Blueprint
from sqlalchemy import ColumnElement, delete, select, update

from ..accounts.auth import current_user
from ..common import clock
from ..common.db import insert_or_ignore
from ..common.errors import Conflict, Unprocessable
from ..extensions import db
from .models import IdempotentRequest

F = TypeVar("F", bound=Callable[..., Any])

TTL = timedelta(hours=24)

HEADER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": (
        "Retrying with the same key and body returns the first successful response (for 24 hours); "
        "409 `idempotency_key_in_use` while the first request is still running"
    ),
}


class IdempotencyKeyReused(Unprocessable):
    code = "idempotency_key_reused"
    title = "This Idempotency-Key was used with a different request"


class IdempotencyKeyInUse(Conflict):
    code = "idempotency_key_in_use"
    title = "A request with this Idempotency-Key is still being processed"
    headers = {"Retry-After": "1"}


def idempotent(func: F) -> F:
    """Decorate a route (inside @auth_required) whose effect must happen once per key."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key:
            return func(*args, **kwargs)
        if len(key) > 255 or not key.isprintable():
            raise Unprocessable("Idempotency-Key must be 1 to 255 printable characters.")
        user_id = current_user().id
        fingerprint = hashlib.sha256(
            request.method.encode() + request.path.encode() + request.get_data()
        ).hexdigest()
        holder = _claim(user_id=user_id, key=key, fingerprint=fingerprint)
        if holder is not None:
            return _replay(holder, fingerprint)
        try:
            response = current_app.make_response(func(*args, **kwargs))
        except BaseException:  # also a worker's timeout, so the key is not held for a day
            _release(user_id=user_id, key=key)
            raise
        if response.status_code < 300:
            _store(user_id=user_id, key=key, response=response)
        else:
            _release(user_id=user_id, key=key)
        return response

    return Blueprint.doc(parameters=[HEADER], responses={409: "CONFLICT"})(wrapper)


def purge_expired(*, now: datetime | None = None) -> int:
    """Delete the keys older than the TTL (answered or not); how many went."""
    result = db.session.execute(delete(IdempotentRequest).where(_expired(now or clock.utcnow())))
    return int(result.rowcount)  # type: ignore[attr-defined]


def _expired(now: datetime) -> ColumnElement[bool]:
    return IdempotentRequest.created_at <= now - TTL


def _this_key(user_id: uuid.UUID, key: str) -> ColumnElement[bool]:
    return (IdempotentRequest.user_id == user_id) & (IdempotentRequest.key == key)


def _claim(*, user_id: uuid.UUID, key: str, fingerprint: str) -> IdempotentRequest | None:
    """Claim the key for this request, committed; None when claimed, else the row holding it."""
    now = clock.utcnow()
    # An expired row counts as absent. It goes in the claim's own transaction, so a
    # concurrent request sees the old row or the new claim, never a free key.
    db.session.execute(delete(IdempotentRequest).where(_this_key(user_id, key), _expired(now)))
    claimed = insert_or_ignore(
        db.session,
        IdempotentRequest,
        {
            "user_id": user_id,
            "key": key,
            "fingerprint": fingerprint,
            "state": "in_progress",
            "created_at": now,
        },
    )
    db.session.commit()
    if claimed:
        return None
    holder = db.session.scalar(select(IdempotentRequest).where(_this_key(user_id, key)))
    if holder is None:  # its request failed and gave the key back since our insert
        raise IdempotencyKeyInUse()
    return holder


def _replay(holder: IdempotentRequest, fingerprint: str) -> Response:
    if holder.fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    if holder.state != "done":
        raise IdempotencyKeyInUse()
    return current_app.response_class(holder.body, status=holder.status_code, mimetype="application/json")


def _store(*, user_id: uuid.UUID, key: str, response: Response) -> None:
    db.session.execute(
        update(IdempotentRequest)
        .where(_this_key(user_id, key))
        .values(state="done", status_code=response.status_code, body=response.get_data(as_text=True))
    )
    db.session.commit()


def _release(*, user_id: uuid.UUID, key: str) -> None:
    # Whatever the failed request left in the session must not be committed with the release.
    db.session.rollback()
    db.session.execute(delete(IdempotentRequest).where(_this_key(user_id, key)))
    db.session.commit()
