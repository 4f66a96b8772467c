"""Subscriptions: mirror the provider's state, and the subscriber's own actions.

Our row is a cache of the provider's subscription. It is only ever written from
a freshly retrieved copy (`sync_subscription`) or from the answer to our own
update call, never from a webhook payload, so event order cannot matter.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import joinedload

from ..accounts.models import User
from ..accounts.signals import user_deleted
from ..catalog.models import Offering, Price
from ..common import clock
from ..common.db import insert_or_ignore
from ..common.errors import Conflict, Forbidden, NotFound, Unprocessable
from ..common.ids import parse_uuid
from ..common.pagination import newest_first, newest_first_params, page, paginate
from ..creators.models import Creator
from ..extensions import db
from ..jobs import enqueue
from . import signals
from .access import count_membership_change, holders, locked_grants_membership
from .fees import platform_fee
from .gateway import InvoiceInfo, SubscriptionInfo, current_gateway
from .models import FINAL_STATUSES, LIVE_STATUSES, CheckoutSession, Payment, ProviderPrice, Subscription
from .prices import provider_price_id


class NotSubscriber(Forbidden):
    code = "not_subscriber"
    title = "Only the subscriber can change or cancel a subscription"


class NotChangeable(Conflict):
    code = "subscription_not_changeable"
    title = "This subscription cannot be changed in its current state"


class CannotResume(Conflict):
    code = "cannot_resume"
    title = "Only a subscription set to end at the period end can be resumed, before that end"


class InvalidTargetPrice(Unprocessable):
    code = "invalid_target_price"
    title = "Choose another active recurring price of the same creator"


def _our_price_id(provider_price: str | None, metadata: dict[str, str]) -> uuid.UUID | None:
    if provider_price:
        found = db.session.scalar(
            select(ProviderPrice.price_id).where(ProviderPrice.stripe_price_id == provider_price)
        )
        if found:
            return found
    return uuid.UUID(metadata["price_id"]) if metadata.get("price_id") else None


# What `subscription_changed` reports the previous values of.
ANNOUNCED = ("offering_id", "status", "cancel_at_period_end", "current_period_end")


def apply(sub: Subscription, info: SubscriptionInfo) -> None:
    """Copy the provider's current state onto our row, the change of membership onto the
    creator's member count, and announce what changed."""
    if sub.status in FINAL_STATUSES and info.status not in FINAL_STATUSES:
        return  # a final state is final; whatever says otherwise is stale
    granted = locked_grants_membership(sub.id)
    # A row never synced before was just admitted: its first state is news, not a change.
    before = None if sub.synced_at is None else {name: getattr(sub, name) for name in ANNOUNCED}
    _copy(sub, info)
    count_membership_change(sub, granted_before=granted)
    changed = before and {name: old for name, old in before.items() if getattr(sub, name) != old}
    if not sub.void_reason and (before is None or changed):
        signals.subscription_changed.send(sub, previous=changed or None)
    signals.subscription_stored.send(sub)


def _copy(sub: Subscription, info: SubscriptionInfo) -> None:
    now = clock.utcnow()
    if info.status == "past_due" and sub.status != "past_due":
        sub.past_due_since = now
    elif info.status != "past_due":
        sub.past_due_since = None
    price_id = _our_price_id(info.price, info.metadata)
    if price_id is not None and price_id != sub.price_id:
        sub.price_id = price_id
        sub.offering_id = db.session.get(Price, price_id).offering_id  # type: ignore[union-attr]
    if sub.pending_price_id and (sub.pending_price_id == sub.price_id or not info.pending_update):
        sub.pending_price_id = None  # the upgrade was paid, or it lapsed and the old price stays
    if sub.scheduled_price_id == sub.price_id:
        sub.scheduled_price_id = None
    sub.status = info.status
    sub.cancel_at_period_end = info.cancel_at_period_end
    sub.current_period_start = info.current_period_start
    sub.current_period_end = info.current_period_end
    sub.trial_end, sub.canceled_at, sub.ended_at = info.trial_end, info.canceled_at, info.ended_at
    sub.synced_at = now
    db.session.flush()


