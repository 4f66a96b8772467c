"""Conversations, messages, unread counts, broadcasts, blocks and reports."""

from __future__ import annotations

import uuid

from flask import current_app, request

from ..accounts.auth import auth_required, current_user, per_user_key
from ..common.http import Blueprint
from ..common.pagination import CursorArgs, page_schema
from ..common.reads import reads_only
from ..creators import service as creators
from ..extensions import db, limiter
from . import broadcasts, conversations, moderation
from .schemas import (
    BroadcastCreateSchema,
    BroadcastSchema,
    ConversationSchema,
    ConversationStartSchema,
    MessageCreateSchema,
    MessageSchema,
    ReadSchema,
    ReportCreateSchema,
    ReportSchema,
    UnreadSchema,
)

blp = Blueprint(
    "messaging", __name__, url_prefix="/v1", description="Direct messages between creators and fans"
)

RATE_LIMITED = {429: "TOO_MANY_REQUESTS"}


@blp.route("/conversations", methods=["POST"])
@auth_required("messaging")
@limiter.limit(lambda: current_app.config["RATELIMIT_CONVERSATIONS"], key_func=per_user_key)
@blp.arguments(ConversationStartSchema)
@blp.response(201, ConversationSchema)
@blp.alt_response(
    200, schema=ConversationSchema, success=True, description="The conversation already existed"
)
@blp.doc(responses={403: "FORBIDDEN", 404: "NOT_FOUND", **RATE_LIMITED})
def start_conversation(data):
    """Start a conversation with a creator (by handle) or a user (by id)

    201 when new, 200 with the existing one. Starting one with a creator follows
    their `dm_policy`; a refusal is a 403 whose `code` says why (`dm_followers_only`,
    `dm_members_only`, `dm_tier_required`, `dm_closed`). Creators may start
    conversations with their followers and members only (`dm_audience_only`).
    Either side having blocked the other is a 403 `blocked`.
    """
    summary, created = conversations.start_conversation(user=current_user(), **data)
    db.session.commit()
    return summary if created else (summary, 200)


@blp.route("/conversations", methods=["GET"])
@auth_required()
@blp.arguments(CursorArgs, location="query")
@blp.response(200, page_schema(ConversationSchema))
@reads_only
def list_conversations(args):
    """Your conversations, latest activity first, with unread counts"""
    return conversations.list_conversations(user=current_user(), limit=args["limit"], cursor=args["cursor"])


@blp.route("/conversations/<uuid:conversation_id>/messages", methods=["GET"])
@auth_required()
@blp.arguments(CursorArgs, location="query")
@blp.response(200, page_schema(MessageSchema))
@blp.doc(responses={404: "NOT_FOUND"})
@reads_only
def list_messages(args, conversation_id: uuid.UUID):
    """Messages of a conversation you are in, newest first"""
    return conversations.list_messages(
        user=current_user(), conversation_id=conversation_id, limit=args["limit"], cursor=args["cursor"]
    )


@blp.route("/conversations/<uuid:conversation_id>/messages", methods=["POST"])
@auth_required("messaging")
@limiter.limit(lambda: current_app.config["RATELIMIT_MESSAGES"], key_func=per_user_key)
@blp.arguments(MessageCreateSchema)
@blp.response(201, MessageSchema)
@blp.doc(responses={403: "FORBIDDEN", 404: "NOT_FOUND", **RATE_LIMITED})
def send_message(data, conversation_id: uuid.UUID):
    """Send a message

    The body is plain text, stored and returned as sent (never interpreted as
    HTML): surrounding whitespace is trimmed and control characters other than
    newline and tab are removed. A block either way is a 403 `blocked`.
    """
    message = conversations.send_message(user=current_user(), conversation_id=conversation_id, **data)
    db.session.commit()
    return message


@blp.route("/conversations/<uuid:conversation_id>/read", methods=["POST"])
@auth_required("messaging")
@blp.arguments(ReadSchema)
@blp.response(204)
@blp.doc(responses={404: "NOT_FOUND"})
def mark_read(data, conversation_id: uuid.UUID):
    """Mark the conversation read up to a message"""
    conversations.mark_read(user=current_user(), conversation_id=conversation_id, **data)
    db.session.commit()


@blp.route("/me/unread", methods=["GET"])
@auth_required()
@blp.response(200, UnreadSchema)
@reads_only
def unread():
    """How many messages you have not read, over all conversations"""
    return {"total": conversations.count_unread(user=current_user())}


def _per_creator_key() -> str:
    return f"broadcasts:{request.view_args['handle'] if request.view_args else ''}"


@blp.route("/creators/<string:handle>/broadcasts", methods=["POST"])
@auth_required("messaging")
@limiter.limit(
    lambda: current_app.config["RATELIMIT_BROADCASTS"],
    key_func=_per_creator_key,
    # Only broadcasts that were accepted count: nobody can spend a creator's allowance.
    deduct_when=lambda response: response.status_code == 202,
)
@blp.arguments(BroadcastCreateSchema)
@blp.response(202, BroadcastSchema)
@blp.doc(responses={403: "FORBIDDEN", 404: "NOT_FOUND", **RATE_LIMITED})
def create_broadcast(data, handle: str):
    """Send one message to your followers, your members or members of chosen tiers

    Answered at once, `queued`; jobs then fix the audience (less anyone who blocked
    you), deliver a copy into each recipient's conversation with you, chunk by
    chunk, and count `delivered` until the broadcast is `sent`. Follow it with
    GET …/broadcasts/{id}. Broadcasts per creator are limited (`RATELIMIT_BROADCASTS`).
    """
    creator = creators.get_owned(user=current_user(), handle=handle)
    broadcast = broadcasts.create_broadcast(creator=creator, **data)
    db.session.commit()
    return broadcast


@blp.route("/creators/<string:handle>/broadcasts/<uuid:broadcast_id>", methods=["GET"])
@auth_required()
@blp.response(200, BroadcastSchema)
@blp.doc(responses={403: "FORBIDDEN", 404: "NOT_FOUND"})
def get_broadcast(handle: str, broadcast_id: uuid.UUID):
    """A broadcast of yours and how far its delivery is"""
    creator = creators.get_owned(user=current_user(), handle=handle)
    return broadcasts.get_broadcast(creator=creator, broadcast_id=broadcast_id)


@blp.route("/users/<uuid:user_id>/block", methods=["POST"])
@auth_required("messaging")
@blp.response(204)
@blp.doc(responses={404: "NOT_FOUND", 422: "UNPROCESSABLE_ENTITY"})
def block(user_id: uuid.UUID):
    """Block a user: neither of you can message the other (blocking again changes nothing)"""
    moderation.block(user=current_user(), user_id=user_id)
    db.session.commit()


@blp.route("/users/<uuid:user_id>/block", methods=["DELETE"])
@auth_required("messaging")
@blp.response(204)
@blp.doc(responses={404: "NOT_FOUND"})
def unblock(user_id: uuid.UUID):
    """Unblock a user"""
    moderation.unblock(user=current_user(), user_id=user_id)
    db.session.commit()


@blp.route("/reports", methods=["POST"])
@auth_required("messaging")
@blp.arguments(ReportCreateSchema)
@blp.response(201, ReportSchema)
@blp.doc(responses={404: "NOT_FOUND"})
def create_report(data):
    """Report a message you received or a user to the moderators"""
    report = moderation.create_report(user=current_user(), **data)
    db.session.commit()
    return report
