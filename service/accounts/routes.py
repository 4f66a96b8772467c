"""Accounts endpoints: /v1/auth/* and /v1/me*."""

from __future__ import annotations

import uuid

from flask import current_app, jsonify, request

from ..common.http import Blueprint
from ..common.pagination import CursorArgs, page_schema
from ..extensions import db, limiter
from . import service
from .auth import auth_required, current_session_id, current_user
from .schemas import (
    ApiKeyCreatedSchema,
    ApiKeyCreateSchema,
    ApiKeySchema,
    ExportSchema,
    LoginSchema,
    RefreshSchema,
    SignupSchema,
    TokensSchema,
    UserSchema,
    UserUpdateSchema,
)

blp = Blueprint("accounts", __name__, url_prefix="/v1", description="Sign-up, login, tokens and your account")

RATE_LIMITED = {429: "TOO_MANY_REQUESTS"}


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


@blp.route("/me", methods=["GET"])
@auth_required()
@blp.response(200, UserSchema)
def get_me():
    """Your account"""
    return current_user()


@blp.route("/me", methods=["PATCH"])
@auth_required(api_key=False)
@blp.arguments(UserUpdateSchema)
@blp.response(200, UserSchema)
def update_me(data):
    """Change your display name or password

    A new password needs `current_password` and logs out every other session.
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
