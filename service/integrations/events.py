"""Events: written in the transaction that caused them, each delivered to the endpoints
that asked for its type, and listed by the feed in commit order.

Commit order: an id is taken at insert, but transactions commit in any order, so a
reader paging by id could pass an id whose transaction commits later. So the events of
a transaction are numbered (`seq`, per creator) just before it commits, from a counter
row that stays locked until the commit is done: a second transaction with an event for
the same creator waits there, and the creator's numbers commit in order with no gap a
reader could pass. The feed is ordered by that number. The counter is the last lock a
transaction takes, held only for its commit, so it cannot deadlock with the locks taken
before it. (Transaction ids and `pg_snapshot_xmin` would avoid the wait, but any writing
transaction on the server, of any database, would hold the feed back.)

Payloads carry ids, statuses and money (`{amount, currency}`) to act on, and of people
only their id and display name (what the creator sees in the app): no e-mail address,
and of a message no more than its first EXCERPT_CHARS characters.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from ..accounts.models import User
from ..billing import signals as billing
from ..billing.models import FINAL_STATUSES, Payment, Purchase, Subscription
from ..common import clock
from ..common.db import insert_or_add
from ..common.errors import Unprocessable
from ..creators.models import Creator
from ..extensions import db
from ..followers import signals as followers
from ..followers.models import Follow
from ..messaging import signals as messaging
from ..messaging.models import Message
from . import delivery
from .models import Delivery, Event, EventSequence, WebhookEndpoint

EVENT_TYPES = (
    "follower.created",
    "follower.deleted",
    "member.created",
    "member.updated",
    "member.deleted",
    "purchase.completed",
    "purchase.refunded",
    "payment.succeeded",
    "payment.failed",
    "message.received",
)
KEPT = timedelta(days=30)
_UNNUMBERED = "integrations.unnumbered"  # session.info: events written, not yet numbered
EXCERPT_CHARS = 100


class UnknownEvent(Unprocessable):
    code = "unknown_event"
    title = "No such event in your feed (events are kept 30 days)"


def record(
    creator_id: uuid.UUID, type_: str, data: dict[str, Any], *, key: str | None = None
) -> Event | None:
    """Write the event, and a delivery to each enabled endpoint of the creator that wants it.
    With `key`, an event of that key recorded already wins (a signal announced again by a
    retried webhook) and None is returned."""
    if key is not None:
        known = select(Event.id).where(Event.creator_id == creator_id, Event.key == key)
        if db.session.scalar(known) is not None:
            return None
    event = Event(creator_id=creator_id, type=type_, data=data, created_at=clock.utcnow(), key=key)
    db.session.add(event)
    db.session.flush()
    db.session.info.setdefault(_UNNUMBERED, []).append(event)
    endpoints = db.session.scalars(
        select(WebhookEndpoint).where(
            WebhookEndpoint.creator_id == creator_id, WebhookEndpoint.status == "enabled"
        )
    )
    for endpoint in endpoints:
        if type_ in endpoint.events:
            delivery.create(endpoint, event=event)
    return event


def _take_numbers(session: Session, creator_id: uuid.UUID, count: int) -> int:
    """Reserve the creator's next `count` event numbers; the last one. The counter row stays
    locked until the commit."""
    return int(
        insert_or_add(session, EventSequence, {"creator_id": creator_id}, {"last_seq": count}).last_seq
    )


@sa_event.listens_for(Session, "before_commit")
def _number_events(session: Session) -> None:
    written: list[Event] = session.info.pop(_UNNUMBERED, [])
    by_creator: dict[uuid.UUID, list[Event]] = {}
    for event in written:
        by_creator.setdefault(event.creator_id, []).append(event)
    for creator_id in sorted(by_creator):  # one order for all, should a transaction touch several
        events_ = by_creator[creator_id]
        last = _take_numbers(session, creator_id, len(events_))
        for offset, event in enumerate(events_):
            event.seq = last - len(events_) + 1 + offset
    if written:
        session.flush()


@sa_event.listens_for(Session, "after_rollback")
def _forget_unnumbered(session: Session) -> None:
    session.info.pop(_UNNUMBERED, None)


def feed(*, creator: Creator, after: str | None, types: list[str], limit: int) -> dict[str, Any]:
    """The creator's events after `after` (an event id), oldest first. Raises UnknownEvent."""
    stmt = select(Event).where(Event.creator_id == creator.id)
    if types:
        stmt = stmt.where(Event.type.in_(types))
    if after is not None:
        stmt = stmt.where(Event.seq > _anchor(creator, after).seq)
    rows = list(db.session.scalars(stmt.order_by(Event.seq).limit(limit + 1)))
    return {"data": [delivery.event_body(e) for e in rows[:limit]], "has_more": len(rows) > limit}


def _anchor(creator: Creator, public_id: str) -> Event:
    number = public_id.removeprefix("evt_")
    event = db.session.get(Event, int(number)) if number.isdigit() and len(number) < 19 else None
    if event is None or event.creator_id != creator.id:
        raise UnknownEvent(errors={"after": [f"Not an event of your feed: {public_id}"]})
    return event


