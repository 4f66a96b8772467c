"""The one clock. Tests move it with `freeze()` and `shift()`; code never calls
datetime.now() itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_frozen: datetime | None = None
_offset = timedelta(0)


def utcnow() -> datetime:
    return _frozen if _frozen is not None else datetime.now(UTC) + _offset


def freeze(at: datetime | None) -> None:
    """Pin the clock to `at` (aware UTC), or release it with None."""
    global _frozen
    if at is not None and at.tzinfo is None:
        raise ValueError("freeze() needs an aware datetime")
    _frozen = at


def shift(by: timedelta | None) -> None:
    """Move the ticking clock on by `by` (back when negative), or with None back to real
    time. A pinned clock stays pinned."""
    global _offset
    _offset = timedelta(0) if by is None else _offset + by
