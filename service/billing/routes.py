"""Checkout, purchases, subscriptions, the customer portal, payouts and the Stripe webhook."""

from __future__ import annotations

import uuid

from flask import current_app, request

from ..accounts.auth import auth_required, current_user, per_user_key
from ..common.http import Blueprint
from ..common.pagination import CursorArgs, page_schema
from ..common.reads import reads_only
from ..creators import service as creators
from ..extensions import db, limiter
from ..jobs import enqueue
from . import checkout, customers, payouts, purchases, subscriptions, webhooks
from .gateway import current_gateway
from .idempotency import idempotent
from .schemas import (
    CancelSchema,
    ChangeSchema,
    CheckoutCreateSchema,
    CheckoutSessionSchema,
    MembersArgs,
    OnboardingSchema,
    PayoutStatusSchema,
    PortalCreateSchema,
    PurchaseSchema,
    RefundCreateSchema,
    SaleSchema,
    SubscriptionSchema,
    UrlSchema,
    WebhookAckSchema,
)

blp = Blueprint("billing", __name__, url_prefix="/v1", description="Checkout, subscriptions and payouts")

OWNER_ERRORS = {403: "FORBIDDEN", 404: "NOT_FOUND"}


@blp.route("/checkout/sessions", methods=["POST"])
@auth_required("billing")
@limiter.limit(lambda: current_app.config["RATELIMIT_CHECKOUT"], key_func=per_user_key)
@idempotent
@blp.arguments(CheckoutCreateSchema)
@blp.response(201, CheckoutSessionSchema)
@blp.doc(responses={404: "NOT_FOUND", 409: "CONFLICT", 429: "TOO_MANY_REQUESTS", 502: "BAD_GATEWAY"})
def create_checkout_session(data):
    """Start paying for a price

    Returns the hosted checkout page to send the buyer to. A second request
    for the same price within 30 minutes returns the same open session.
    """
    session = checkout.start_checkout(user=current_user(), **data)
    db.session.commit()
    return session


@blp.route("/checkout/sessions/<uuid:session_id>", methods=["GET"])
@auth_required()
@blp.response(200, CheckoutSessionSchema)
@blp.doc(responses={404: "NOT_FOUND"})
def get_checkout_session(session_id: uuid.UUID):
    """A checkout session you started, with what it bought once complete"""
    session = checkout.get_for_buyer(user=current_user(), session_id=session_id)
    db.session.commit()
    return session


@blp.route("/me/purchases", methods=["GET"])
@auth_required()
@blp.arguments(CursorArgs, location="query")
@blp.response(200, page_schema(PurchaseSchema))
@reads_only
def list_my_purchases(args):
    """Your one-off purchases, newest first"""
    return purchases.list_for_user(user=current_user(), limit=args["limit"], cursor=args["cursor"])


@blp.route("/me/subscriptions", methods=["GET"])
@auth_required()
@blp.arguments(CursorArgs, location="query")
@blp.response(200, page_schema(SubscriptionSchema))
@reads_only
def list_my_subscriptions(args):
    """Your subscriptions, newest first"""
    return subscriptions.list_for_user(user=current_user(), limit=args["limit"], cursor=args["cursor"])


@blp.route("/subscriptions/<uuid:subscription_id>", methods=["GET"])
@auth_required()
@blp.response(200, SubscriptionSchema)
@blp.doc(responses={404: "NOT_FOUND"})
def get_subscription(subscription_id: uuid.UUID):
    """A subscription (its subscriber or its creator)"""
    return subscriptions.get_visible(viewer=current_user(), subscription_id=subscription_id)


@blp.route("/subscriptions/<uuid:subscription_id>/cancel", methods=["POST"])
@auth_required("billing")
@idempotent
@blp.arguments(CancelSchema)
@blp.response(200, SubscriptionSchema)
@blp.doc(responses={403: "FORBIDDEN", 404: "NOT_FOUND", 409: "CONFLICT", 502: "BAD_GATEWAY"})
def cancel_subscription(data, subscription_id: uuid.UUID):
    """Cancel your subscription

    By default it ends at the period end and access continues until then;
    `at_period_end: false` ends it, and access, now.
    """
    sub = subscriptions.get_own(user=current_user(), subscription_id=subscription_id)
    sub = subscriptions.cancel(sub=sub, at_period_end=data["at_period_end"])
    db.session.commit()
    return sub


@blp.route("/subscriptions/<uuid:subscription_id>/resume", methods=["POST"])
@auth_required("billing")
@blp.response(200, SubscriptionSchema)
@blp.doc(responses={403: "FORBIDDEN", 404: "NOT_FOUND", 409: "CONFLICT", 502: "BAD_GATEWAY"})
def resume_subscription(subscription_id: uuid.UUID):
    """Keep a subscription you had set to end, while its period lasts"""
    sub = subscriptions.resume(
        sub=subscriptions.get_own(user=current_user(), subscription_id=subscription_id)
    )
    db.session.commit()
    return sub


