"""`Idempotency-Key` on POSTs that move money: a replay gets the first answer back.

The same key with a different body is refused (422), like Stripe does. Only
successful answers are kept, so a request that failed may be retried with the
same key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, request
from flask_smorest import Blueprint
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..accounts.auth import current_user
from ..common.errors import Unprocessable
from ..extensions import db
from .models import IdempotentRequest

F = TypeVar("F", bound=Callable[..., Any])

HEADER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "Retrying with the same key and body returns the first response",
}


class IdempotencyKeyReused(Unprocessable):
    code = "idempotency_key_reused"
    title = "This Idempotency-Key was used with a different request"


def idempotent(func: F) -> F:
    """Decorate a route (inside @auth_required) whose effect must happen once per key."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key:
            return func(*args, **kwargs)
        if len(key) > 255 or not key.isprintable():
            raise Unprocessable("Idempotency-Key must be 1 to 255 printable characters.")
        user = current_user()
        fingerprint = hashlib.sha256(
            request.method.encode() + request.path.encode() + request.get_data()
        ).hexdigest()
        stored = db.session.scalar(
            select(IdempotentRequest).where(
                IdempotentRequest.user_id == user.id, IdempotentRequest.key == key
            )
        )
        if stored is not None:
            if stored.fingerprint != fingerprint:
                raise IdempotencyKeyReused()
            return current_app.response_class(
                stored.body, status=stored.status_code, mimetype="application/json"
            )
        response = current_app.make_response(func(*args, **kwargs))
        if response.status_code < 300:
            _remember(user.id, key, fingerprint, response.status_code, response.get_data(as_text=True))
        return response

    return Blueprint.doc(parameters=[HEADER])(wrapper)


def _remember(user_id: Any, key: str, fingerprint: str, status: int, body: str) -> None:
    db.session.add(
        IdempotentRequest(user_id=user_id, key=key, fingerprint=fingerprint, status_code=status, body=body)
    )
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent replay stored it first; both answers match
        db.session.rollback()
