"""Schema base class and fields shared by every domain."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import marshmallow as ma
from flask import current_app
from marshmallow.utils import get_value


def _unstorable(value: Any) -> bool:
    """A NUL, or a lone surrogate (a JSON "\\ud800" escape): text no database can store."""
    if isinstance(value, str):
        if "\x00" in value:
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, Mapping):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable(v) for v in value)
    return False


class BaseSchema(ma.Schema):
    """Unknown fields are errors; NUL characters and invalid Unicode are refused
    before any field sees them.

    PostgreSQL cannot store NUL in text, and nothing can encode a lone
    surrogate, so letting either through would end in a driver error instead
    of a clear 422.
    """

    class Meta:
        unknown = ma.RAISE

    @ma.pre_load
    def _refuse_nul(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, Mapping):
            errors = {
                str(k): ["NUL characters and invalid Unicode are not allowed."]
                for k, v in data.items()
                if _unstorable(k) or _unstorable(v)
            }
            if errors:
                raise ma.ValidationError(errors)
        return data


class StrictInteger(ma.fields.Integer):
    """An integer that refuses floats, numeric strings and booleans."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class Trimmed(ma.fields.String):
    """A string with surrounding whitespace removed before validation."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        return super()._deserialize(value, attr, data, **kwargs).strip()


class MoneySchema(BaseSchema):
    """`{"amount": <integer minor units>, "currency": "eur"}`: the one shape of money in responses."""

    amount = ma.fields.Integer(required=True, metadata={"description": "Minor units (cents for eur)"})
    currency = ma.fields.String(required=True, metadata={"description": "ISO 4217, lower case"})


class Money(ma.fields.Nested):
    """A money value of the dumped object, from its minor-unit attribute and its currency
    attribute (dotted paths allowed), documented as the shared Money schema. None when
    the amount is None."""

    def __init__(self, minor: str, *, currency: str = "currency", **kwargs: Any) -> None:
        super().__init__(MoneySchema, **kwargs)
        self.minor, self.currency_of = minor, currency

    def serialize(self, attr: str, obj: Any, accessor: Any = None, **kwargs: Any) -> Any:
        amount = get_value(obj, self.minor)
        if amount is None:
            return None
        return {"amount": int(amount), "currency": get_value(obj, self.currency_of)}


def origin(url: str) -> str:
    """scheme://host[:port] of a URL, lower-cased and without the scheme's default port."""
    parts = urlsplit(url.strip())
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        return ""
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


class RedirectUrl(ma.fields.Url):
    """Where a provider's page sends the person back: http(s), kept short, and on one of
    ALLOWED_REDIRECT_ORIGINS, so our pages and Stripe's never forward anyone to a stranger."""

    default_error_messages = {"foreign_origin": "Redirects may only go to an allowed origin: {allowed}."}

    def __init__(self, *, required: bool = False) -> None:
        super().__init__(
            schemes={"http", "https"},
            require_tld=False,
            validate=ma.validate.Length(max=2048),
            required=required,
            metadata={"description": "Must be on one of the origins in ALLOWED_REDIRECT_ORIGINS"},
        )

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        url: str = super()._deserialize(value, attr, data, **kwargs)
        allowed = current_app.config["ALLOWED_REDIRECT_ORIGINS"]
        if origin(url) not in allowed:
            raise self.make_error("foreign_origin", allowed=", ".join(allowed))
        return url