def _locked(stripe_subscription_id: str) -> Subscription | None:
    return db.session.scalar(
        select(Subscription)
        .where(Subscription.stripe_subscription_id == stripe_subscription_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def reconcile_live() -> tuple[int, list[tuple[str, str, str]]]:
    """Job, daily (and `flask billing reconcile`): re-read every subscription that is not
    final from the provider, one commit each. How many were read, and which changed."""
    ids = db.session.scalars(
        select(Subscription.stripe_subscription_id).where(Subscription.status.in_(LIVE_STATUSES))
    ).all()
    changes = []
    for stripe_id in ids:
        status = select(Subscription.status).where(Subscription.stripe_subscription_id == stripe_id)
        before = db.session.scalar(status)
        sync_subscription(stripe_id)
        db.session.commit()
        after = db.session.scalar(status)
        if before != after:
            changes.append((stripe_id, str(before), str(after)))
    return len(ids), changes


def sync_subscription(stripe_subscription_id: str) -> str | None:
    """Re-read a subscription from the gateway and upsert ours. Returns "unmatched"
    when the provider's subscription is not one of ours."""
    info = current_gateway().retrieve_subscription(stripe_subscription_id)
    sub = _locked(info.id)
    if sub is None:
        admitted = _admit(info)
        if admitted is None:
            return "unmatched"
        sub, info = admitted
    apply(sub, info)
    _link_checkout(sub, info)
    return None


# What our checkout puts on the subscriptions it creates.
_OUR_METADATA = ("user_id", "offering_id", "price_id")


def _admit(info: SubscriptionInfo) -> tuple[Subscription, SubscriptionInfo] | None:
    """Make our row for a subscription the provider has just created.

    The database allows one live membership per follower and creator (and one live
    subscription per offering); capacity is checked under a lock on the offering.
    A subscription refused by either — two tabs both paid, or the last seat taken
    meanwhile — is ended at once and its payment refunded, and the row says why.
    """
    user_id, offering_id, price_id = (parse_uuid(info.metadata.get(k)) for k in _OUR_METADATA)
    if user_id is None or offering_id is None or price_id is None:
        return None
    checkout_id = parse_uuid(info.metadata.get("checkout_session_id"))
    if checkout_id is not None:
        # Lock its checkout before the offering, in fulfil_checkout's order: linking the checkout
        # (below) while its fulfilment holds it and waits for the offering would deadlock.
        db.session.execute(
            select(CheckoutSession.id).where(CheckoutSession.id == checkout_id).with_for_update()
        )
    offering = db.session.scalar(select(Offering).where(Offering.id == offering_id).with_for_update())
    if offering is None:
        return None
    values = {
        "stripe_subscription_id": info.id,
        "user_id": user_id,
        "creator_id": offering.creator_id,
        "offering_id": offering.id,
        "price_id": price_id,
        "kind": offering.kind,
        "status": info.status,
        "cancel_at_period_end": False,
    }
    live = info.status in LIVE_STATUSES
    sold_out = live and offering.capacity is not None and holders(offering.id) >= offering.capacity
    if not sold_out and insert_or_ignore(db.session, Subscription, values):
        made = _must(info.id)
        count_membership_change(made, granted_before=False)
        return made, info
    raced = _locked(info.id)
    if raced is not None:  # a concurrent delivery made the same row
        return raced, info
    reason = "sold_out" if sold_out else "duplicate_membership"
    info = _void(info, reason)
    insert_or_ignore(db.session, Subscription, {**values, "status": info.status, "void_reason": reason})
    return _must(info.id), info


def _must(stripe_subscription_id: str) -> Subscription:
    sub = _locked(stripe_subscription_id)
    assert sub is not None
    return sub


def _void(info: SubscriptionInfo, reason: str) -> SubscriptionInfo:
    """End a subscription we must not keep, and give back what its first invoice took."""
    gateway = current_gateway()
    ended = gateway.cancel_subscription_now(info.id, idempotency_key=f"void:{info.id}")
    if info.latest_invoice:
        _refund_invoice(gateway.retrieve_invoice(info.latest_invoice), reason)
    return ended


def _refund_invoice(invoice: InvoiceInfo, reason: str) -> None:
    # Keyed on the invoice: refunded once, whether the subscription or its invoice is seen first.
    if invoice.payment_intent and invoice.amount_paid > 0:
        current_gateway().refund(
            payment_intent=invoice.payment_intent,
            amount=invoice.amount_paid,
            reason=reason,
            idempotency_key=f"void:{invoice.id}",
        )


def _link_checkout(sub: Subscription, info: SubscriptionInfo) -> None:
    session_id = parse_uuid(info.metadata.get("checkout_session_id"))
    if session_id:
        session = db.session.get(CheckoutSession, session_id)
        if session is not None and session.subscription_id is None:
            session.subscription_id = sub.id


def _invoice_with_subscription(invoice_id: str) -> tuple[InvoiceInfo, Subscription | None, str | None]:
    """The invoice from the provider and our subscription it bills, synced and locked; without one,
    the outcome to record ("ignored" for an invoice of no subscription, "unmatched" for not ours)."""
    invoice = current_gateway().retrieve_invoice(invoice_id)
    if not invoice.subscription:
        return invoice, None, "ignored"
    outcome = sync_subscription(invoice.subscription)
    return invoice, _locked(invoice.subscription), outcome


def record_invoice_paid(invoice_id: str) -> str | None:
    """Ledger row for a paid invoice (once per invoice id), read from the provider, then
    re-sync its subscription."""
    invoice, sub, outcome = _invoice_with_subscription(invoice_id)
    if sub is None:
        return outcome
    if invoice.status == "paid":
        sub.action_required_url = None
    if invoice.amount_paid <= 0:
        return None  # a trial or a fully discounted invoice: nothing received, nothing to credit
    currency = invoice.currency or sub.price.currency
    recorded = insert_or_ignore(
        db.session,
        Payment,
        {
            "stripe_invoice_id": invoice.id,
            "stripe_payment_intent_id": invoice.payment_intent,
            "kind": "invoice",
            "creator_id": sub.creator_id,
            "user_id": sub.user_id,
            "offering_id": sub.offering_id,
            "subscription_id": sub.id,
            "billing_reason": invoice.billing_reason,
            "amount_minor": invoice.amount_paid,
            "fee_minor": platform_fee(invoice.amount_paid),
            "currency": currency,
            "paid_at": clock.utcnow(),
        },
    )
    if sub.void_reason:
        _refund_invoice(invoice, sub.void_reason)
    elif recorded:
        payment = db.session.scalar(select(Payment).where(Payment.stripe_invoice_id == invoice.id))
        signals.payment_recorded.send(payment)
    return None


def record_payment_failed(stripe_subscription_id: str) -> str | None:
    """An invoice of the subscription was not paid: re-sync it and announce the failure."""
    outcome = sync_subscription(stripe_subscription_id)
    sub = _locked(stripe_subscription_id)
    if outcome is None and sub is not None and not sub.void_reason:
        signals.invoice_payment_failed.send(sub)
    return outcome


def record_trial_will_end(stripe_subscription_id: str) -> str | None:
    """The provider says the trial ends soon: re-sync the subscription and announce it, if it
    is still trialing toward an end that is still ahead."""
    outcome = sync_subscription(stripe_subscription_id)
    sub = _locked(stripe_subscription_id)
    if outcome is not None or sub is None or sub.void_reason:
        return outcome
    if sub.status == "trialing" and sub.trial_end and sub.trial_end > clock.utcnow():
        signals.trial_ending.send(sub, trial_end=sub.trial_end)
    return None


def record_action_required(invoice_id: str) -> str | None:
    """A renewal waits for the member to authenticate: show where, until the invoice is paid."""
    invoice, sub, outcome = _invoice_with_subscription(invoice_id)
    if sub is None:
        return outcome
    sub.action_required_url = invoice.hosted_invoice_url if invoice.status == "open" else None
    db.session.flush()
    return None


def had_trial(*, user_id: uuid.UUID, creator_id: uuid.UUID) -> bool:
    """One free trial per follower and creator, whatever became of it."""
    stmt = select(Subscription.id).where(
        Subscription.user_id == user_id,
        Subscription.creator_id == creator_id,
        Subscription.trial_end.is_not(None),
    )
    return db.session.scalar(stmt.limit(1)) is not None


def get_visible(*, viewer: User, subscription_id: uuid.UUID) -> Subscription:
    """A subscription seen by its subscriber or its creator. Raises NotFound."""
    sub = db.session.get(Subscription, subscription_id)
    if sub is None or viewer.id not in (sub.user_id, sub.creator.user_id):
        raise NotFound("No such subscription.")
    return sub


def get_own(*, user: User, subscription_id: uuid.UUID) -> Subscription:
    """The caller's own subscription, to act on. Its creator, who may see it, is refused
    (NotSubscriber); anyone else is told nothing (NotFound)."""
    sub = get_visible(viewer=user, subscription_id=subscription_id)
    if sub.user_id != user.id:
        raise NotSubscriber()
    return sub


def _key(sub: Subscription, action: str) -> str:
    # Same intent from the same observed state → same key; a later change gets a new one.
    marker = int((sub.synced_at or sub.created_at).timestamp() * 1000)
    return f"sub:{sub.id}:{action}:{marker}"


def cancel(*, sub: Subscription, at_period_end: bool) -> Subscription:
    """Cancel at the period end (access continues) or now (access ends). Raises NotChangeable."""
    if sub.status in FINAL_STATUSES:
        raise NotChangeable("The subscription has already ended.")
    gateway = current_gateway()
    if at_period_end:
        info = gateway.set_cancel_at_period_end(
            sub.stripe_subscription_id, cancel=True, idempotency_key=_key(sub, "cancel-at-end")
        )
    else:
        info = gateway.cancel_subscription_now(
            sub.stripe_subscription_id, idempotency_key=_key(sub, "cancel-now")
        )
    apply(sub, info)
    return sub


def resume(*, sub: Subscription) -> Subscription:
    """Undo a cancel-at-period-end while the period lasts. Raises CannotResume."""
    ends = sub.current_period_end
    if sub.status in FINAL_STATUSES or not sub.cancel_at_period_end or (ends and ends <= clock.utcnow()):
        raise CannotResume()
    info = current_gateway().set_cancel_at_period_end(
        sub.stripe_subscription_id, cancel=False, idempotency_key=_key(sub, "resume")
    )
    apply(sub, info)
    return sub


def _monthly(price: Price) -> Decimal:
    months = (price.interval_count or 1) * (12 if price.interval == "year" else 1)
    return Decimal(price.amount_minor) / months


def change(*, sub: Subscription, price_id: uuid.UUID) -> Subscription:
    """Move to another price of the same creator: an upgrade is charged now and applied
    once paid; a downgrade waits for the period end. Raises NotChangeable, InvalidTargetPrice."""
    if sub.status not in ("active", "trialing"):
        raise NotChangeable()
    target = db.session.get(Price, price_id)
    if (
        target is None
        or target.id == sub.price_id
        or not target.active
        or target.type != "recurring"
        or target.offering.creator_id != sub.creator_id
        or target.offering.status != "published"
        or target.offering.kind != sub.offering.kind
        or target.currency != sub.price.currency
    ):
        raise InvalidTargetPrice(errors={"price_id": ["Not a price you can change to."]})
    gateway = current_gateway()
    new_provider_price = provider_price_id(target)
    if _monthly(target) > _monthly(sub.price):
        info = gateway.retrieve_subscription(sub.stripe_subscription_id)
        sub.pending_price_id = target.id
        info = gateway.upgrade_subscription(
            sub.stripe_subscription_id,
            item_id=info.item_id or "",
            price=new_provider_price,
            idempotency_key=_key(sub, f"upgrade:{target.id}"),
        )
        apply(sub, info)
    else:
        gateway.schedule_price_change(
            sub.stripe_subscription_id,
            current_price=provider_price_id(sub.price),
            new_price=new_provider_price,
            idempotency_key=_key(sub, f"downgrade:{target.id}"),
        )
        sub.scheduled_price_id = target.id
        db.session.flush()
    return sub


# What a listed subscription shows besides itself: its creator and its subscriber.
# Many-to-one: joined into the page's own query rather than fetched by two more round trips.
_SHOWN_WITH = (
    joinedload(Subscription.creator, innerjoin=True),
    joinedload(Subscription.user, innerjoin=True),
)


def list_for_user(*, user: User, limit: int, cursor: str | None) -> dict[str, Any]:
    stmt = select(Subscription).where(Subscription.user_id == user.id).options(*_SHOWN_WITH)
    return paginate(stmt, order=(Subscription.created_at, Subscription.id), limit=limit, cursor=cursor)


def list_members(
    *, creator: Creator, status: str | None, offering_id: uuid.UUID | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    """The creator's subscriptions (all statuses unless filtered), newest first."""
    order = (Subscription.created_at, Subscription.id)
    params: dict[str, Any] = {"creator": creator.id, **newest_first_params(order, limit=limit, cursor=cursor)}
    if status:
        params["status"] = status
    if offering_id:
        params["offering"] = offering_id
    stmt = _members_page(status=bool(status), offering=bool(offering_id), after=cursor is not None)
    rows = db.session.scalars(stmt, params).all()
    return page(rows, limit=limit, key=lambda sub: (sub.created_at, sub.id))


@cache
def _members_page(*, status: bool, offering: bool, after: bool) -> Select[Any]:
    """A page of a creator's subscriptions, built once for each shape of filters and cursor.

    Only the subscriber is joined in: every row's creator is the page's owner, whom the
    session holds already, so the lazy load of `creator` is answered from the session
    (no SQL) instead of 30 columns read again on each of the rows."""
    creator = bindparam("creator", type_=Subscription.creator_id.type)
    stmt = select(Subscription).where(Subscription.creator_id == creator)
    if status:
        stmt = stmt.where(Subscription.status == bindparam("status", type_=Subscription.status.type))
    if offering:
        stmt = stmt.where(
            Subscription.offering_id == bindparam("offering", type_=Subscription.offering_id.type)
        )
    # Nothing else of the subscriber is shown (their own creator profile): not joined in.
    subscriber = joinedload(Subscription.user, innerjoin=True)
    stmt = stmt.options(subscriber, subscriber.lazyload("*"))
    return newest_first(stmt, Subscription.created_at, Subscription.id, after=after)


def cancel_all_for_user(user_id: str) -> None:
    """Job: set every live subscription of a (deleted) user to end at its period end."""
    subs = db.session.scalars(
        select(Subscription).where(
            Subscription.user_id == uuid.UUID(user_id),
            Subscription.status.in_(LIVE_STATUSES),
            Subscription.cancel_at_period_end.is_(False),
        )
    ).all()
    for sub in subs:
        cancel(sub=sub, at_period_end=True)
        db.session.commit()


@user_deleted.connect
def _end_subscriptions(user: User, **kwargs: object) -> None:
    """A deleted account's subscriptions end at their period end (after this commit)."""
    live = select(Subscription.id).where(
        Subscription.user_id == user.id, Subscription.status.in_(LIVE_STATUSES)
    )
    if db.session.scalars(live).first() is not None:
        enqueue(cancel_all_for_user, str(user.id))
