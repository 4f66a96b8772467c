"""Sign-up, login, token rotation, profile changes, e-mail verification and API keys."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import current_app
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError

from ..common import clock, security
from ..common.db import insert_or_ignore
from ..common.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
)
from ..common.pagination import paginate
from ..common.reads import STANDALONE_WRITE
from ..extensions import db
from . import signals
from .models import ApiKey, AuthSession, LoginFailures, RefreshToken, User
from .passwords import password_problems

API_KEY_PREFIX = "csk_"

# What an API key may do besides reading; a login session may do everything.
READ = "read"
SCOPES = {
    READ: "read everything you can see (every key has it)",
    "catalog": "change your shop: profile, offerings, prices, posts, referral rewards, upgrade offers",
    "messaging": "follow, write conversations and broadcasts, block and report",
    "billing": "move money: buy, change or cancel subscriptions, refund, payout onboarding",
}
# How stale last_used_at may be: one write a minute per key, not one per request.
LAST_USED_PRECISION = timedelta(minutes=1)
LOGIN_FAILURE_MEMORY = timedelta(days=1)
# Keeps verification links apart from anything else signed with SECRET_KEY.
VERIFY_SALT = "accounts.email-verification"

# What the domains after accounts add to a user's export: functions of the user returning
# {section name: JSON-able data}, listed by create_app under this key.
EXPORTERS = "accounts.exporters"
Exporter = Callable[[User], dict[str, Any]]


class EmailTaken(Conflict):
    code = "email_taken"
    title = "An account with this e-mail already exists"


class WeakPassword(Unprocessable):
    code = "weak_password"
    title = "The password is not acceptable"


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    title = "E-mail or password is wrong"


class InvalidToken(Unauthorized):
    code = "invalid_token"
    title = "The token is invalid or expired"


class RefreshTokenReused(InvalidToken):
    """A rotated refresh token came back: the whole session is revoked."""


class NotACreator(Forbidden):
    code = "not_a_creator"
    title = "Only creators can do this; create a creator profile first"


class ExpiryInThePast(Unprocessable):
    code = "invalid_expiry"
    title = "An API key's expiry must be in the future"


class LoginDelayed(TooManyRequests):
    title = "Too many wrong passwords; wait before trying again"


class WrongCurrentPassword(Forbidden):
    code = "wrong_current_password"
    title = "The current password is wrong"


class InvalidVerificationLink(DomainError):
    code = "invalid_token"
    title = "This verification link is not valid"


class VerificationLinkExpired(DomainError):
    status = 410
    code = "token_expired"
    title = "This verification link has expired; ask for a new one"


class AlreadyVerified(Conflict):
    code = "already_verified"
    title = "Your e-mail address is already verified"


@dataclass
class Tokens:
    user: User
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _check_password(password: str, *, email: str) -> None:
    problems = password_problems(password, email=email)
    if problems:
        raise WeakPassword(problems[0], errors={"password": problems})


def sign_up(
    *,
    email: str,
    password: str,
    display_name: str,
    referral_code: str | None = None,
    email_verified: bool = False,
) -> Tokens:
    """Create a user and log them in. Raises EmailTaken, WeakPassword.

    A referral code is handed on (`user_signed_up`) for attribution; unknown codes are ignored.
    The address is to be proven (`verification_requested`) unless `email_verified` says it
    already is (the demo's accounts).
    """
    email = normalise_email(email)
    _check_password(password, email=email)
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise EmailTaken()
    user = User(email=email, display_name=display_name, password_hash=security.hash_password(password))
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError as exc:  # a concurrent sign-up won the race
        raise EmailTaken() from exc
    signals.user_signed_up.send(user, referral_code=referral_code)
    if email_verified:
        mark_email_verified(user)
    else:
        _request_verification(user, email)
    return _start_session(user)


def log_in(*, email: str, password: str, client_address: str) -> Tokens:
    """Exchange e-mail and password for tokens. Raises InvalidCredentials (after recording
    the failure: the caller commits it), LoginDelayed.

    An unknown e-mail costs the same hash verification as a wrong password, so
    neither the answer nor its timing tells which one it was. Wrong passwords slow down
    only the address that sends them (see `_record_failure`): someone guessing at a
    victim's e-mail cannot lock the victim out.
    """
    email = normalise_email(email)
    throttle_key = security.digest(f"{email}\n{client_address}")
    failures = db.session.get(LoginFailures, throttle_key)
    now = clock.utcnow()
    if failures is not None and failures.blocked_until is not None and failures.blocked_until > now:
        wait = math.ceil((failures.blocked_until - now).total_seconds())
        raise LoginDelayed(f"Too many wrong passwords from here; try again in {wait} s.", retry_after=wait)
    user = db.session.scalar(select(User).where(User.email == email, User.deleted_at.is_(None)))
    if not security.verify_password(user.password_hash if user else None, password) or user is None:
        _record_failure(throttle_key)
        raise InvalidCredentials()
    if failures is not None:
        db.session.delete(failures)
    if security.password_needs_rehash(user.password_hash or ""):
        user.password_hash = security.hash_password(password)
    return _start_session(user)


def _record_failure(throttle_key: str) -> None:
    """Count a wrong password for one e-mail from one address. The first LOGIN_FREE_FAILURES
    cost nothing; from then on each makes that address wait twice as long as the last
    (1 s, 2 s, 4 s … up to LOGIN_BACKOFF_MAX). A day without failures forgets them."""
    cfg = current_app.config
    now = clock.utcnow()
    forgotten = now - LOGIN_FAILURE_MEMORY
    # The day's stale pairs go with the next failure: the table holds one day of them at most.
    db.session.execute(delete(LoginFailures).where(LoginFailures.last_failed_at < forgotten))
    insert_or_ignore(db.session, LoginFailures, {"key": throttle_key, "failures": 0, "last_failed_at": now})
    # One statement, so concurrent failures all count.
    count = db.session.execute(
        update(LoginFailures)
        .where(LoginFailures.key == throttle_key)
        .values(failures=LoginFailures.failures + 1, last_failed_at=now)
        .returning(LoginFailures.failures)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    over = count - cfg["LOGIN_FREE_FAILURES"]
    if over >= 0:
        delay = min(2 ** min(over, 30), cfg["LOGIN_BACKOFF_MAX"])
        db.session.execute(
            update(LoginFailures)
            .where(LoginFailures.key == throttle_key)
            .values(blocked_until=now + timedelta(seconds=delay))
            .execution_options(synchronize_session=False)
        )


def _start_session(user: User) -> Tokens:
    now = clock.utcnow()
    session = AuthSession(
        user=user,
        refreshed_at=now,
        expires_at=now + timedelta(seconds=current_app.config["REFRESH_TOKEN_TTL"]),
    )
    db.session.add(session)
    db.session.flush()
    return _issue(session)


def _issue(session: AuthSession) -> Tokens:
    refresh_token = security.new_secret()
    db.session.add(RefreshToken(session_id=session.id, token_hash=security.digest(refresh_token)))
    db.session.flush()
    access_token, ttl = security.issue_access_token(user_id=session.user_id, session_id=session.id)
    return Tokens(user=session.user, access_token=access_token, refresh_token=refresh_token, expires_in=ttl)


def _live(session: AuthSession) -> bool:
    return (
        session.revoked_at is None and session.expires_at > clock.utcnow() and session.user.deleted_at is None
    )


def _refreshable(session: AuthSession) -> bool:
    idle_limit = session.refreshed_at + timedelta(seconds=current_app.config["REFRESH_IDLE_TTL"])
    return _live(session) and idle_limit > clock.utcnow()


def refresh(*, refresh_token: str) -> Tokens:
    """Rotate a refresh token. Raises InvalidToken, or RefreshTokenReused after
    revoking the session (the caller must commit that revocation)."""
    row = db.session.execute(
        select(RefreshToken, AuthSession)
        .join(AuthSession, RefreshToken.session_id == AuthSession.id)
        .where(RefreshToken.token_hash == security.digest(refresh_token))
    ).first()
    if row is None:
        raise InvalidToken()
    token, session = row
    if not _refreshable(session):
        raise InvalidToken()
    # Claim the token with a conditional UPDATE so two concurrent refreshes
    # cannot both succeed: the loser is treated as a replay.
    now = clock.utcnow()
    claimed = db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token.id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        session.revoked_at = now
        db.session.flush()
        raise RefreshTokenReused("This refresh token was already used; the session is revoked.")
    session.refreshed_at = now
    return _issue(session)


def log_out(*, user: User, refresh_token: str) -> None:
    """End the session the refresh token belongs to, if it is the caller's."""
    session = db.session.scalar(
        select(AuthSession)
        .join(RefreshToken, RefreshToken.session_id == AuthSession.id)
        .where(RefreshToken.token_hash == security.digest(refresh_token), AuthSession.user_id == user.id)
    )
    if session is not None and session.revoked_at is None:
        session.revoked_at = clock.utcnow()
        db.session.flush()


# Every authenticated request runs this: built once, it skips the lookup `Session.get`
# builds each time (the user and their creator come joined, as the relationships say).
_SESSION_BY_ID = select(AuthSession).where(AuthSession.id == bindparam("id"))


def authenticate_access_token(token: str) -> AuthSession:
    """The live session behind an access token. Raises InvalidToken."""
    try:
        user_id, session_id = security.read_access_token(token)
    except security.InvalidToken as exc:
        raise InvalidToken() from exc
    session = db.session.execute(_SESSION_BY_ID, {"id": session_id}).scalar_one_or_none()
    if session is None or session.user_id != user_id or not _live(session):
        raise InvalidToken()
    return session


def authenticate_api_key(key: str) -> ApiKey:
    """The active API key for a presented secret. Raises InvalidToken."""
    api_key = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == security.digest(key)))
    if api_key is None or api_key.revoked_at is not None or api_key.user.deleted_at is not None:
        raise InvalidToken()
    if api_key.expires_at is not None and api_key.expires_at <= clock.utcnow():
        raise InvalidToken("This API key has expired.")
    return api_key


