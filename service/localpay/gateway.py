"""A simulated payment provider for development and demos (`PAYMENTS_PROVIDER=local`).

It keeps Stripe-shaped objects in one table and announces changes as
Stripe-shaped events through the same inbox the real webhooks use, so every
handler downstream runs exactly as in production. A person pays on a page the
app serves (/local-checkout/<id>); renewals and failures come from
`flask billing simulate`.

Public: the `Gateway` protocol, and the page actions the routes and the CLI
use (`checkout_page`, `pay`, `abandon`, `open_onboarding`, `onboarding_link`,
`complete_onboarding`, `portal`, `simulate`). Everything with a leading
underscore is this module's own.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dateutil.relativedelta import relativedelta
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm.attributes import flag_modified

from ..billing.gateway import (
    Account,
    BadSignature,
    ChargeInfo,
    CheckoutInfo,
    CheckoutRequest,
    DisputeInfo,
    Gateway,
    InvoiceInfo,
    PaymentIntentInfo,
    RefundInfo,
    SubscriptionInfo,
    account_from,
    charge_from,
    checkout_from,
    current_gateway,
    dispute_from,
    invoice_from,
    payment_intent_from,
    refund_from,
    subscription_from,
)
from ..billing.webhooks import process_event, record_event
from ..common import clock
from ..common.db import insert_or_ignore
from ..common.errors import Conflict, NotFound
from ..creators.models import Creator
from ..extensions import db
from ..jobs import enqueue
from .models import LocalObject


def _new_id(prefix: str) -> str:
    return f"{prefix}_local_{secrets.token_hex(8)}"


def _now() -> int:
    return int(clock.utcnow().timestamp())


# Stripe lets an unpaid checkout session expire after 24 hours.
CHECKOUT_LIFETIME = 24 * 3600


class SubscriptionEnded(Conflict):
    code = "subscription_ended"
    title = "The subscription has ended; nothing more happens to it"


class NotTrialing(Conflict):
    code = "not_trialing"
    title = "Only a subscription in its free trial can be told its trial ends soon"


def _period_end(anchor: int, after: int, interval: str, count: int) -> int:
    """The first period boundary after `after`, counted in calendar months (or years) from the
    billing cycle anchor, as Stripe bills: Jan 31, Feb 28 (29), Mar 31, Apr 30."""
    start, now = datetime.fromtimestamp(anchor, UTC), datetime.fromtimestamp(after, UTC)
    step = relativedelta(years=count) if interval == "year" else relativedelta(months=count)
    periods = 1
    while start + step * periods <= now:
        periods += 1
    return int((start + step * periods).timestamp())


class LocalGateway:
    """Gateway protocol over local rows; every change also emits its event."""

    # Objects -------------------------------------------------------------
    def _save(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        row = db.session.get(LocalObject, data["id"])
        if row is None:
            db.session.add(LocalObject(id=data["id"], kind=kind, data=data))
        else:
            row.data = data
            flag_modified(row, "data")
        db.session.flush()
        return data

    def _once(self, key: str, kind: str, make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Same idempotency key, same object (and no second effect), as Stripe does."""
        claim_id = f"idempotency:{key}"
        if insert_or_ignore(db.session, LocalObject, {"id": claim_id, "kind": "idempotency_key", "data": {}}):
            made = make()
            claim = db.session.get(LocalObject, claim_id)
            assert claim is not None
            claim.data = {"kind": kind, "id": made["id"]}
            db.session.flush()
            return made
        claim = db.session.get(LocalObject, claim_id, populate_existing=True)
        assert claim is not None
        return self._get(claim.data["id"], claim.data["kind"])

    def _get(self, object_id: str, kind: str) -> dict[str, Any]:
        row = db.session.get(LocalObject, object_id)
        if row is None or row.kind != kind:
            raise NotFound(f"No such {kind}.")
        return dict(row.data)

    def _emit(self, event_type: str, obj: dict[str, Any], account: str | None = None) -> None:
        """Deliver an event as Stripe would, straight into the inbox (no webhook, no signature)."""
        event = {
            "id": _new_id("evt"),
            "object": "event",
            "type": event_type,
            "created": _now(),
            "livemode": False,
            "account": account,
            "data": {"object": obj},
        }
        record_event(event)
        enqueue(process_event, event["id"])

    def parse_event(self, payload: bytes, signature: str) -> dict[str, Any]:
        """The simulator takes no webhooks: its events reach the inbox as it makes them."""
        raise BadSignature()

    # Customers and accounts -------------------------------------------------
    def create_customer(self, *, email: str, name: str, user_id: str, idempotency_key: str) -> str:
        customer = {"id": _new_id("cus"), "email": email, "name": name}
        return self._once(idempotency_key, "customer", lambda: self._save("customer", customer))["id"]

    def create_connected_account(self, *, email: str, creator_id: str, idempotency_key: str) -> Account:
        account = {
            "id": _new_id("acct"),
            "charges_enabled": False,
            "payouts_enabled": False,
            "details_submitted": False,
            "requirements": {"currently_due": ["external_account"]},
        }
        return account_from(self._once(idempotency_key, "account", lambda: self._save("account", account)))

    def retrieve_account(self, account_id: str) -> Account:
        return account_from(self._get(account_id, "account"))

    def create_onboarding_link(self, *, account_id: str, return_url: str, refresh_url: str) -> str:
        link = {
            "id": _new_id("link"),
            "account": account_id,
            "return_url": return_url,
            "refresh_url": refresh_url,
            "opened": False,
            "used": False,
        }
        self._save("account_link", link)
        return f"{current_app.config['PUBLIC_BASE_URL']}/local-connect/{link['id']}"

    def open_onboarding(self, link_id: str) -> dict[str, Any]:
        """The creator opened the link. Like Stripe's, it works once: opened or used before,
        it comes back with `expired` set (the page sends them to `refresh_url` for a new one)."""
        link = self._get(link_id, "account_link")
        expired = bool(link.get("opened") or link.get("used"))
        if not expired:
            self._save("account_link", {**link, "opened": True})
        return {**link, "expired": expired}

    def complete_onboarding(self, link_id: str) -> str | None:
        """The creator finished the (simulated) onboarding form; returns where to go next, or
        None when the link was used already."""
        link = self._get(link_id, "account_link")
        if link.get("used"):
            return None
        self._save("account_link", {**link, "used": True})
        account = self._get(link["account"], "account")
        account.update(charges_enabled=True, payouts_enabled=True, details_submitted=True, requirements={})
        self._save("account", account)
        self._emit("account.updated", account, account=account["id"])
        return str(link["return_url"])

    def onboarding_link(self, link_id: str) -> dict[str, Any]:
        return self._get(link_id, "account_link")

    # Prices and checkout ----------------------------------------------------
    def create_price(
        self, *, name: str, amount: int, currency: str, interval: str | None, interval_count: int | None,
        idempotency_key: str,
    ) -> tuple[str, str]:  # fmt: skip
        def make() -> dict[str, Any]:
            product = self._save("product", {"id": _new_id("prod"), "name": name})
            recurring = {"interval": interval, "interval_count": interval_count or 1} if interval else None
            price = {"id": _new_id("price"), "product": product["id"], "unit_amount": amount,
                     "currency": currency, "recurring": recurring}  # fmt: skip
            return self._save("price", price)

        price = self._once(idempotency_key, "price", make)
        return price["id"], price["product"]

    def create_coupon(self, *, amount_off: int, currency: str, idempotency_key: str) -> str:
        coupon = {"id": _new_id("coupon"), "amount_off": amount_off, "currency": currency}
        return self._once(idempotency_key, "coupon", lambda: self._save("coupon", coupon))["id"]

    def create_checkout_session(self, request: CheckoutRequest) -> CheckoutInfo:
        session_id = _new_id("cs")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "url": f"{current_app.config['PUBLIC_BASE_URL']}/local-checkout/{session_id}",
            "status": "open",
            "payment_status": "unpaid",
            "mode": request.mode,
            "customer": request.customer,
            "price": request.provider_price,
            "metadata": request.metadata,
            "trial_days": request.trial_days,
            "coupon": request.coupon,
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "title": request.product_name,
            "amount": request.amount,
            "currency": request.currency,
            "expires_at": _now() + CHECKOUT_LIFETIME,
        }
        made = self._once(
            request.idempotency_key, "checkout_session", lambda: self._save("checkout_session", session)
        )
        return checkout_from(made)

    def _checkout(self, session_id: str) -> dict[str, Any]:
        """A checkout session as it stands now: one left open past its lifetime has expired,
        and says so with its event, as Stripe's do."""
        session = self._get(session_id, "checkout_session")
        if session["status"] == "open" and _now() >= int(session["expires_at"]):
            session["status"] = "expired"
            self._save("checkout_session", session)
            self._emit("checkout.session.expired", session)
        return session

    def retrieve_checkout_session(self, session_id: str) -> CheckoutInfo:
        return checkout_from(self._checkout(session_id))

    def _discount(self, session: dict[str, Any]) -> int:
        return int(self._get(session["coupon"], "coupon")["amount_off"]) if session.get("coupon") else 0

    def checkout_page(self, session_id: str) -> dict[str, Any]:
        """What the checkout page shows: the session, who sells, how the price recurs, the credit."""
        session = self._checkout(session_id)
        seller = db.session.get(Creator, uuid.UUID(session["metadata"]["creator_id"]))
        return {
            **session,
            "seller": seller.display_name if seller is not None else "",
            "recurring": self._get(session["price"], "price")["recurring"],
            "discount": self._discount(session),
        }

    def pay(self, session_id: str) -> str | None:
        """The buyer pressed Pay: complete the session as Stripe would; returns the success URL,
        or None when the session is no longer open (complete or expired): nothing is paid."""
        session = self._checkout(session_id)
        if session["status"] != "open":
            return None
        amount = max(int(session["amount"]) - self._discount(session), 0)
        session.update(status="complete", payment_status="paid", amount_total=amount)
        if session["mode"] == "payment":
            session["payment_intent"] = self._charge(amount, session["currency"], session["metadata"])["id"]
        else:
            sub = self._start_subscription(session, amount)
            session["subscription"], session["invoice"] = sub["id"], sub.get("latest_invoice")
        self._save("checkout_session", session)
        self._emit("checkout.session.completed", session)
        return str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session_id)

    def abandon(self, session_id: str) -> str | None:
        """The buyer pressed Cancel: the session expires; returns the cancel URL, or None when
        the session was no longer open."""
        session = self._checkout(session_id)
        if session["status"] != "open":
            return None
        session["status"] = "expired"
        self._save("checkout_session", session)
        self._emit("checkout.session.expired", session)
        return str(session["cancel_url"])

    # Subscriptions ----------------------------------------------------------
    def _start_subscription(self, session: dict[str, Any], first_amount: int) -> dict[str, Any]:
        price = self._get(session["price"], "price")
        start = _now()
        trial_days = session.get("trial_days") or 0
        # Periods count from the anchor: the trial's end, or the first payment.
        anchor = start + trial_days * 86400
        end = anchor if trial_days else _period_end(anchor, start, **self._recurrence(price))
        sub = {
            "id": _new_id("sub"),
            "object": "subscription",
            "customer": session["customer"],
            "status": "trialing" if trial_days else "active",
            "metadata": session["metadata"],
            "cancel_at_period_end": False,
            "billing_cycle_anchor": anchor,
            "trial_end": end if trial_days else None,
            "items": {
                "data": [
                    {
                        "id": _new_id("si"),
                        "price": {"id": price["id"]},
                        "current_period_start": start,
                        "current_period_end": end,
                    }
                ]
            },  # fmt: skip
        }
        self._save("subscription", sub)
        self._emit("customer.subscription.created", sub)
        if not trial_days:
            self._invoice(sub, first_amount, "subscription_create", paid=True)
        return sub

    @staticmethod
    def _recurrence(price: dict[str, Any]) -> dict[str, Any]:
        recurring = price["recurring"] or {"interval": "month", "interval_count": 1}
        return {"interval": recurring["interval"], "count": recurring["interval_count"]}

    def _charge(
        self, amount: int, currency: str, metadata: dict[str, Any], invoice: str | None = None
    ) -> dict[str, Any]:
        """A payment intent with its one charge, as a paid checkout or invoice leaves them."""
        intent = {
            "id": _new_id("pi"),
            "object": "payment_intent",
            "amount": amount,
            "currency": currency,
            "metadata": metadata,
            "invoice": invoice,
            "latest_charge": _new_id("ch"),
        }
        charge = {
            "id": intent["latest_charge"],
            "object": "charge",
            "payment_intent": intent["id"],
            "amount": amount,
            "amount_refunded": 0,
            "currency": currency,
            "refunds": {"object": "list", "data": []},
        }
        self._save("charge", charge)
        return self._save("payment_intent", intent)

    def _invoice(self, sub: dict[str, Any], amount: int, reason: str, *, paid: bool) -> None:
        price = self._get(sub["items"]["data"][0]["price"]["id"], "price")
        invoice: dict[str, Any] = {
            "id": _new_id("in"),
            "object": "invoice",
            "status": "paid" if paid else "open",
            "amount_paid": amount if paid else 0,
            "amount_due": amount,
            "currency": price["currency"],
            "billing_reason": reason,
            "attempt_count": 1,
            "parent": {"subscription_details": {"subscription": sub["id"]}},
            "payments": {"object": "list", "data": []},
        }
        if paid and amount > 0:
            intent = self._charge(amount, price["currency"], {}, invoice["id"])
            payment = {"status": "paid", "is_default": True,
                       "payment": {"type": "payment_intent", "payment_intent": intent["id"]}}  # fmt: skip
            invoice["payments"]["data"].append(payment)
        self._save("invoice", invoice)
        sub["latest_invoice"] = invoice["id"]
        self._save("subscription", sub)
        self._emit("invoice.paid" if paid else "invoice.payment_failed", invoice)

    def retrieve_invoice(self, invoice_id: str) -> InvoiceInfo:
        return invoice_from(self._get(invoice_id, "invoice"))

    def invoice_paid_by(self, payment_intent: str) -> str | None:
        return self._get(payment_intent, "payment_intent").get("invoice")

    def retrieve_payment_intent(self, payment_intent: str) -> PaymentIntentInfo:
        return payment_intent_from(self._get(payment_intent, "payment_intent"))

    def retrieve_charge(self, charge_id: str) -> ChargeInfo:
        return charge_from(self._get(charge_id, "charge"))

    def retrieve_refund(self, refund_id: str) -> RefundInfo:
        return refund_from(self._get(refund_id, "refund"))

    def retrieve_dispute(self, dispute_id: str) -> DisputeInfo:
        return dispute_from(self._get(dispute_id, "dispute"))

    def retrieve_subscription(self, subscription_id: str) -> SubscriptionInfo:
        return subscription_from(self._get(subscription_id, "subscription"))

    def _update_sub(
        self, sub: dict[str, Any], event: str = "customer.subscription.updated"
    ) -> SubscriptionInfo:
        self._save("subscription", sub)
        self._emit(event, sub)
        return subscription_from(sub)

    def set_cancel_at_period_end(
        self, subscription_id: str, *, cancel: bool, idempotency_key: str
    ) -> SubscriptionInfo:
        sub = self._get(subscription_id, "subscription")
        sub["cancel_at_period_end"] = cancel
        return self._update_sub(sub)

    def cancel_subscription_now(self, subscription_id: str, *, idempotency_key: str) -> SubscriptionInfo:
        sub = self._get(subscription_id, "subscription")
        if sub["status"] != "canceled":
            sub.update(status="canceled", canceled_at=_now(), ended_at=_now())
        return self._update_sub(sub, "customer.subscription.deleted")

    def upgrade_subscription(
        self, subscription_id: str, *, item_id: str, price: str, idempotency_key: str
    ) -> SubscriptionInfo:
        def make() -> dict[str, Any]:
            sub = self._get(subscription_id, "subscription")
            old = self._get(sub["items"]["data"][0]["price"]["id"], "price")
            new = self._get(price, "price")
            sub["items"]["data"][0]["price"] = {"id": price}
            # Simplified proration: the difference in price is charged at once.
            difference = max(int(new["unit_amount"]) - int(old["unit_amount"]), 0)
            self._invoice(sub, difference, "subscription_update", paid=True)
            self._update_sub(sub)
            return sub

        return subscription_from(self._once(idempotency_key, "subscription", make))

    def schedule_price_change(
        self, subscription_id: str, *, current_price: str, new_price: str, idempotency_key: str
    ) -> None:
        sub = self._get(subscription_id, "subscription")
        sub["scheduled_price"] = new_price
        self._save("subscription", sub)

    def grant_free_period(self, subscription_id: str, *, idempotency_key: str) -> None:
        def make() -> dict[str, Any]:
            sub = self._get(subscription_id, "subscription")
            sub["free_periods"] = int(sub.get("free_periods") or 0) + 1
            return self._save("subscription", sub)

        self._once(idempotency_key, "subscription", make)

    def create_portal_session(self, *, customer: str, return_url: str) -> str:
        portal = self._save(
            "portal_session", {"id": _new_id("bps"), "customer": customer, "return_url": return_url}
        )
        return f"{current_app.config['PUBLIC_BASE_URL']}/local-portal/{portal['id']}"

    def portal(self, portal_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        portal = self._get(portal_id, "portal_session")
        rows = db.session.scalars(select(LocalObject).where(LocalObject.kind == "subscription"))
        return portal, [r.data for r in rows if r.data["customer"] == portal["customer"]]

    def refund(self, *, payment_intent: str, amount: int, reason: str, idempotency_key: str) -> RefundInfo:
        def make() -> dict[str, Any]:
            charge = self._get(self._get(payment_intent, "payment_intent")["latest_charge"], "charge")
            refund = {
                "id": _new_id("re"),
                "object": "refund",
                "charge": charge["id"],
                "payment_intent": payment_intent,
                "amount": amount,
                "status": "succeeded",
                "metadata": {"reason": reason},
            }
            charge["amount_refunded"] = int(charge["amount_refunded"]) + amount
            charge["refunds"]["data"].append(refund)
            self._save("charge", charge)
            self._emit("charge.refunded", charge)
            return self._save("refund", refund)

        return refund_from(self._once(idempotency_key, "refund", make))

    # Simulation (flask billing simulate) ------------------------------------
    def simulate(self, subscription_id: str, action: str) -> None:
        """Renew, fail a payment of, or cancel a subscription, or say its trial ends soon (as
        Stripe does three days before). Raises SubscriptionEnded, NotTrialing."""
        sub = self._get(subscription_id, "subscription")
        if sub["status"] in ("canceled", "incomplete_expired"):
            raise SubscriptionEnded(f"Subscription {subscription_id} is {sub['status']}; it cannot {action}.")
        item = sub["items"]["data"][0]
        if action == "trial_will_end":
            if sub["status"] != "trialing":
                raise NotTrialing(f"Subscription {subscription_id} is {sub['status']}, not in a trial.")
            self._emit("customer.subscription.trial_will_end", sub)
            return
        if action == "cancel":
            self.cancel_subscription_now(subscription_id, idempotency_key="simulate")
            return
        if action == "fail":
            sub["status"] = "past_due"
            self._update_sub(sub)
            self._invoice(
                sub, self._get(item["price"]["id"], "price")["unit_amount"], "subscription_cycle", paid=False
            )
            return
        if sub.get("cancel_at_period_end"):
            sub.update(status="canceled", canceled_at=_now(), ended_at=item["current_period_end"])
            self._update_sub(sub, "customer.subscription.deleted")
            return
        if sub.get("scheduled_price"):
            item["price"] = {"id": sub.pop("scheduled_price")}
        price = self._get(item["price"]["id"], "price")
        start = item["current_period_end"]
        anchor = sub.get("billing_cycle_anchor", start)  # made before anchors were kept: from now on
        item.update(
            current_period_start=start,
            current_period_end=_period_end(anchor, start, **self._recurrence(price)),
        )
        sub.update(status="active", trial_end=None)
        amount = int(price["unit_amount"])
        if sub.get("free_periods"):
            sub["free_periods"], amount = int(sub["free_periods"]) - 1, 0
        self._update_sub(sub)
        self._invoice(sub, amount, "subscription_cycle", paid=True)


def current_local_gateway() -> LocalGateway:
    """The app's gateway as the simulator; only with PAYMENTS_PROVIDER=local."""
    gateway = current_gateway()
    if not isinstance(gateway, LocalGateway):
        raise RuntimeError("the local payment simulator runs with PAYMENTS_PROVIDER=local only")
    return gateway


if TYPE_CHECKING:
    # mypy checks that the simulator is a whole Gateway.
    _conforms: Gateway = LocalGateway()
