"""Keyset (cursor) pagination: stable under inserts, the same cost at any depth.

A cursor is the sort key of the last row served, base64-encoded and signed so a
client cannot hand us values we never produced.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

import marshmallow as ma
from flask import current_app
from sqlalchemy import Integer, Select, bindparam, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from .errors import Unprocessable
from .schemas import BaseSchema


class InvalidCursor(Unprocessable):
    code = "invalid_cursor"
    title = "The cursor is not valid for this list"


class CursorArgs(BaseSchema):
    limit = ma.fields.Integer(load_default=20, validate=ma.validate.Range(1, 100))
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Length(max=512))


@cache
def page_schema(item: type[ma.Schema]) -> type[ma.Schema]:
    """The `{data: [...], next_cursor}` envelope around an item schema."""
    name = item.__name__.removesuffix("Schema") + "List"
    return type(
        name,
        (BaseSchema,),
        {
            "data": ma.fields.List(ma.fields.Nested(item), required=True),
            "next_cursor": ma.fields.String(required=True, allow_none=True),
        },
    )


def _sign(payload: bytes) -> bytes:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, b"cursor:" + payload, hashlib.sha256).digest()[:12]


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _from_json(value: Any, column: InstrumentedAttribute[Any]) -> Any:
    python_type = column.type.python_type
    if python_type is datetime:
        return datetime.fromisoformat(value)
    if python_type is uuid.UUID:
        return uuid.UUID(value)
    if not isinstance(value, python_type):
        raise TypeError(value)
    return value


def encode_cursor(values: Sequence[Any]) -> str:
    payload = json.dumps([_to_json(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(_sign(payload) + payload).decode().rstrip("=")


def decode_cursor(cursor: str, columns: Sequence[InstrumentedAttribute[Any]]) -> tuple[Any, ...]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        signature, payload = raw[:12], raw[12:]
        if not hmac.compare_digest(signature, _sign(payload)):
            raise ValueError("bad signature")
        values = json.loads(payload)
        if not isinstance(values, list) or len(values) != len(columns):
            raise ValueError("bad shape")
        return tuple(_from_json(v, c) for v, c in zip(values, columns, strict=True))
    except (ValueError, TypeError) as exc:
        raise InvalidCursor() from exc


def keyset(
    stmt: Select[Any],
    *,
    order: Sequence[InstrumentedAttribute[Any]],
    limit: int,
    cursor: str | None,
    descending: bool = True,
) -> Select[Any]:
    """Add the keyset WHERE, ORDER BY and LIMIT (one extra row tells if there is more)."""
    if cursor:
        after = decode_cursor(cursor, order)
        key = tuple_(*order)
        stmt = stmt.where(key < tuple_(*after) if descending else key > tuple_(*after))
    ordering = [c.desc() if descending else c.asc() for c in order]
    return stmt.order_by(*ordering).limit(limit + 1)


def newest_first(stmt: Select[Any], created_at: Any, id_: Any, *, after: bool) -> Select[Any]:
    """Newest first by (created_at, id), `rows` of them, and only those past the cursor's
    row when `after`. Every value is a bound parameter (`newest_first_params` gives them),
    so a statement built once for each shape serves every page: building one afresh cost
    about as much as running it."""
    if after:
        cursor = tuple_(bindparam("after_at", type_=created_at.type), bindparam("after_id", type_=id_.type))
        stmt = stmt.where(tuple_(created_at, id_) < cursor)
    return stmt.order_by(created_at.desc(), id_.desc()).limit(bindparam("rows", type_=Integer))


def newest_first_params(
    order: Sequence[InstrumentedAttribute[Any]], *, limit: int, cursor: str | None
) -> dict[str, Any]:
    """The parameters of a `newest_first` page (one extra row tells if there is more)."""
    params: dict[str, Any] = {"rows": limit + 1}
    if cursor:
        params["after_at"], params["after_id"] = decode_cursor(cursor, order)
    return params


def page(rows: Sequence[Any], *, limit: int, key: Any) -> dict[str, Any]:
    """Cut the extra row and build the envelope; `key(row)` gives the row's sort values."""
    rows = list(rows)
    more = len(rows) > limit
    rows = rows[:limit]
    return {"data": rows, "next_cursor": encode_cursor(key(rows[-1])) if more and rows else None}


def paginate(
    stmt: Select[Any],
    *,
    order: Sequence[InstrumentedAttribute[Any]],
    limit: int,
    cursor: str | None,
    descending: bool = True,
) -> dict[str, Any]:
    """One page of the ORM objects `stmt` selects, keyset-ordered by `order`.

    The cursor is made of the last object's values of those same columns.
    """
    from ..extensions import db  # the extensions module imports common at start-up

    rows = db.session.scalars(
        keyset(stmt, order=order, limit=limit, cursor=cursor, descending=descending)
    ).all()
    return page(rows, limit=limit, key=lambda row: tuple(getattr(row, c.key) for c in order))
