from __future__ import annotations

import re
from typing import Any

import marshmallow as ma

from ..common.schemas import BaseSchema
from .models import AUDIENCES, KINDS

MAX_BODY = 5000

# C0 and C1 control characters except tab (\x09) and newline (\x0a).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class PlainText(ma.fields.String):
    """Text kept exactly as typed, except: line breaks become \\n, other control
    characters go, and surrounding whitespace is trimmed."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        return _CONTROL.sub("", text).strip()


def _exactly_one(data: dict[str, Any], names: tuple[str, str]) -> None:
    if sum(name in data for name in names) != 1:
        raise ma.ValidationError(f"Send exactly one of {' or '.join(names)}.", "_schema")


class ConversationStartSchema(BaseSchema):
    creator_handle = ma.fields.String(validate=ma.validate.Length(min=1, max=100))
    user_id = ma.fields.UUID()

    @ma.validates_schema
    def _one_target(self, data: dict[str, Any], **kwargs: object) -> None:
        _exactly_one(data, ("creator_handle", "user_id"))


class MessageCreateSchema(BaseSchema):
    body = PlainText(
        required=True,
        validate=ma.validate.Length(min=1, max=MAX_BODY),
        metadata={"description": "Plain text, 1 to 5000 characters after trimming; never HTML"},
    )


class ReadSchema(BaseSchema):
    message_id = ma.fields.UUID(
        required=True, metadata={"description": "The newest message read; the marker never moves back"}
    )


class MessageSchema(BaseSchema):
    id = ma.fields.UUID(required=True)
    conversation_id = ma.fields.UUID(required=True)
    sender_id = ma.fields.UUID(required=True, allow_none=True, metadata={"description": "null for system"})
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(KINDS))
    body = ma.fields.String(required=True)
    created_at = ma.fields.DateTime(required=True)


class ParticipantSchema(BaseSchema):
    id = ma.fields.UUID(required=True)
    display_name = ma.fields.String(required=True)
    handle = ma.fields.String(required=True, allow_none=True, metadata={"description": "Creators only"})


class ConversationSchema(BaseSchema):
    id = ma.fields.UUID(required=True)
    other = ma.fields.Nested(ParticipantSchema, required=True)
    last_message = ma.fields.Nested(MessageSchema, required=True, allow_none=True)
    last_message_at = ma.fields.DateTime(required=True)
    unread_count = ma.fields.Integer(required=True)


class UnreadSchema(BaseSchema):
    total = ma.fields.Integer(required=True)


class BroadcastCreateSchema(BaseSchema):
    body = PlainText(required=True, validate=ma.validate.Length(min=1, max=MAX_BODY))
    audience = ma.fields.String(required=True, validate=ma.validate.OneOf(AUDIENCES))
    tier_ids = ma.fields.List(
        ma.fields.UUID(),
        validate=ma.validate.Length(min=1, max=50),
        metadata={"description": "Membership offerings; required for `tiers`, refused otherwise"},
    )

    @ma.validates_schema
    def _tiers(self, data: dict[str, Any], **kwargs: object) -> None:
        if data.get("audience") == "tiers" and "tier_ids" not in data:
            raise ma.ValidationError("Required for the `tiers` audience.", "tier_ids")
        if data.get("audience") != "tiers" and "tier_ids" in data:
            raise ma.ValidationError("Only for the `tiers` audience.", "tier_ids")


class BroadcastSchema(BaseSchema):
    id = ma.fields.UUID(required=True)
    audience = ma.fields.String(required=True)
    tier_ids = ma.fields.List(ma.fields.UUID(), required=True)
    status = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(("queued", "sending", "sent")),
        metadata={"description": "`queued` until its audience is fixed, `sending`, then `sent`"},
    )
    recipients = ma.fields.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "The audience when delivery began, less anyone blocked; null while queued"},
    )
    delivered = ma.fields.Integer(required=True, metadata={"description": "Copies delivered so far"})
    created_at = ma.fields.DateTime(required=True)


class ReportCreateSchema(BaseSchema):
    message_id = ma.fields.UUID()
    user_id = ma.fields.UUID()
    reason = PlainText(required=True, validate=ma.validate.Length(min=1, max=1000))

    @ma.validates_schema
    def _one_target(self, data: dict[str, Any], **kwargs: object) -> None:
        _exactly_one(data, ("message_id", "user_id"))


class ReportSchema(BaseSchema):
    id = ma.fields.UUID(required=True)
    message_id = ma.fields.UUID(required=True, allow_none=True)
    user_id = ma.fields.UUID(required=True, allow_none=True)
    reason = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    created_at = ma.fields.DateTime(required=True)
