"""The payment gateway port: what billing asks of Stripe, in our own terms.

Two implementations: `StripeGateway` (stripe-python, in `stripe_gateway.py`
with its webhook helper `stripe_events.py`) and `LocalGateway` (a simulated
provider for development, in `service.localpay`). Both speak Stripe's object
shapes, so one set of converters below turns either's answers into small
dataclasses, and the webhook handlers cannot tell which one produced an event.
Billing's routes, jobs and CLI reach the provider only through `current_gateway()`,
and no module but the Stripe gateway's imports `stripe`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from flask import current_app

from ..common.errors import DomainError


class GatewayError(DomainError):
    """The provider failed or refused; never shows the provider's own text."""

    status = 502
    code = "payment_provider_error"
    title = "The payment provider did not complete the request"
    headers = {"Retry-After": "5"}


class BadSignature(DomainError):
    status = 400
    code = "invalid_signature"
    title = "The webhook signature is missing, wrong or too old"


class MalformedEvent(DomainError):
    status = 400
    code = "invalid_event"
    title = "The signed body is not a Stripe event"


@dataclass(frozen=True)
class Account:
    id: str
    charges_enabled: bool
    payouts_enabled: bool
    details_submitted: bool
    requirements_due: list[str]
    disabled_reason: str | None


@dataclass(frozen=True)
class CheckoutInfo:
    id: str
    url: str | None
    status: str  # open | complete | expired
    payment_status: str  # paid | unpaid | no_payment_required
    mode: str
    customer: str | None
    subscription: str | None
    invoice: str | None  # the first invoice of a subscription checkout
    payment_intent: str | None
    amount_total: int | None
    currency: str | None
    metadata: dict[str, str]


@dataclass(frozen=True)
class SubscriptionInfo:
    id: str
    customer: str | None
    status: str
    item_id: str | None
    price: str | None  # provider price id
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    canceled_at: datetime | None
    ended_at: datetime | None
    trial_end: datetime | None
    pending_update: bool
    latest_invoice: str | None
    metadata: dict[str, str]


@dataclass(frozen=True)
class InvoiceInfo:
    id: str
    subscription: str | None
    status: str | None  # draft | open | paid | uncollectible | void
    amount_paid: int
    currency: str | None
    billing_reason: str | None
    payment_intent: str | None  # of the payment that paid it
    hosted_invoice_url: str | None


@dataclass(frozen=True)
class PaymentIntentInfo:
    id: str
    metadata: dict[str, str]


@dataclass(frozen=True)
class RefundInfo:
    id: str
    charge: str | None
    payment_intent: str | None
    amount: int
    status: str  # pending | requires_action | succeeded | failed | canceled
    failure_reason: str | None


@dataclass(frozen=True)
class ChargeInfo:
    id: str
    payment_intent: str | None
    amount: int
    amount_refunded: int  # succeeded and pending refunds; a failed refund gives its amount back
    currency: str | None
    refunds: list[RefundInfo]


@dataclass(frozen=True)
class DisputeInfo:
    id: str
    charge: str | None
    payment_intent: str | None
    status: str
    reason: str | None
    amount: int
    currency: str | None


@dataclass(frozen=True)
class CheckoutRequest:
    """Everything needed to open a hosted checkout for one price."""

    mode: str  # payment | subscription
    customer: str
    provider_price: str
    destination: str  # connected account
    application_fee_amount: int | None  # one-off
    application_fee_percent: float | None  # subscriptions
    success_url: str
    cancel_url: str
    client_reference_id: str
    metadata: dict[str, str]
    idempotency_key: str
    trial_days: int | None = None
    coupon: str | None = None
    product_name: str = ""
    amount: int = 0
    currency: str = ""
    interval: str | None = None
    interval_count: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Gateway(Protocol):
    def parse_event(self, payload: bytes, signature: str) -> dict[str, Any]:
        """The provider event a webhook body carries, as plain JSON values, once `signature`
        (the request's signature header) is checked. Raises BadSignature, MalformedEvent."""
        ...

    def create_customer(self, *, email: str, name: str, user_id: str, idempotency_key: str) -> str: ...

    def create_connected_account(self, *, email: str, creator_id: str, idempotency_key: str) -> Account: ...

    def retrieve_account(self, account_id: str) -> Account: ...

    def create_onboarding_link(self, *, account_id: str, return_url: str, refresh_url: str) -> str: ...

    def create_price(
        self,
        *,
        name: str,
        amount: int,
        currency: str,
        interval: str | None,
        interval_count: int | None,
        idempotency_key: str,
    ) -> tuple[str, str]: ...

    def create_checkout_session(self, request: CheckoutRequest) -> CheckoutInfo: ...

    def retrieve_checkout_session(self, session_id: str) -> CheckoutInfo: ...

    def create_portal_session(self, *, customer: str, return_url: str) -> str: ...

    def retrieve_subscription(self, subscription_id: str) -> SubscriptionInfo: ...

    def set_cancel_at_period_end(
        self, subscription_id: str, *, cancel: bool, idempotency_key: str
    ) -> SubscriptionInfo: ...

    def cancel_subscription_now(self, subscription_id: str, *, idempotency_key: str) -> SubscriptionInfo: ...

    def upgrade_subscription(
        self, subscription_id: str, *, item_id: str, price: str, idempotency_key: str
    ) -> SubscriptionInfo: ...

    def schedule_price_change(
        self, subscription_id: str, *, current_price: str, new_price: str, idempotency_key: str
    ) -> None: ...

    def refund(
        self, *, payment_intent: str, amount: int, reason: str, idempotency_key: str
    ) -> RefundInfo: ...

    def retrieve_invoice(self, invoice_id: str) -> InvoiceInfo: ...

    def invoice_paid_by(self, payment_intent: str) -> str | None:
        """The invoice a payment intent paid, if any."""
        ...

    def retrieve_payment_intent(self, payment_intent: str) -> PaymentIntentInfo: ...

    def retrieve_charge(self, charge_id: str) -> ChargeInfo: ...

    def retrieve_refund(self, refund_id: str) -> RefundInfo: ...

    def retrieve_dispute(self, dispute_id: str) -> DisputeInfo: ...

    def create_coupon(self, *, amount_off: int, currency: str, idempotency_key: str) -> str: ...

    def grant_free_period(self, subscription_id: str, *, idempotency_key: str) -> None: ...


