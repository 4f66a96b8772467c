"""Handle rules: NFKC, lower case, `^[a-z0-9_]{3,30}$`, and no reserved words.

NFKC folds compatibility forms (full-width letters, ligatures) into plain ones;
anything still outside ASCII letters, digits and `_` afterwards — zero-width
characters, Cyrillic look-alikes, direction overrides — is refused, so two
handles that look the same are the same handle.
"""

from __future__ import annotations

import re
import unicodedata

HANDLE_RE = re.compile(r"^[a-z0-9_]{3,30}$")

RESERVED = frozenset(
    """
    about account accounts admin administrator api app auth billing blog checkout
    conversations creator creators dashboard docs feed help home login logout me
    messages null offerings official openapi payments payouts posts prices pricing
    privacy root security settings signup staff static status stripe subscriptions
    support system terms undefined user users v1 v2 webhooks www
    """.split()
)


def normalise_handle(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw).strip().lower()


def handle_problem(handle: str) -> str | None:
    """Why a normalised handle is refused, or None when it is fine."""
    if not HANDLE_RE.fullmatch(handle):
        return "Use 3 to 30 characters: lower-case letters, digits and underscores."
    if handle in RESERVED:
        return "This handle is reserved."
    return None
