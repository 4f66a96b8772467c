"""Bearer authentication for routes: `@auth_required()` and `current_user()`.

A bearer token is either an access token (a signed JWT naming a live session) or
an API key (`csk_…`). Both resolve to a user with one indexed lookup.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, request
from flask_smorest import Blueprint

from ..common.errors import Forbidden
from ..extensions import db
from . import service
from .models import User

F = TypeVar("F", bound=Callable[..., Any])

# Where each operation documents what an API key needs to call it.
SCOPE_EXTENSION = "x-api-key-scope"
LOGIN_ONLY = "none"
BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": (
        "An access token (from a password login: may call every operation), or a creator's API"
        f" key (`csk_…`), which may call an operation only with the scope its `{SCOPE_EXTENSION}`"
        f" names (`{LOGIN_ONLY}`: never). Scopes: "
        + "; ".join(f"`{name}`: {meaning}" for name, meaning in service.SCOPES.items())
        + "."
    ),
}


class ApiKeyNotAllowed(Forbidden):
    code = "api_key_not_allowed"
    title = "API keys cannot do this; log in with a password"


class InsufficientScope(Forbidden):
    code = "insufficient_scope"
    title = "This API key lacks the scope this needs"


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _authenticate(token: str) -> None:
    if token.startswith(service.API_KEY_PREFIX):
        api_key = service.authenticate_api_key(token)
        g.current_user, g.session_id, g.api_key_id = api_key.user, None, api_key.id
        g.api_key_scopes = frozenset(api_key.scopes)
        if service.note_api_key_use(api_key):
            db.session.commit()  # nothing else is in this transaction yet
    else:
        session = service.authenticate_access_token(token)
        g.current_user, g.session_id, g.api_key_id = session.user, session.id, None


def auth_required(scope: str = service.READ, *, api_key: bool = True) -> Callable[[F], F]:
    """Require a valid bearer token. An API key also needs `scope` (writes name theirs);
    with api_key=False, only a logged-in session will do."""
    if scope not in service.SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def decorator(func: F) -> F:
        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = _bearer()
            if token is None:
                raise service.InvalidToken("Send an Authorization: Bearer token.")
            _authenticate(token)
            if g.api_key_id is not None:
                if not api_key:
                    raise ApiKeyNotAllowed()
                if scope not in g.api_key_scopes:
                    raise InsufficientScope(
                        f"This API key needs the {scope!r} scope for this; make a key that has it.",
                        required_scope=scope,
                    )
            return func(*args, **kwargs)

        responses: dict[int, str] = {401: "UNAUTHORIZED"}
        if not api_key or scope != service.READ:
            responses[403] = "FORBIDDEN"
        documented = Blueprint.doc(
            security=[{"bearerAuth": []}],
            responses=responses,
            **{SCOPE_EXTENSION: scope if api_key else LOGIN_ONLY},
        )(wrapper)
        return documented

    return decorator


def auth_optional() -> Callable[[F], F]:
    """Identify the caller when a token is sent; a bad token is still a 401."""

    def decorator(func: F) -> F:
        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            g.current_user, g.session_id, g.api_key_id = None, None, None
            token = _bearer()
            if token is not None:
                _authenticate(token)
            return func(*args, **kwargs)

        documented = Blueprint.doc(
            security=[{}, {"bearerAuth": []}],
            responses={401: "UNAUTHORIZED"},
            **{SCOPE_EXTENSION: service.READ},
        )(wrapper)
        return documented

    return decorator


def current_user() -> User:
    user: User = g.current_user
    return user


def optional_user() -> User | None:
    return g.get("current_user")


def current_session_id() -> uuid.UUID | None:
    return g.get("session_id")


def per_user_key() -> str:
    """Rate-limit key for authenticated routes: the caller, whatever address or token they use.

    Use it on limits placed inside @auth_required, which runs first.
    """
    return f"user:{current_user().id}"
