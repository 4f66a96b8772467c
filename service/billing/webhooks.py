"""The webhook inbox: store every provider event first, apply it second.

`record_event` inserts by event id (a repeat is a no-op) in the request's
transaction; the route commits and answers 2xx, then `process_event` applies
the event in its own transaction. Handlers re-read the object from the gateway
and upsert by provider id, so duplicates, reordering and concurrent deliveries
all converge on the provider's current state. A failing handler leaves the
event in the inbox with a backoff; `flask billing process-inbox` retries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update

from ..common import clock
from ..common.db import insert_or_ignore
from ..extensions import db
from . import checkout, ledger, payouts, subscriptions
from .gateway import current_gateway
from .models import WebhookEvent

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
Handler = Callable[[dict[str, Any], WebhookEvent], str | None]


def record_event(event: dict[str, Any]) -> bool:
    """Store an event in the inbox as it was sent; False when its id was already there."""
    return insert_or_ignore(
        db.session,
        WebhookEvent,
        {
            "id": event["id"],
            "type": event["type"],
            "account": _text(event.get("account")),
            "livemode": event.get("livemode") is True,
            "api_version": _text(event.get("api_version"), 64),
            "event_created": _created(event.get("created")),
            "payload": event,
        },
    )


def _text(value: Any, max_length: int = 255) -> str | None:
    # A NUL cannot be stored in a PostgreSQL text column; the payload keeps the value as sent.
    return value if isinstance(value, str) and len(value) <= max_length and "\x00" not in value else None


def _created(value: Any) -> datetime:
    # Order guards compare these; an event without a usable time sorts as the oldest.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**33:
        return datetime.fromtimestamp(value, UTC)
    return datetime.fromtimestamp(0, UTC)


def _claim(event_id: str) -> WebhookEvent | None:
    """Take the event for processing; None if another worker has it or it is finished."""
    now = clock.utcnow()
    claimed = db.session.execute(
        update(WebhookEvent)
        .where(
            WebhookEvent.id == event_id,
            WebhookEvent.status.in_(("pending", "failed")),
            WebhookEvent.next_attempt_at <= now,
        )
        .values(status="processing", attempts=WebhookEvent.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return db.session.get(WebhookEvent, event_id, populate_existing=True)


def process_event(event_id: str) -> str | None:
    """Apply one stored event; returns its final status (None if not claimed)."""
    event = _claim(event_id)
    if event is None:
        return None
    handler = HANDLERS.get(event.type)
    obj = _data_object(event.payload)
    try:
        outcome = handler(obj, event) if handler and obj is not None else "ignored"
        event.status, event.processed_at, event.last_error = outcome or "done", clock.utcnow(), None
        db.session.commit()
    except Exception as exc:  # any failure: keep the event and retry it later
        db.session.rollback()
        log.exception("webhook %s (%s) failed", event_id, event.type)
        _record_failure(event_id, exc)
    return db.session.get(WebhookEvent, event_id, populate_existing=True).status  # type: ignore[union-attr]


def _data_object(payload: Any) -> dict[str, Any] | None:
    data = payload.get("data") if isinstance(payload, dict) else None
    obj = data.get("object") if isinstance(data, dict) else None
    return obj if isinstance(obj, dict) and isinstance(obj.get("id"), str) else None


def _record_failure(event_id: str, exc: Exception) -> None:
    event = db.session.get(WebhookEvent, event_id, populate_existing=True)
    assert event is not None
    dead = event.attempts >= MAX_ATTEMPTS
    event.status = "dead" if dead else "failed"
    event.last_error = f"{type(exc).__name__}: {exc}"[:2000]
    event.next_attempt_at = clock.utcnow() + timedelta(seconds=2**event.attempts)
    db.session.commit()


def process_due(limit: int = 500) -> int:
    """Apply pending and failed events whose time has come (also recovers stuck ones)."""
    now = clock.utcnow()
    stale = now - timedelta(minutes=5)
    ids = db.session.scalars(
        select(WebhookEvent.id)
        .where(
            or_(
                WebhookEvent.status.in_(("pending", "failed")),
                # A worker died mid-event: its claim is old, give the event back.
                (WebhookEvent.status == "processing") & (WebhookEvent.next_attempt_at < stale),
            ),
            WebhookEvent.next_attempt_at <= now,
        )
        .order_by(WebhookEvent.event_created, WebhookEvent.id)
        .limit(limit)
    ).all()
    db.session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.id.in_(ids), WebhookEvent.status == "processing")
        .values(status="failed")
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return sum(process_event(i) is not None for i in ids)


def _subscription_event(obj: dict[str, Any], event: WebhookEvent) -> str | None:
    return subscriptions.sync_subscription(obj["id"])


def _trial_will_end(obj: dict[str, Any], event: WebhookEvent) -> str | None:
    return subscriptions.record_trial_will_end(obj["id"])


def _invoice_paid(obj: dict[str, Any], event: WebhookEvent) -> str | None:
    return subscriptions.record_invoice_paid(obj["id"])


def _invoice_failed(obj: dict[str, Any], event: WebhookEvent) -> str | None:
    sub_id = current_gateway().retrieve_invoice(obj["id"]).subscription
    if not sub_id:
        return "ignored"
    return subscriptions.record_payment_failed(sub_id)


def _invoice_action_required(obj: dict[str, Any], event: WebhookEvent) -> str | None:
    return subscriptions.record_action_required(obj["id"])


def _checkout_completed(obj: dict[str, Any], event: WebhookEvent) -> str | None:
    return checkout.fulfil_checkout(obj["id"])


def _checkout_failed(obj: dict[str, Any], event: WebhookEvent) -> str | None:
    return checkout.close_checkout(obj["id"], status="failed")


def _checkout_expired(obj: dict[str, Any], event: WebhookEvent) -> str | None:
    return checkout.close_checkout(obj["id"], status="expired")


def _charge(obj: dict[str, Any], event: WebhookEvent) -> str | None:
    return ledger.sync_charge(obj["id"])


def _refund(obj: dict[str, Any], event: WebhookEvent) -> str | None:
    return ledger.sync_refund(obj["id"])


def _dispute(obj: dict[str, Any], event: WebhookEvent) -> str | None:
    return ledger.sync_dispute(obj["id"])


def _account_updated(obj: dict[str, Any], event: WebhookEvent) -> str | None:
    return payouts.sync_account(obj["id"])


def _account_deauthorized(obj: dict[str, Any], event: WebhookEvent) -> str | None:
    # The account no longer lets us read it: trust the signed event, never retrieve.
    return payouts.deauthorize(event.account or obj.get("id"), event_created=event.event_created)


HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": _checkout_completed,
    "checkout.session.async_payment_succeeded": _checkout_completed,
    "checkout.session.async_payment_failed": _checkout_failed,
    "checkout.session.expired": _checkout_expired,
    "customer.subscription.created": _subscription_event,
    "customer.subscription.updated": _subscription_event,
    "customer.subscription.deleted": _subscription_event,
    "customer.subscription.paused": _subscription_event,
    "customer.subscription.resumed": _subscription_event,
    "customer.subscription.pending_update_applied": _subscription_event,
    "customer.subscription.pending_update_expired": _subscription_event,
    "customer.subscription.trial_will_end": _trial_will_end,
    "invoice.paid": _invoice_paid,
    "invoice.payment_failed": _invoice_failed,
    "invoice.payment_action_required": _invoice_action_required,
    "charge.refunded": _charge,
    "charge.refund.updated": _refund,
    "refund.created": _refund,
    "refund.updated": _refund,
    "refund.failed": _refund,
    "charge.dispute.created": _dispute,
    "charge.dispute.updated": _dispute,
    "charge.dispute.closed": _dispute,
    "charge.dispute.funds_withdrawn": _dispute,
    "charge.dispute.funds_reinstated": _dispute,
    "account.updated": _account_updated,
    "account.application.deauthorized": _account_deauthorized,
}