@blp.route("/subscriptions/<uuid:subscription_id>/change", methods=["POST"])
@auth_required("billing")
@idempotent
@blp.arguments(ChangeSchema)
@blp.response(200, SubscriptionSchema)
@blp.doc(responses={403: "FORBIDDEN", 404: "NOT_FOUND", 409: "CONFLICT", 502: "BAD_GATEWAY"})
def change_subscription(data, subscription_id: uuid.UUID):
    """Move to another tier or price of the same creator

    An upgrade is charged now (prorated) and applies once paid
    (`pending_price_id` meanwhile); a downgrade applies at the period end
    (`scheduled_change`).
    """
    sub = subscriptions.get_own(user=current_user(), subscription_id=subscription_id)
    sub = subscriptions.change(sub=sub, price_id=data["price_id"])
    db.session.commit()
    return sub


@blp.route("/billing/portal", methods=["POST"])
@auth_required("billing")
@blp.arguments(PortalCreateSchema)
@blp.response(201, UrlSchema)
@blp.doc(responses={404: "NOT_FOUND", 502: "BAD_GATEWAY"})
def create_portal_session(data):
    """Open the payment provider's customer portal (cards, invoices, cancellations)"""
    url = customers.open_portal(user=current_user(), return_url=data["return_url"])
    db.session.commit()
    return {"url": url}


@blp.route("/creators/<string:handle>/members", methods=["GET"])
@auth_required()
@blp.arguments(MembersArgs, location="query")
@blp.response(200, page_schema(SubscriptionSchema))
@blp.doc(responses=OWNER_ERRORS)
@reads_only
def list_members(args, handle: str):
    """Your subscribers, newest first (creator only); filter by `status` and `offering_id`"""
    creator = creators.get_owned(user=current_user(), handle=handle)
    return subscriptions.list_members(
        creator=creator,
        status=args.get("status"),
        offering_id=args.get("offering_id"),
        limit=args["limit"],
        cursor=args["cursor"],
    )


@blp.route("/creators/<string:handle>/sales", methods=["GET"])
@auth_required()
@blp.arguments(CursorArgs, location="query")
@blp.response(200, page_schema(SaleSchema))
@blp.doc(responses=OWNER_ERRORS)
@reads_only
def list_sales(args, handle: str):
    """Money you received: one-off purchases and paid invoices, newest first"""
    creator = creators.get_owned(user=current_user(), handle=handle)
    return purchases.list_sales(creator=creator, limit=args["limit"], cursor=args["cursor"])


@blp.route("/purchases/<uuid:purchase_id>/refund", methods=["POST"])
@auth_required("billing")
@idempotent
@blp.arguments(RefundCreateSchema)
@blp.response(200, PurchaseSchema)
@blp.doc(responses={403: "FORBIDDEN", 404: "NOT_FOUND", 502: "BAD_GATEWAY"})
def refund_purchase(data, purchase_id: uuid.UUID):
    """Refund a purchase in full or in part (creator); a full refund ends access to a product"""
    purchase = purchases.get_for_creator(user=current_user(), purchase_id=purchase_id)
    purchase = purchases.refund(purchase=purchase, amount=data.get("amount"))
    db.session.commit()
    return purchase


@blp.route("/creators/<string:handle>/payouts/onboarding", methods=["POST"])
@auth_required("billing")
@blp.arguments(OnboardingSchema)
@blp.response(201, UrlSchema)
@blp.doc(responses={**OWNER_ERRORS, 502: "BAD_GATEWAY"})
def start_payout_onboarding(data, handle: str):
    """Get a one-time link to set up payouts with the payment provider"""
    creator = creators.get_owned(user=current_user(), handle=handle)
    url = payouts.start_onboarding(creator=creator, **data)
    db.session.commit()
    return {"url": url}


@blp.route("/creators/<string:handle>/payouts", methods=["GET"])
@auth_required()
@blp.response(200, PayoutStatusSchema)
@blp.doc(responses={**OWNER_ERRORS, 502: "BAD_GATEWAY"})
def payout_status(handle: str):
    """Whether you can take payments and receive payouts, and what the provider still needs"""
    creator = creators.get_owned(user=current_user(), handle=handle)
    result = payouts.status(creator=creator)
    db.session.commit()
    return result


@blp.route("/webhooks/stripe", methods=["POST"])
@blp.response(200, WebhookAckSchema)
@blp.doc(responses={400: "BAD_REQUEST"}, security=[])
def stripe_webhook():
    """Receive a Stripe event (signed with the endpoint secret)

    The event is stored before anything else and then applied; a repeated
    event id is acknowledged and not applied again.
    """
    signature = request.headers.get("Stripe-Signature", "")
    event = current_gateway().parse_event(request.get_data(cache=False), signature)
    if (event.get("livemode") is True) != current_app.config["STRIPE_LIVEMODE"]:
        return {"received": True, "duplicate": False}  # another environment's event: acknowledge, ignore
    new = webhooks.record_event(event)
    if new:
        enqueue(webhooks.process_event, event["id"])
    db.session.commit()
    return {"received": True, "duplicate": not new}
