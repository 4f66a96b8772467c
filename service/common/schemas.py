"""Schema base class and fields shared by every domain."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import marshmallow as ma


def _find_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_find_nul(k) or _find_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_find_nul(v) for v in value)
    return False


class BaseSchema(ma.Schema):
    """Unknown fields are errors; NUL characters are refused before any field sees them.

    PostgreSQL cannot store NUL in text, so letting one through would end in a
    driver error instead of a clear 422.
    """

    class Meta:
        unknown = ma.RAISE

    @ma.pre_load
    def _refuse_nul(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, Mapping):
            errors = {
                str(k): ["NUL characters are not allowed."]
                for k, v in data.items()
                if _find_nul(k) or _find_nul(v)
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
