"""Short, single-line excerpts of what users wrote, for e-mails and the app."""

from __future__ import annotations

EXCERPT_LENGTH = 160


def excerpt(text: str, limit: int = EXCERPT_LENGTH) -> str:
    """The text on one line, cut at a word before `limit` characters (with an ellipsis)."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1].rsplit(" ", 1)[0] if " " in flat[: limit - 1] else flat[: limit - 1]
    return cut.rstrip(" ,.;:") + "…"
