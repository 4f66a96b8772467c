"""The e-mail that proves an address is its reader's: the only one an unverified address
gets."""

from __future__ import annotations

import hashlib
from typing import Any

from ..accounts import service as accounts
from ..accounts.models import User
from .kinds import VERIFY_EMAIL
from .service import queue_email


def verification_requested(user: User, *, email: str, token: str, **_: Any) -> None:
    queue_email(
        {
            "key": "verify:" + hashlib.sha256(token.encode()).hexdigest()[:40],
            "user_id": user.id,
            "kind": VERIFY_EMAIL,
            "to_address": email,
            "data": {"verify_url": accounts.verification_link(token), "address": email},
        }
    )
