from __future__ import annotations

import marshmallow as ma

from ..common.schemas import BaseSchema
from .kinds import KINDS


class NotificationSchema(BaseSchema):
    id = ma.fields.UUID(required=True)
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(list(KINDS)))
    created_at = ma.fields.DateTime(required=True)
    read = ma.fields.Boolean(required=True)
    data = ma.fields.Dict(
        keys=ma.fields.String(),
        required=True,
        metadata={"description": "What happened, for display: names, titles, excerpts and ids, by kind"},
    )


class NotificationPageSchema(BaseSchema):
    data = ma.fields.List(ma.fields.Nested(NotificationSchema), required=True)
    next_cursor = ma.fields.String(required=True, allow_none=True)
    unread_count = ma.fields.Integer(required=True)


class MarkReadSchema(BaseSchema):
    up_to_id = ma.fields.UUID(
        required=True, metadata={"description": "This notification and every older one become read"}
    )


class KindSettingSchema(BaseSchema):
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(list(KINDS)))
    description = ma.fields.String(dump_only=True)
    email = ma.fields.Boolean()
    in_app = ma.fields.Boolean()
    email_required = ma.fields.Boolean(
        dump_only=True, metadata={"description": "Receipts and refunds are always e-mailed"}
    )


class SettingsSchema(BaseSchema):
    kinds = ma.fields.List(ma.fields.Nested(KindSettingSchema), required=True)


class SettingsUpdateSchema(BaseSchema):
    kinds = ma.fields.List(
        ma.fields.Nested(KindSettingSchema), required=True, validate=ma.validate.Length(min=1, max=len(KINDS))
    )


class UnsubscribeArgs(BaseSchema):
    token = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))


class UnsubscribedSchema(BaseSchema):
    kinds = ma.fields.List(
        ma.fields.String(), required=True, metadata={"description": "The kinds no longer e-mailed"}
    )
