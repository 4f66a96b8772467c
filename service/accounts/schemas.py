from __future__ import annotations

import marshmallow as ma

from ..common.schemas import BaseSchema, StrictInteger, Trimmed
from .passwords import MAX_LENGTH, MIN_LENGTH
from .service import SCOPES

NAME = ma.validate.Length(min=1, max=100)


EMAIL = ma.validate.Length(max=320)


class SignupSchema(BaseSchema):
    email = ma.fields.Email(required=True, validate=EMAIL)
    password = ma.fields.String(required=True, validate=ma.validate.Length(min=MIN_LENGTH, max=MAX_LENGTH))
    display_name = Trimmed(required=True, validate=NAME)
    referral_code = ma.fields.String(validate=ma.validate.Length(max=64))


class LoginSchema(BaseSchema):
    email = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=320))
    # Longer than any valid password, so a wrong one is answered like any other.
    password = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=1024))


class RefreshSchema(BaseSchema):
    refresh_token = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=256))


class CreatorBriefSchema(BaseSchema):
    handle = ma.fields.String(required=True)
    display_name = ma.fields.String(required=True)


class UserSchema(BaseSchema):
    id = ma.fields.UUID(required=True)
    email = ma.fields.String(required=True, metadata={"description": "The login, and where mail goes"})
    email_verified = ma.fields.Boolean(
        required=True, metadata={"description": "Whether `email` was proven by its verification link"}
    )
    pending_email = ma.fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "A new address asked for, waiting for its verification link"},
    )
    display_name = ma.fields.String(required=True)
    creator = ma.fields.Nested(CreatorBriefSchema, required=True, allow_none=True, dump_default=None)
    created_at = ma.fields.DateTime(required=True)


class TokensSchema(BaseSchema):
    user = ma.fields.Nested(UserSchema, required=True)
    access_token = ma.fields.String(required=True)
    refresh_token = ma.fields.String(required=True)
    token_type = ma.fields.String(required=True)
    expires_in = ma.fields.Integer(
        required=True, metadata={"description": "Seconds until the access token expires"}
    )


class UserUpdateSchema(BaseSchema):
    display_name = Trimmed(validate=NAME)
    password = ma.fields.String(validate=ma.validate.Length(min=MIN_LENGTH, max=MAX_LENGTH))
    email = ma.fields.Email(
        validate=EMAIL,
        metadata={"description": "A new address: it becomes the login once its verification link is opened"},
    )
    current_password = ma.fields.String(validate=ma.validate.Length(min=1, max=1024))

    @ma.validates_schema
    def _changes_need_current(self, data: dict, **kwargs: object) -> None:
        for field in ("password", "email"):
            if field in data and "current_password" not in data:
                raise ma.ValidationError(f"Required to change the {field}.", "current_password")


class VerifyArgsSchema(BaseSchema):
    token = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=1000),
        metadata={"description": "From the verification link"},
    )


class EmailVerifiedSchema(BaseSchema):
    email = ma.fields.String(required=True, metadata={"description": "The account's address, now proven"})
    email_verified = ma.fields.Boolean(required=True)


class VerificationSentSchema(BaseSchema):
    email = ma.fields.String(required=True, metadata={"description": "Where the link was sent"})


class ExportSchema(BaseSchema):
    class Meta:
        unknown = ma.INCLUDE

    user = ma.fields.Dict(required=True)


SCOPES_DOC = "; ".join(f"`{name}`: {meaning}" for name, meaning in SCOPES.items())


class ApiKeyCreateSchema(BaseSchema):
    name = Trimmed(required=True, validate=NAME)
    scopes = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(list(SCOPES))),
        validate=ma.validate.Length(max=len(SCOPES)),
        metadata={"description": f"What the key may do; `read` only when left out. {SCOPES_DOC}"},
    )
    expires_at = ma.fields.AwareDateTime(metadata={"description": "When the key stops working"})
    expires_in_days = StrictInteger(
        validate=ma.validate.Range(min=1, max=3650),
        metadata={"description": "Or: how many days from now the key stops working"},
    )

    @ma.validates_schema
    def _one_expiry(self, data: dict, **kwargs: object) -> None:
        if "expires_at" in data and "expires_in_days" in data:
            raise ma.ValidationError("Give expires_at or expires_in_days, not both.", "expires_in_days")


class ApiKeySchema(BaseSchema):
    id = ma.fields.UUID(required=True)
    name = ma.fields.String(required=True)
    prefix = ma.fields.String(
        required=True, metadata={"description": "First characters of the key, to recognise it"}
    )
    scopes = ma.fields.List(ma.fields.String(), required=True)
    created_at = ma.fields.DateTime(required=True)
    expires_at = ma.fields.DateTime(required=True, allow_none=True, metadata={"description": "null: never"})
    last_used_at = ma.fields.DateTime(
        required=True, allow_none=True, metadata={"description": "To the minute; null: never used"}
    )


class ApiKeyCreatedSchema(ApiKeySchema):
    key = ma.fields.String(required=True, metadata={"description": "The secret; shown only in this response"})
