"""Stripe's webhook envelope: the signature checked over the raw bytes, the JSON kept as sent.

The Stripe gateway's helper module: `StripeGateway.parse_event` calls
`verified_event`; nothing else does.

The SDK's `construct_event(...).to_dict()` turns decimal strings
(`unit_amount_decimal`, `fx_rate`, …) into `Decimal`, which no JSON column
holds; so the body is verified with `WebhookSignature.verify_header` and parsed
with the standard library, and the inbox keeps exactly what Stripe sent.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any

import stripe

from .gateway import BadSignature, MalformedEvent

log = logging.getLogger(__name__)

# Stripe signs with the current time; a header far from ours on either side is a replay or a forgery.
TOLERANCE_SECONDS = 300

_versions_reported: set[str] = set()


def _timestamp(header: str) -> int | None:
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            return int(value)
    return None


def _signed_by(payload: bytes, header: str, secret: str) -> bool:
    try:
        stripe.WebhookSignature.verify_header(payload, header, secret, tolerance=TOLERANCE_SECONDS)
    except (stripe.SignatureVerificationError, ValueError):  # ValueError: a body that is not UTF-8
        return False
    return True


def verified_event(
    payload: bytes, header: str, secrets: Sequence[str], *, api_version: str
) -> dict[str, Any]:
    """The event Stripe signed with one of `secrets`, as plain JSON values; an event of another
    version than `api_version` (the one the gateway reads) is reported. Raises BadSignature,
    MalformedEvent."""
    timestamp = _timestamp(header)
    if timestamp is None or timestamp > time.time() + TOLERANCE_SECONDS:
        raise BadSignature()
    if not any(_signed_by(payload, header, secret) for secret in secrets):
        raise BadSignature()
    try:
        event = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise MalformedEvent() from exc
    if (
        not isinstance(event, dict)
        or not _is_text(event.get("id"), 255)
        or not _is_text(event.get("type"), 128)
    ):
        raise MalformedEvent()
    _report_version(event.get("api_version"), api_version)
    return event


def _is_text(value: Any, max_length: int) -> bool:
    # A NUL cannot be stored in a PostgreSQL text column.
    return isinstance(value, str) and 0 < len(value) <= max_length and "\x00" not in value


def _report_version(version: object, expected: str) -> None:
    """Events of another API version may be shaped differently: say so once per version."""
    version = str(version)
    # Bounded: signed events come from Stripe, but a process must not grow without end.
    if version == expected or version in _versions_reported or len(_versions_reported) >= 100:
        return
    _versions_reported.add(version)
    log.warning(
        "Stripe event of API version %s; this code reads %s. Create the webhook endpoint at %s.",
        version,
        expected,
        expected,
    )
