"""The e-mail that proves an address is its reader's: the only one an unverified address
gets."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlencode

from flask import current_app

from ..accounts.models import User
from .kinds import VERIFY_EMAIL
from .service import queue_email


def verification_requested(user: User, *, email: str, token: str, **_: Any) -> None:
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    url = f"{base}/v1/auth/verify?{urlencode({'token': token})}"
    queue_email(
        {
            "key": "verify:" + hashlib.sha256(token.encode()).hexdigest()[:40],
            "user_id": user.id,
            "kind": VERIFY_EMAIL,
            "to_address": email,
            "data": {"verify_url": url, "address": email},
        }
    )
