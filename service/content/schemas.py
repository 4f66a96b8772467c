from __future__ import annotations

from typing import TYPE_CHECKING, Any

import marshmallow as ma

from ..common.schemas import BaseSchema, Trimmed
from ..creators.schemas import CreatorRefSchema
from .models import VISIBILITIES

if TYPE_CHECKING:
    from .service import PostView

MAX_TITLE, MAX_BODY, MAX_TIERS = 200, 20_000, 50


class PostCreateSchema(BaseSchema):
    title = Trimmed(required=True, validate=ma.validate.Length(min=1, max=MAX_TITLE))
    body = Trimmed(
        required=True,
        validate=ma.validate.Length(min=1, max=MAX_BODY),
        metadata={"description": "Plain text"},
    )
    visibility = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(VISIBILITIES),
        metadata={
            "description": "public: everyone; followers: followers and members; "
            "members: any member; tiers: members of `tier_ids` only"
        },
    )
    tier_ids = ma.fields.List(
        ma.fields.UUID(),
        validate=ma.validate.Length(min=1, max=MAX_TIERS),
        metadata={"description": "Your membership offerings; required for `tiers`, refused otherwise"},
    )

    @ma.validates_schema
    def _tiers(self, data: dict[str, Any], **kwargs: object) -> None:
        if data.get("visibility") == "tiers" and "tier_ids" not in data:
            raise ma.ValidationError("Required for `tiers` visibility.", "tier_ids")
        if data.get("visibility") != "tiers" and "tier_ids" in data:
            raise ma.ValidationError("Only for `tiers` visibility.", "tier_ids")


class PostSchema(BaseSchema):
    """Dumps a `PostView`: the body only if the viewer may read the post, else a teaser.
    A bare Post cannot be dumped, so no route can forget to decide."""

    id = ma.fields.UUID(required=True)
    creator = ma.fields.Nested(CreatorRefSchema, required=True)
    title = ma.fields.String(required=True)
    body = ma.fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "Null when `locked`: the caller may not read this post"},
    )
    locked = ma.fields.Boolean(
        required=True, metadata={"description": "True for a teaser of a post the caller may not read"}
    )
    visibility = ma.fields.String(required=True)
    tier_ids = ma.fields.List(ma.fields.UUID(), required=True)
    published_at = ma.fields.DateTime(required=True)
    created_at = ma.fields.DateTime(required=True)

    def get_attribute(self, obj: PostView, attr: str, default: Any) -> Any:
        if attr == "body":
            return obj.post.body if obj.readable else None
        if attr == "locked":
            return not obj.readable
        return super().get_attribute(obj.post, attr, default)
