"""Password hashing, signed access tokens, signed links and opaque secrets.

Only primitives live here; which sessions and keys are valid is the accounts
domain's business.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import uuid
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from . import clock

# At ~20 ms a hash, an unbounded login flood would take every core; two at a
# time per process keeps the rest of the API responsive.
_HASH_SLOTS = threading.BoundedSemaphore(2)
_hashers: dict[tuple[int, int, int], PasswordHasher] = {}
_dummy_hashes: dict[tuple[int, int, int], str] = {}


def _hasher() -> PasswordHasher:
    cfg = current_app.config
    params = (cfg["ARGON2_TIME_COST"], cfg["ARGON2_MEMORY_KIB"], cfg["ARGON2_PARALLELISM"])
    if params not in _hashers:
        _hashers[params] = PasswordHasher(
            time_cost=params[0], memory_cost=params[1], parallelism=params[2], type=Type.ID
        )
    return _hashers[params]


def hash_password(password: str) -> str:
    with _HASH_SLOTS:
        return _hasher().hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Check a password; with no stored hash, burn the same time on a dummy one."""
    hasher = _hasher()
    if stored_hash is None:
        key = (hasher.time_cost, hasher.memory_cost, hasher.parallelism)
        if key not in _dummy_hashes:
            _dummy_hashes[key] = hash_password(secrets.token_urlsafe(16))
        stored_hash = _dummy_hashes[key]
        with _HASH_SLOTS:
            _verify(hasher, stored_hash, password)
        return False
    with _HASH_SLOTS:
        return _verify(hasher, stored_hash, password)


def _verify(hasher: PasswordHasher, stored_hash: str, password: str) -> bool:
    try:
        return hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(stored_hash: str) -> bool:
    return _hasher().check_needs_rehash(stored_hash)


def new_secret(prefix: str = "") -> str:
    """A random opaque token of 256 bits."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What we store for an opaque secret: its SHA-256 (the secret has full entropy)."""
    return hashlib.sha256(secret.encode()).hexdigest()


class InvalidToken(Exception):
    pass


class ExpiredToken(InvalidToken):
    """Genuine, but older than allowed."""


class _ClockSigner(TimestampSigner):
    """Dates and ages tokens by the one clock, which tests move."""

    def get_timestamp(self) -> int:
        return int(clock.utcnow().timestamp())


def _link_serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt, signer=_ClockSigner)


def sign(payload: Any, *, salt: str) -> str:
    """A URL-safe, dated, signed token carrying JSON-able `payload` (readable, not secret).
    Each use has its own `salt`, so a token made for one is worthless to another."""
    return _link_serializer(salt).dumps(payload)


def unsign(token: str, *, salt: str, max_age: timedelta | None) -> Any:
    """The payload of a token `sign` made with this salt (of any age with max_age None).
    Raises ExpiredToken, InvalidToken."""
    try:
        age = None if max_age is None else int(max_age.total_seconds())
        return _link_serializer(salt).loads(token, max_age=age)
    except SignatureExpired as exc:
        raise ExpiredToken(str(exc)) from exc
    except BadData as exc:
        raise InvalidToken(str(exc)) from exc


ACCESS_TOKEN_TYPE = "access"  # noqa: S105 (a claim value, not a secret)
_ALGORITHM = "HS256"


def issue_access_token(*, user_id: uuid.UUID, session_id: uuid.UUID) -> tuple[str, int]:
    """Sign a short-lived access token; returns it with its lifetime in seconds."""
    cfg = current_app.config
    ttl = int(cfg["ACCESS_TOKEN_TTL"])
    now = clock.utcnow()
    claims = {
        "sub": str(user_id),
        "sid": str(session_id),
        "typ": ACCESS_TOKEN_TYPE,
        "aud": cfg["TOKEN_AUDIENCE"],
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl)).timestamp()),
    }
    return jwt.encode(claims, cfg["SECRET_KEY"], algorithm=_ALGORITHM), ttl


def read_access_token(token: str) -> tuple[uuid.UUID, uuid.UUID]:
    """Verify signature, audience, type and expiry; returns (user id, session id)."""
    cfg = current_app.config
    try:
        user_id, session_id, expires = _verified_claims(token, cfg["SECRET_KEY"], cfg["TOKEN_AUDIENCE"])
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise InvalidToken(str(exc)) from exc
    # Against our own clock, which tests control; checked on every use, never remembered.
    if expires <= clock.utcnow():
        raise InvalidToken("expired")
    return user_id, session_id


@lru_cache(maxsize=4096)
def _verified_claims(token: str, key: str, audience: str) -> tuple[uuid.UUID, uuid.UUID, datetime]:
    """What a token says, once its signature, audience and type hold. A pure function of
    the token and the key, so a process checks a token once and then remembers it: a
    client sends the same one for its whole life, and decoding it was a tenth of a light
    authenticated request. Failures raise, and are not remembered."""
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=[_ALGORITHM],
        audience=audience,
        options={"require": ["exp", "iat", "sub", "sid", "typ"], "verify_exp": False, "verify_iat": False},
    )
    if claims["typ"] != ACCESS_TOKEN_TYPE:
        raise InvalidToken("wrong token type")
    expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
    return uuid.UUID(str(claims["sub"])), uuid.UUID(str(claims["sid"])), expires