def note_api_key_use(api_key: ApiKey) -> bool:
    """Move last_used_at to now when it is older than LAST_USED_PRECISION; True when it wrote
    (the caller commits). Concurrent requests of one key write it once."""
    now = clock.utcnow()
    if api_key.last_used_at is not None and api_key.last_used_at > now - LAST_USED_PRECISION:
        return False
    stale = (ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at <= now - LAST_USED_PRECISION)
    db.session.execute(
        update(ApiKey)
        .where(ApiKey.id == api_key.id, stale)
        .values(last_used_at=now)
        # Bookkeeping of one statement: allowed in a read-only request too.
        .execution_options(synchronize_session=False, **{STANDALONE_WRITE: True})
    )
    return True


def update_user(
    *,
    user: User,
    current_session_id: uuid.UUID | None,
    display_name: str | None = None,
    password: str | None = None,
    email: str | None = None,
    current_password: str | None = None,
) -> User:
    """Change display name, password and/or e-mail. A new password or e-mail needs the current
    password. A new password ends every other session and every API key; a new e-mail waits in
    `pending_email` until its link is opened (see `_change_email`). Raises WrongCurrentPassword,
    WeakPassword, EmailTaken."""
    if (password is not None or email is not None) and (
        current_password is None or not security.verify_password(user.password_hash, current_password)
    ):
        raise WrongCurrentPassword()
    if password is not None:
        _check_password(password, email=user.email)
        user.password_hash = security.hash_password(password)
        revoke_sessions(user=user, keep=current_session_id)
        # A key made under the old password may be what leaked it.
        _revoke_api_keys(user=user)
    if email is not None:
        _change_email(user, normalise_email(email))
    if display_name is not None:
        user.display_name = display_name
    db.session.flush()
    return user


