"""Ids that arrive as text from outside (metadata, CLI arguments)."""

from __future__ import annotations

import uuid


def parse_uuid(value: str | None) -> uuid.UUID | None:
    """The UUID a string spells, or None for anything else (a foreign or garbled value)."""
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None
