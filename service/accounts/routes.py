"""Accounts endpoints: /v1/auth/* and /v1/me*."""

from __future__ import annotations

import uuid

from flask import current_app, jsonify, request
from markupsafe import Markup

from ..common.errors import DomainError
from ..common.http import Blueprint
from ..common.pagination import CursorArgs, page_schema
from ..common.reads import reads_only
from ..extensions import db, limiter
from . import service
from .auth import auth_required, current_session_id, current_user, per_user_key
from .schemas import (
    ApiKeyCreatedSchema,
    ApiKeyCreateSchema,
    ApiKeySchema,
    EmailVerifiedSchema,
    ExportSchema,
    LoginSchema,
    RefreshSchema,
    SignupSchema,
    TokensSchema,
    UserSchema,
    UserUpdateSchema,
    VerificationSentSchema,
    VerifyArgsSchema,
)

blp = Blueprint("accounts", __name__, url_prefix="/v1", description="Sign-up, login, tokens and your account")

RATE_LIMITED = {429: "TOO_MANY_REQUESTS"}


def _verification_mail_limit(**kwargs):
    """Links to prove an address, per user, whichever route sends them (only sent ones count):
    nobody can flood an inbox, theirs or someone else's."""
    return limiter.shared_limit(
        lambda: current_app.config["RATELIMIT_VERIFY_MAILS"],
        scope="verification-mail",
        key_func=per_user_key,
        deduct_when=lambda response: response.status_code < 300,
        **kwargs,
    )


def _asks_for_new_email() -> bool:
    body = request.get_json(silent=True)
    return isinstance(body, dict) and "email" in body


@blp.route("/auth/signup", methods=["POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_SIGNUP"])
@blp.arguments(SignupSchema)
@blp.response(201, TokensSchema)
@blp.doc(responses={409: "CONFLICT", **RATE_LIMITED})
def signup(data):
    """Create an account

    Returns the new user with an access token and a refresh token. Passwords are
    10 to 128 characters and must not be a commonly used one. A `referral_code`
    credits the person who shared it (an unknown code is ignored).
    """
    tokens = service.sign_up(**data)
    db.session.commit()
    return tokens


@blp.route("/auth/login", methods=["POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"])
@blp.arguments(LoginSchema)
@blp.response(200, TokensSchema)
@blp.doc(responses={401: "UNAUTHORIZED", **RATE_LIMITED})
def login(data):
    """Log in with e-mail and password

    A wrong password and an unknown e-mail get the same answer. After a few
    wrong passwords for one e-mail from one address, that address must wait
    (429 with `Retry-After`), twice as long after each further one; the same
    account from elsewhere is not slowed down.
    """
    try:
        tokens = service.log_in(
            email=data["email"], password=data["password"], client_address=request.remote_addr or ""
        )
    except service.InvalidCredentials:
        db.session.commit()  # keep the count of failures
        raise
    db.session.commit()
    return tokens


@blp.route("/auth/refresh", methods=["POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_REFRESH"])
@blp.arguments(RefreshSchema)
@blp.response(200, TokensSchema)
@blp.doc(responses={401: "UNAUTHORIZED", **RATE_LIMITED})
def refresh(data):
    """Exchange a refresh token for a new pair

    Each refresh token works once. Presenting a used one again revokes the
    whole session, including the newest tokens.
    """
    try:
        tokens = service.refresh(refresh_token=data["refresh_token"])
    except service.RefreshTokenReused:
        db.session.commit()  # keep the revocation
        raise
    db.session.commit()
    return tokens


@blp.route("/auth/logout", methods=["POST"])
@auth_required(api_key=False)
@blp.arguments(RefreshSchema)
@blp.response(204)
def logout(data):
    """Log out: end the session of this refresh token and all its tokens"""
    service.log_out(user=current_user(), refresh_token=data["refresh_token"])
    db.session.commit()


# What someone who opened the link in a browser sees; everything in it is escaped.
_PAGE = Markup(
    '<!doctype html><html lang="en"><meta charset="utf-8"><title>{title}</title>'
    "<h1>{title}</h1><p>{detail}</p></html>"
)