def _change_email(user: User, email: str) -> None:
    """Ask to move the account to `email`. Until its link is opened the current address stays
    the login and the one mail goes to; asking for the current address drops a pending change."""
    if email == user.email:
        user.pending_email = None
        return
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise EmailTaken()
    user.pending_email = email
    _request_verification(user, email)


def verification_link(token: str) -> str:
    """The address of the page that proves an e-mail, as it goes into the mail."""
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return f"{base}/v1/auth/verify?{urlencode({'token': token})}"


def _request_verification(user: User, email: str) -> None:
    # The address is in the token: once the account moves on, a link for another one is void.
    token = security.sign({"user_id": str(user.id), "email": email}, salt=VERIFY_SALT)
    signals.verification_requested.send(user, email=email, token=token)


def mark_email_verified(user: User) -> None:
    user.email_verified_at = clock.utcnow()
    db.session.flush()
    signals.email_verified.send(user, email=user.email)


def verify_email(*, token: str) -> User:
    """Prove the address a verification link was made for: the account's own (now verified),
    or its pending one (which becomes its e-mail). A link opened again changes nothing.
    Raises VerificationLinkExpired, InvalidVerificationLink (forged, for a deleted account or an
    address the account no longer has or asks for), EmailTaken (another account took the
    pending address meanwhile; nothing changes)."""
    max_age = timedelta(hours=current_app.config["EMAIL_VERIFY_MAX_AGE_HOURS"])
    try:
        payload = security.unsign(token, salt=VERIFY_SALT, max_age=max_age)
    except security.ExpiredToken as exc:
        raise VerificationLinkExpired() from exc
    except security.InvalidToken as exc:
        raise InvalidVerificationLink() from exc
    # Locked, so two clicks at once verify (and announce) once.
    user = db.session.get(User, uuid.UUID(payload["user_id"]), with_for_update={"of": User})
    if user is None or user.deleted_at is not None:
        raise InvalidVerificationLink()
    email = payload["email"]
    if email == user.email:
        if user.email_verified_at is None:
            mark_email_verified(user)
        return user
    if email != user.pending_email:
        raise InvalidVerificationLink("This link is for an address the account no longer asks for.")
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise EmailTaken("Another account has taken this address since it was asked for.")
    user.email, user.pending_email = email, None
    try:
        mark_email_verified(user)
    except IntegrityError as exc:  # taken by a concurrent sign-up or change
        raise EmailTaken("Another account has taken this address since it was asked for.") from exc
    return user