def current_gateway() -> Gateway:
    return current_app.extensions["billing.gateway"]


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


def _id(value: Any) -> str | None:
    """An expandable field: an id string, or an object carrying one."""
    if isinstance(value, dict):
        return value.get("id")
    return value or None


def account_from(obj: dict[str, Any]) -> Account:
    requirements = obj.get("requirements") or {}
    due = sorted(set(requirements.get("currently_due") or []) | set(requirements.get("past_due") or []))
    return Account(
        id=obj["id"],
        charges_enabled=bool(obj.get("charges_enabled")),
        payouts_enabled=bool(obj.get("payouts_enabled")),
        details_submitted=bool(obj.get("details_submitted")),
        requirements_due=due,
        disabled_reason=requirements.get("disabled_reason"),
    )


def checkout_from(obj: dict[str, Any]) -> CheckoutInfo:
    return CheckoutInfo(
        id=obj["id"],
        url=obj.get("url"),
        status=obj.get("status") or "open",
        payment_status=obj.get("payment_status") or "unpaid",
        mode=obj.get("mode") or "payment",
        customer=_id(obj.get("customer")),
        subscription=_id(obj.get("subscription")),
        invoice=_id(obj.get("invoice")),
        payment_intent=_id(obj.get("payment_intent")),
        amount_total=obj.get("amount_total"),
        currency=obj.get("currency"),
        metadata=dict(obj.get("metadata") or {}),
    )


def subscription_from(obj: dict[str, Any]) -> SubscriptionInfo:
    items = (obj.get("items") or {}).get("data") or [{}]
    item = items[0]
    # Since the basil API versions, billing periods live on the items.
    start = item.get("current_period_start") or obj.get("current_period_start")
    end = item.get("current_period_end") or obj.get("current_period_end")
    return SubscriptionInfo(
        id=obj["id"],
        customer=_id(obj.get("customer")),
        status=obj["status"],
        item_id=item.get("id"),
        price=_id(item.get("price")),
        current_period_start=_ts(start),
        current_period_end=_ts(end),
        cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
        canceled_at=_ts(obj.get("canceled_at")),
        ended_at=_ts(obj.get("ended_at")),
        trial_end=_ts(obj.get("trial_end")),
        pending_update=bool(obj.get("pending_update")),
        latest_invoice=_id(obj.get("latest_invoice")),
        metadata=dict(obj.get("metadata") or {}),
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _listed(value: Any) -> list[dict[str, Any]]:
    """The objects of an expanded list (`{"object": "list", "data": [...]}`), else none."""
    data = value.get("data") if isinstance(value, dict) else None
    return [item for item in data or [] if isinstance(item, dict)]


def invoice_payment_intent(payments: list[dict[str, Any]]) -> str | None:
    """The payment intent that paid an invoice, from its (expanded) invoice payments."""
    paid = [p for p in payments if p.get("status") == "paid"] or payments
    paid.sort(key=lambda p: not p.get("is_default"))
    for payment in paid:
        intent = _id((payment.get("payment") or {}).get("payment_intent"))
        if intent:
            return intent
    return None


def invoice_from(obj: dict[str, Any]) -> InvoiceInfo:
    parent = (obj.get("parent") or {}).get("subscription_details") or {}
    return InvoiceInfo(
        id=obj["id"],
        subscription=_id(parent.get("subscription") or obj.get("subscription")),
        status=obj.get("status"),
        amount_paid=_int(obj.get("amount_paid")),
        currency=obj.get("currency"),
        billing_reason=obj.get("billing_reason"),
        payment_intent=invoice_payment_intent(_listed(obj.get("payments"))),
        hosted_invoice_url=obj.get("hosted_invoice_url"),
    )


def payment_intent_from(obj: dict[str, Any]) -> PaymentIntentInfo:
    return PaymentIntentInfo(id=obj["id"], metadata=dict(obj.get("metadata") or {}))


def refund_from(obj: dict[str, Any]) -> RefundInfo:
    return RefundInfo(
        id=obj["id"],
        charge=_id(obj.get("charge")),
        payment_intent=_id(obj.get("payment_intent")),
        amount=_int(obj.get("amount")),
        status=obj.get("status") or "pending",
        failure_reason=obj.get("failure_reason"),
    )


def charge_from(obj: dict[str, Any]) -> ChargeInfo:
    return ChargeInfo(
        id=obj["id"],
        payment_intent=_id(obj.get("payment_intent")),
        amount=_int(obj.get("amount")),
        amount_refunded=_int(obj.get("amount_refunded")),
        currency=obj.get("currency"),
        refunds=[refund_from(r) for r in _listed(obj.get("refunds"))],
    )


def dispute_from(obj: dict[str, Any]) -> DisputeInfo:
    return DisputeInfo(
        id=obj["id"],
        charge=_id(obj.get("charge")),
        payment_intent=_id(obj.get("payment_intent")),
        status=obj.get("status") or "needs_response",
        reason=obj.get("reason"),
        amount=_int(obj.get("amount")),
        currency=obj.get("currency"),
    )