def _page(status: int, title: str, detail: str):
    response = current_app.response_class(
        _PAGE.format(title=title, detail=detail), status=status, mimetype="text/html"
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.route("/auth/verify", methods=["GET"])
@blp.arguments(VerifyArgsSchema, location="query")
@blp.response(
    200,
    EmailVerifiedSchema,
    headers={"Cache-Control": {"schema": {"type": "string"}, "description": "no-store"}},
)
@blp.doc(
    responses={
        200: {"content": {"text/html": {"schema": {"type": "string"}}}},
        400: "BAD_REQUEST",
        409: "CONFLICT",
        410: "GONE",
    }
)
def verify_email(args):
    """Prove an e-mail address (the link mailed to it)

    Needs no login: the link is opened from a mail client. It verifies the
    account's address, or, after a change of e-mail, makes the new address the
    account's e-mail and login. Opening it again answers 200 too. Errors: 400
    `invalid_token` (not a genuine link, or one for an address the account no
    longer has or asks for), 410 `token_expired` (older than
    `EMAIL_VERIFY_MAX_AGE_HOURS`: ask for a new one), 409 `email_taken` (another
    account took the new address meanwhile; nothing changes). A browser (`Accept`
    preferring `text/html`) gets the same answer as a small HTML page.
    """
    html = request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"
    try:
        user = service.verify_email(token=args["token"])
    except DomainError as error:
        if html:
            return _page(error.status, error.title, error.detail)
        raise
    db.session.commit()
    if html:
        return _page(200, "E-mail address verified", f"{user.email} is verified. You can close this page.")
    return {"email": user.email, "email_verified": True}, 200, {"Cache-Control": "no-store"}


@blp.route("/auth/verify/resend", methods=["POST"])
@auth_required(api_key=False)
@_verification_mail_limit()
@blp.response(202, VerificationSentSchema)
@blp.doc(responses={409: "CONFLICT", **RATE_LIMITED})
def resend_verification():
    """Send the verification link again

    To the address waiting for verification after a change of e-mail if there is
    one, else to your e-mail if it is not verified yet (409 `already_verified`
    otherwise). Links for an address already sent stay valid until they expire.
    """
    email = service.resend_verification(user=current_user())
    db.session.commit()
    return {"email": email}


@blp.route("/me", methods=["GET"])
@auth_required()
@blp.response(200, UserSchema)
@reads_only
def get_me():
    """Your account"""
    return current_user()


@blp.route("/me", methods=["PATCH"])
@auth_required(api_key=False)
@_verification_mail_limit(exempt_when=lambda: not _asks_for_new_email())
@blp.arguments(UserUpdateSchema)
@blp.response(200, UserSchema)
@blp.doc(responses={409: "CONFLICT", **RATE_LIMITED})
def update_me(data):
    """Change your display name, password or e-mail

    A new password or e-mail needs `current_password`. A new password logs out
    every other session. A new `email` (409 `email_taken` if another account has
    it) waits in `pending_email` and gets a verification link; your current
    address stays your login until the link is opened. Asking for your current
    address drops a pending change. New addresses share the limit of
    `POST /v1/auth/verify/resend`.
    """
    user = service.update_user(user=current_user(), current_session_id=current_session_id(), **data)
    db.session.commit()
    return user


@blp.route("/me", methods=["DELETE"])
@auth_required(api_key=False)
@blp.response(204)
def delete_me():
    """Delete your account

    Personal data is anonymised and every session ends; payment records are kept.
    """
    service.delete_user(user=current_user())
    db.session.commit()


@blp.route("/me/export", methods=["GET"])
@auth_required(api_key=False)
@blp.response(200, ExportSchema)
def export_me():
    """Download everything held about you"""
    return jsonify(service.export_user(user=current_user()))


@blp.route("/me/api-keys", methods=["POST"])
@auth_required(api_key=False)
@blp.arguments(ApiKeyCreateSchema)
@blp.response(201, ApiKeyCreatedSchema)
def create_api_key(data):
    """Create an API key (creators)

    The key is shown in this response only; store it safely. Use it as a
    Bearer token from your own scripts: it can read what you can read, and
    write only within its `scopes` (403 `insufficient_scope` otherwise); it
    never manages your account and keys. Each operation names the scope it
    needs in `x-api-key-scope`. Changing your password revokes every key.
    """
    api_key, secret = service.create_api_key(user=current_user(), **data)
    db.session.commit()
    fields = ("id", "name", "prefix", "scopes", "created_at", "expires_at", "last_used_at")
    return {**{name: getattr(api_key, name) for name in fields}, "key": secret}


@blp.route("/me/api-keys", methods=["GET"])
@auth_required(api_key=False)
@blp.arguments(CursorArgs, location="query")
@blp.response(200, page_schema(ApiKeySchema))
def list_api_keys(args):
    """Your API keys that are not revoked, expired ones included (without their secrets)"""
    return service.list_api_keys(user=current_user(), limit=args["limit"], cursor=args["cursor"])


@blp.route("/me/api-keys/<uuid:key_id>", methods=["DELETE"])
@auth_required(api_key=False)
@blp.response(204)
@blp.doc(responses={404: "NOT_FOUND"})
def revoke_api_key(key_id: uuid.UUID):
    """Revoke an API key; it stops working at once"""
    service.revoke_api_key(user=current_user(), key_id=key_id)
    db.session.commit()
