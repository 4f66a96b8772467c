"""The gateway on Stripe's API (stripe-python's StripeClient).

Creators are Connect Express accounts; charges are destination charges on the
platform with the platform's fee kept as an application fee. Every mutating
call carries an idempotency key derived from our own record, so a retried job
or request can never create a second charge, session or refund.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import stripe
from stripe.params import (
    AccountCreateParams,
    AccountLinkCreateParams,
    CouponCreateParams,
    CustomerCreateParams,
    InvoicePaymentListParams,
    PriceCreateParams,
    RefundCreateParams,
    SubscriptionScheduleCreateParams,
    SubscriptionScheduleUpdateParams,
    SubscriptionUpdateParams,
)
from stripe.params.billing_portal import SessionCreateParams as PortalSessionCreateParams
from stripe.params.checkout import SessionCreateParams, SessionCreateParamsSubscriptionData

from . import stripe_events
from .gateway import (
    Account,
    ChargeInfo,
    CheckoutInfo,
    CheckoutRequest,
    DisputeInfo,
    Gateway,
    GatewayError,
    InvoiceInfo,
    PaymentIntentInfo,
    RefundInfo,
    SubscriptionInfo,
    account_from,
    charge_from,
    checkout_from,
    dispute_from,
    invoice_from,
    payment_intent_from,
    refund_from,
    subscription_from,
)

T = TypeVar("T")

# The API version this code reads and writes; webhook endpoints must be created at the same one.
API_VERSION = "2026-10-28.endive"


def _call(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except stripe.StripeError as exc:
        # Stripe's message may carry internals; clients get our code, logs get the rest.
        raise GatewayError(f"Payment provider error ({type(exc).__name__}).") from exc


def _dict(obj: Any) -> dict[str, Any]:
    return obj.to_dict()


class StripeGateway:
    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        max_network_retries: int = 2,
        timeout: float = 10,
        webhook_secrets: Sequence[str] = (),
    ) -> None:
        # The endpoints' signing secrets (the platform's and Connect's); a webhook must carry one.
        self.webhook_secrets = list(webhook_secrets)
        bases: Any = {"api": api_base, "connect": api_base} if api_base else None
        self.client = stripe.StripeClient(
            api_key,
            stripe_version=API_VERSION,
            base_addresses=bases,
            # The client retries nothing unless told to; retries reuse the idempotency key.
            max_network_retries=max_network_retries,
            http_client=stripe.new_default_http_client(timeout=timeout),
        )

    def parse_event(self, payload: bytes, signature: str) -> dict[str, Any]:
        return stripe_events.verified_event(
            payload,
            signature,
            self.webhook_secrets,
            api_version=API_VERSION,
        )

    def create_customer(self, *, email: str, name: str, user_id: str, idempotency_key: str) -> str:
        params: CustomerCreateParams = {"email": email, "name": name, "metadata": {"user_id": user_id}}
        customer = _call(
            lambda: self.client.v1.customers.create(params, {"idempotency_key": idempotency_key})
        )
        return customer.id

    def create_connected_account(self, *, email: str, creator_id: str, idempotency_key: str) -> Account:
        params: AccountCreateParams = {
            "type": "express",
            "email": email,
            "capabilities": {"transfers": {"requested": True}, "card_payments": {"requested": True}},
            "metadata": {"creator_id": creator_id},
        }
        account = _call(lambda: self.client.v1.accounts.create(params, {"idempotency_key": idempotency_key}))
        return account_from(_dict(account))

    def retrieve_account(self, account_id: str) -> Account:
        return account_from(_dict(_call(lambda: self.client.v1.accounts.retrieve(account_id))))

    def create_onboarding_link(self, *, account_id: str, return_url: str, refresh_url: str) -> str:
        params: AccountLinkCreateParams = {
            "account": account_id,
            "type": "account_onboarding",
            "return_url": return_url,
            "refresh_url": refresh_url,
        }
        return _call(lambda: self.client.v1.account_links.create(params)).url

    def create_price(
        self,
        *,
        name: str,
        amount: int,
        currency: str,
        interval: str | None,
        interval_count: int | None,
        idempotency_key: str,
    ) -> tuple[str, str]:
        params: PriceCreateParams = {
            "unit_amount": amount,
            "currency": currency,
            "product_data": {"name": name},
        }
        if interval:
            params["recurring"] = {"interval": interval, "interval_count": interval_count or 1}
        price = _call(lambda: self.client.v1.prices.create(params, {"idempotency_key": idempotency_key}))
        product = price.product if isinstance(price.product, str) else price.product.id
        return price.id, product

    def create_checkout_session(self, request: CheckoutRequest) -> CheckoutInfo:
        params: SessionCreateParams = {
            "mode": request.mode,
            "customer": request.customer,
            "line_items": [{"price": request.provider_price, "quantity": 1}],
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "client_reference_id": request.client_reference_id,
            "metadata": request.metadata,
        }
        if request.mode == "payment":
            params["payment_intent_data"] = {
                "application_fee_amount": request.application_fee_amount or 0,
                "transfer_data": {"destination": request.destination},
                "metadata": request.metadata,
            }
        else:
            subscription_data: SessionCreateParamsSubscriptionData = {
                "application_fee_percent": request.application_fee_percent or 0,
                "transfer_data": {"destination": request.destination},
                "metadata": request.metadata,
            }
            if request.trial_days:
                subscription_data["trial_period_days"] = request.trial_days
            params["subscription_data"] = subscription_data
        if request.coupon:
            params["discounts"] = [{"coupon": request.coupon}]
        options = {"idempotency_key": request.idempotency_key}
        session = _call(lambda: self.client.v1.checkout.sessions.create(params, options))  # type: ignore[arg-type]
        return checkout_from(_dict(session))

    def retrieve_checkout_session(self, session_id: str) -> CheckoutInfo:
        return checkout_from(_dict(_call(lambda: self.client.v1.checkout.sessions.retrieve(session_id))))

    def create_portal_session(self, *, customer: str, return_url: str) -> str:
        params: PortalSessionCreateParams = {"customer": customer, "return_url": return_url}
        return _call(lambda: self.client.v1.billing_portal.sessions.create(params)).url

    def retrieve_subscription(self, subscription_id: str) -> SubscriptionInfo:
        return subscription_from(_dict(_call(lambda: self.client.v1.subscriptions.retrieve(subscription_id))))

    def _update(self, subscription_id: str, params: SubscriptionUpdateParams, key: str) -> SubscriptionInfo:
        options: Any = {"idempotency_key": key}
        return subscription_from(
            _dict(_call(lambda: self.client.v1.subscriptions.update(subscription_id, params, options)))
        )

    def set_cancel_at_period_end(
        self, subscription_id: str, *, cancel: bool, idempotency_key: str
    ) -> SubscriptionInfo:
        return self._update(subscription_id, {"cancel_at_period_end": cancel}, idempotency_key)

    def cancel_subscription_now(self, subscription_id: str, *, idempotency_key: str) -> SubscriptionInfo:
        options: Any = {"idempotency_key": idempotency_key}
        return subscription_from(
            _dict(
                _call(
                    lambda: self.client.v1.subscriptions.cancel(subscription_id, {"prorate": False}, options)
                )
            )
        )

    def upgrade_subscription(
        self, subscription_id: str, *, item_id: str, price: str, idempotency_key: str
    ) -> SubscriptionInfo:
        # Charged now; with pending_if_incomplete a failed payment leaves the old price in place.
        params: SubscriptionUpdateParams = {
            "items": [{"id": item_id, "price": price}],
            "proration_behavior": "always_invoice",
            "payment_behavior": "pending_if_incomplete",
        }
        return self._update(subscription_id, params, idempotency_key)

    def schedule_price_change(
        self, subscription_id: str, *, current_price: str, new_price: str, idempotency_key: str
    ) -> None:
        create: SubscriptionScheduleCreateParams = {"from_subscription": subscription_id}
        schedule = _call(
            lambda: self.client.v1.subscription_schedules.create(create, {"idempotency_key": idempotency_key})
        )
        phase = schedule.phases[0]
        update: SubscriptionScheduleUpdateParams = {
            "end_behavior": "release",
            "phases": [
                {
                    "items": [{"price": current_price}],
                    "start_date": phase.start_date,
                    "end_date": phase.end_date,
                },
                {"items": [{"price": new_price}]},
            ],
        }
        options: Any = {"idempotency_key": idempotency_key + ":phases"}
        _call(lambda: self.client.v1.subscription_schedules.update(schedule.id, update, options))

    def refund(self, *, payment_intent: str, amount: int, reason: str, idempotency_key: str) -> RefundInfo:
        params: RefundCreateParams = {
            "payment_intent": payment_intent,
            "amount": amount,
            # Destination charge: take the creator's share back in proportion.
            "reverse_transfer": True,
            "refund_application_fee": True,
            "metadata": {"reason": reason},
        }
        made = _call(lambda: self.client.v1.refunds.create(params, {"idempotency_key": idempotency_key}))
        return refund_from(_dict(made))

    def retrieve_invoice(self, invoice_id: str) -> InvoiceInfo:
        # Since basil an invoice names its payment intent only through its invoice payments.
        invoice = _call(lambda: self.client.v1.invoices.retrieve(invoice_id, {"expand": ["payments"]}))
        return invoice_from(_dict(invoice))

    def invoice_paid_by(self, payment_intent: str) -> str | None:
        params: InvoicePaymentListParams = {
            "payment": {"type": "payment_intent", "payment_intent": payment_intent},
            "limit": 1,
        }
        found = _call(lambda: self.client.v1.invoice_payments.list(params))
        for payment in found.data:
            return payment.invoice if isinstance(payment.invoice, str) else payment.invoice.id
        return None

    def retrieve_payment_intent(self, payment_intent: str) -> PaymentIntentInfo:
        return payment_intent_from(
            _dict(_call(lambda: self.client.v1.payment_intents.retrieve(payment_intent)))
        )

    def retrieve_charge(self, charge_id: str) -> ChargeInfo:
        charge = _call(lambda: self.client.v1.charges.retrieve(charge_id, {"expand": ["refunds"]}))
        return charge_from(_dict(charge))

    def retrieve_refund(self, refund_id: str) -> RefundInfo:
        return refund_from(_dict(_call(lambda: self.client.v1.refunds.retrieve(refund_id))))

    def retrieve_dispute(self, dispute_id: str) -> DisputeInfo:
        return dispute_from(_dict(_call(lambda: self.client.v1.disputes.retrieve(dispute_id))))

    def create_coupon(self, *, amount_off: int, currency: str, idempotency_key: str) -> str:
        params: CouponCreateParams = {
            "amount_off": amount_off,
            "currency": currency,
            "duration": "once",
            "max_redemptions": 1,
        }
        return _call(lambda: self.client.v1.coupons.create(params, {"idempotency_key": idempotency_key})).id

    def grant_free_period(self, subscription_id: str, *, idempotency_key: str) -> None:
        """The subscription's next invoice costs nothing: a 100 % coupon, once."""
        coupon: CouponCreateParams = {"percent_off": 100, "duration": "once", "max_redemptions": 1}
        made = _call(
            lambda: self.client.v1.coupons.create(coupon, {"idempotency_key": idempotency_key + ":coupon"})
        )
        self._update(subscription_id, {"discounts": [{"coupon": made.id}]}, idempotency_key)


if TYPE_CHECKING:
    # mypy checks that the Stripe gateway is a whole Gateway.
    _conforms: Gateway = StripeGateway("")