def resend_verification(*, user: User) -> str:
    """Send the link again for the pending address, else for the unverified current one;
    returns the address. Raises AlreadyVerified."""
    if user.pending_email is not None:
        email = user.pending_email
    elif user.email_verified_at is None:
        email = user.email
    else:
        raise AlreadyVerified()
    _request_verification(user, email)
    return email


def revoke_sessions(*, user: User, keep: uuid.UUID | None = None) -> None:
    stmt = update(AuthSession).where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))
    if keep is not None:
        stmt = stmt.where(AuthSession.id != keep)
    db.session.execute(stmt.values(revoked_at=clock.utcnow()).execution_options(synchronize_session=False))


def _revoke_api_keys(*, user: User) -> None:
    db.session.execute(
        update(ApiKey)
        .where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=clock.utcnow())
        .execution_options(synchronize_session=False)
    )


def delete_user(*, user: User) -> None:
    """Anonymise the account and end its sessions and keys; money records stay.

    Other domains (subscriptions, messages) react through `user_deleted`.
    """
    now = clock.utcnow()
    revoke_sessions(user=user)
    _revoke_api_keys(user=user)
    user.email = f"deleted-{user.id}@deleted.invalid"
    user.pending_email = user.email_verified_at = None
    user.display_name = "Deleted user"
    user.password_hash = None
    user.deleted_at = now
    db.session.flush()
    signals.user_deleted.send(user)


def export_user(*, user: User) -> dict[str, Any]:
    """Everything held about the user, as JSON-able data."""
    sessions = db.session.scalars(
        select(AuthSession).where(AuthSession.user_id == user.id).order_by(AuthSession.created_at)
    )
    keys = db.session.scalars(select(ApiKey).where(ApiKey.user_id == user.id).order_by(ApiKey.created_at))
    data: dict[str, Any] = {
        "user": {
            "id": str(user.id),
            "email": user.email,
            "email_verified": user.email_verified,
            "email_verified_at": user.email_verified_at.isoformat() if user.email_verified_at else None,
            "pending_email": user.pending_email,
            "display_name": user.display_name,
            "created_at": user.created_at.isoformat(),
        },
        "sessions": [
            {
                "id": str(s.id),
                "created_at": s.created_at.isoformat(),
                "refreshed_at": s.refreshed_at.isoformat(),
                "expires_at": s.expires_at.isoformat(),
                "revoked_at": s.revoked_at.isoformat() if s.revoked_at else None,
            }
            for s in sessions
        ],
        "api_keys": [
            {
                "id": str(k.id),
                "name": k.name,
                "prefix": k.prefix,
                "scopes": k.scopes,
                "created_at": k.created_at.isoformat(),
                "expires_at": k.expires_at.isoformat() if k.expires_at else None,
                "last_used_at": k.last_used_at.isoformat() if k.last_used_at else None,
                "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
            }
            for k in keys
        ],
    }
    exporters: tuple[Exporter, ...] = current_app.extensions[EXPORTERS]
    for exporter in exporters:
        data.update(exporter(user))
    return data


def create_api_key(
    *,
    user: User,
    name: str,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
    expires_in_days: int | None = None,
) -> tuple[ApiKey, str]:
    """Make a key with `read` plus the scopes asked for, expiring when told (at a time, or
    after some days) or never. The secret is returned once and only its hash is kept.
    Raises NotACreator, ExpiryInThePast."""
    # `creator` is the back-reference the creators domain adds to User.
    if getattr(user, "creator", None) is None:
        raise NotACreator()
    now = clock.utcnow()
    if expires_in_days is not None:
        expires_at = now + timedelta(days=expires_in_days)
    if expires_at is not None and expires_at <= now:
        raise ExpiryInThePast()
    granted = {READ, *(scopes or ())}
    secret = security.new_secret(API_KEY_PREFIX)
    api_key = ApiKey(
        user=user,
        name=name,
        prefix=secret[:12],
        key_hash=security.digest(secret),
        scope_text=" ".join(scope for scope in SCOPES if scope in granted),
        expires_at=expires_at,
    )
    db.session.add(api_key)
    db.session.flush()
    return api_key, secret


def list_api_keys(*, user: User, limit: int, cursor: str | None) -> dict[str, Any]:
    stmt = select(ApiKey).where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
    return paginate(stmt, order=(ApiKey.created_at, ApiKey.id), limit=limit, cursor=cursor)


def revoke_api_key(*, user: User, key_id: uuid.UUID) -> None:
    """Raises NotFound for a key that is not the user's (or already revoked)."""
    api_key = db.session.get(ApiKey, key_id)
    if api_key is None or api_key.user_id != user.id or api_key.revoked_at is not None:
        raise NotFound("No such API key.")
    api_key.revoked_at = clock.utcnow()
    db.session.flush()
