from __future__ import annotations

from typing import Any

import marshmallow as ma

from ..common.schemas import BaseSchema, Trimmed
from .events import EVENT_TYPES

_EVENTS = ma.fields.List(
    ma.fields.String(validate=ma.validate.OneOf(EVENT_TYPES)),
    validate=ma.validate.Length(min=1, max=len(EVENT_TYPES)),
    metadata={"description": f"Event types to send: {', '.join(EVENT_TYPES)}"},
)
_URL = Trimmed(
    validate=ma.validate.Length(min=1, max=2048),
    metadata={
        "description": "http(s) URL; https only in production. Private addresses are refused at send time."
    },
)
_DESCRIPTION = Trimmed(allow_none=True, validate=ma.validate.Length(max=500))


class EndpointCreateSchema(BaseSchema):
    url = _URL
    events = _EVENTS
    description = _DESCRIPTION

    @ma.validates_schema
    def _required(self, data: dict[str, Any], **kwargs: object) -> None:
        missing = {
            name: ["Missing data for required field."] for name in ("url", "events") if name not in data
        }
        if missing:
            raise ma.ValidationError(missing)


class EndpointUpdateSchema(BaseSchema):
    url = _URL
    events = _EVENTS
    description = _DESCRIPTION
    status = ma.fields.String(validate=ma.validate.OneOf(("enabled", "disabled")))


class EndpointSchema(BaseSchema):
    id = ma.fields.UUID(required=True)
    url = ma.fields.String(required=True)
    events = ma.fields.List(ma.fields.String(), required=True)
    description = ma.fields.String(allow_none=True)
    status = ma.fields.String(required=True, metadata={"description": "`enabled` or `disabled`"})
    disabled_reason = ma.fields.String(
        allow_none=True, metadata={"description": "Why it was disabled (repeated failure, or by you)"}
    )
    disabled_at = ma.fields.DateTime(allow_none=True)
    previous_secret_until = ma.fields.DateTime(
        allow_none=True, metadata={"description": "After a rotation: until when the old secret still signs"}
    )
    created_at = ma.fields.DateTime(required=True)


class EndpointWithSecretSchema(EndpointSchema):
    secret = ma.fields.String(
        required=True, metadata={"description": "`whsec_…` signing secret; shown only now"}
    )


class DeliverySchema(BaseSchema):
    id = ma.fields.UUID(required=True)
    type = ma.fields.String(required=True)
    status = ma.fields.String(required=True, metadata={"description": "`pending`, `succeeded` or `failed`"})
    attempts = ma.fields.Integer(required=True)
    next_attempt_at = ma.fields.DateTime(allow_none=True)


class AttemptSchema(BaseSchema):
    id = ma.fields.UUID(required=True)
    delivery_id = ma.fields.UUID(required=True)
    event_id = ma.fields.String(allow_none=True, metadata={"description": "null for a ping"})
    type = ma.fields.String(required=True)
    attempt = ma.fields.Integer(required=True)
    status_code = ma.fields.Integer(allow_none=True, metadata={"description": "null when no answer came"})
    latency_ms = ma.fields.Integer(allow_none=True)
    response_excerpt = ma.fields.String(allow_none=True)
    error = ma.fields.String(allow_none=True)
    next_attempt_at = ma.fields.DateTime(allow_none=True)
    created_at = ma.fields.DateTime(required=True)
    delivery_status = ma.fields.String(required=True)


class EventSchema(BaseSchema):
    id = ma.fields.String(required=True, metadata={"description": "`evt_…`; pass it as `after` to resume"})
    type = ma.fields.String(required=True)
    timestamp = ma.fields.String(required=True)
    data = ma.fields.Dict(required=True)


class EventPageSchema(BaseSchema):
    data = ma.fields.List(ma.fields.Nested(EventSchema), required=True)
    has_more = ma.fields.Boolean(required=True)


class EventsArgs(BaseSchema):
    after = ma.fields.String(load_default=None, validate=ma.validate.Length(max=40))
    types = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(1, 500))

    @ma.post_load
    def _types(self, data: dict[str, Any], **kwargs: object) -> dict[str, Any]:
        types = [t.strip() for t in data["types"].split(",") if t.strip()]
        unknown = [t for t in types if t not in EVENT_TYPES]
        if unknown:
            raise ma.ValidationError({"types": [f"Unknown event types: {', '.join(unknown)}"]})
        data["types"] = types
        return data