def purge_old() -> int:
    """Job, daily: forget events and deliveries older than 30 days."""
    cutoff = clock.utcnow() - KEPT
    db.session.execute(delete(Delivery).where(Delivery.created_at < cutoff))
    result = db.session.execute(delete(Event).where(Event.created_at < cutoff))
    db.session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]


# What the earlier domains announce, as events ---------------------------------------------------


def _person(user_id: uuid.UUID | None) -> dict[str, Any] | None:
    user = db.session.get(User, user_id) if user_id else None
    return None if user is None else {"id": str(user.id), "display_name": user.display_name}


def _money(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@followers.follower_created.connect
def _followed(follow: Follow, **kwargs: object) -> None:
    record(
        follow.creator_id,
        "follower.created",
        {"user": _person(follow.user_id), "followed_at": _time(follow.created_at)},
    )


@followers.follower_deleted.connect
def _unfollowed(creator: Creator, *, user_id: uuid.UUID, **kwargs: object) -> None:
    record(creator.id, "follower.deleted", {"user": _person(user_id)})


# The membership fields member.updated reports, named as in its data.
_MEMBER_FIELDS = {
    "offering_id": "tier_id",
    "status": "status",
    "cancel_at_period_end": "cancel_at_period_end",
    "current_period_end": "current_period_end",
}


def _member(sub: Subscription) -> dict[str, Any]:
    return {
        "subscription_id": str(sub.id),
        "user": _person(sub.user_id),
        "tier_id": str(sub.offering_id),
        "price_id": str(sub.price_id),
        "status": sub.status,
        "cancel_at_period_end": sub.cancel_at_period_end,
        "current_period_end": _time(sub.current_period_end),
    }


def _shown(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value) if isinstance(value, uuid.UUID) else value


@billing.subscription_changed.connect
def _membership_changed(sub: Subscription, *, previous: dict[str, Any] | None, **kwargs: object) -> None:
    data = _member(sub)
    if previous is None:
        type_ = "member.created"
    elif "status" in previous and sub.status in FINAL_STATUSES:
        type_ = "member.deleted"
    else:
        type_ = "member.updated"
        data["previous_attributes"] = {_MEMBER_FIELDS[k]: _shown(v) for k, v in previous.items()}
    record(sub.creator_id, type_, data, key=f"member:{sub.id}" if previous is None else None)


def _purchase(purchase: Purchase) -> dict[str, Any]:
    """From the attributes `purchase_completed` promises."""
    return {
        "purchase_id": str(purchase.id),
        "user": _person(purchase.user_id),
        "offering_id": str(purchase.offering.id),
        "amount": _money(purchase.amount_minor, purchase.currency),
    }


@billing.purchase_completed.connect
def _purchased(purchase: Purchase, **kwargs: object) -> None:
    data = {**_purchase(purchase), "status": "paid"}
    record(purchase.creator_id, "purchase.completed", data, key=f"purchase:{purchase.id}")


@billing.purchase_refunded.connect
def _refunded(purchase: Purchase, *, previous_refunded_minor: int, **kwargs: object) -> None:
    data = {
        **_purchase(purchase),
        "status": purchase.status,
        "amount_refunded": _money(purchase.amount_refunded_minor, purchase.currency),
        "refunded_now": _money(purchase.amount_refunded_minor - previous_refunded_minor, purchase.currency),
    }
    record(purchase.creator_id, "purchase.refunded", data)


@billing.payment_recorded.connect
def _paid(payment: Payment, **kwargs: object) -> None:
    record(
        payment.creator_id,
        "payment.succeeded",
        {
            "payment_id": str(payment.id),
            "kind": payment.kind,
            "user": _person(payment.user_id),
            "offering_id": str(payment.offering_id) if payment.offering_id else None,
            "purchase_id": str(payment.purchase_id) if payment.purchase_id else None,
            "subscription_id": str(payment.subscription_id) if payment.subscription_id else None,
            "amount": _money(payment.amount_minor, payment.currency),
        },
        key=f"payment:{payment.id}",
    )


@billing.invoice_payment_failed.connect
def _payment_failed(sub: Subscription, **kwargs: object) -> None:
    record(sub.creator_id, "payment.failed", {"kind": "invoice", **_member(sub)})


# Built once: every message sent asks it.
_LIVE_CREATOR_OF = select(Creator.id).where(
    Creator.user_id == bindparam("user", type_=Creator.user_id.type), Creator.deleted_at.is_(None)
)


@messaging.message_sent.connect
def _message(message: Message, *, recipient_id: uuid.UUID, **kwargs: object) -> None:
    creator_id = db.session.scalar(_LIVE_CREATOR_OF, {"user": recipient_id})
    if creator_id is None:
        return  # written by the creator, or between two fans
    record(
        creator_id,
        "message.received",
        {
            "message_id": str(message.id),
            "conversation_id": str(message.conversation_id),
            "sender": _person(message.sender_id),
            "excerpt": message.body[:EXCERPT_CHARS],
            "sent_at": _time(message.created_at),
        },
    )
