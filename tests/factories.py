"""State for service-level tests, made through the services (no HTTP, no raw inserts).

Call these inside an app context (the `ctx` fixture). Each one does what the matching route
does and commits, so jobs run (inline, as in tests) and what it made is visible to the next
call, to requests and to jobs; the autouse cleanup empties the tables after the test. Payments
go through the local gateway, the test app's default: a checkout is started, paid on the
gateway, and fulfilled by the events the gateway emits, as in production.

    def test_something(ctx):
        seller = factories.creator()                     # onboarded: it can sell
        tier = factories.offering(seller, amount=900)    # published, 900 a month
        sub = factories.membership(factories.user(), tier.prices[0])

For the same through HTTP, see the fixtures in tests/conftest.py and tests/billing_helpers.py.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from service.accounts import service as accounts
from service.accounts.models import User
from service.billing import checkout, payouts
from service.billing.models import CheckoutSession, Purchase, Subscription
from service.catalog import service as catalog
from service.catalog.models import Offering, Price
from service.creators import service as creators
from service.creators.models import Creator
from service.extensions import db
from service.localpay.gateway import current_local_gateway

from .billing_helpers import CANCEL, SUCCESS
from .conftest import TEST_PASSWORD


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def signed_up(
    *, email: str | None = None, password: str = TEST_PASSWORD, display_name: str = "Test User"
) -> accounts.Tokens:
    """A new user, logged in: its tokens (`.user`, `.access_token`)."""
    tokens = accounts.sign_up(
        email=email or f"{_unique('user-')}@example.com", password=password, display_name=display_name
    )
    db.session.commit()
    return tokens


def user(**fields: Any) -> User:
    """A new user (fields as `signed_up`)."""
    return signed_up(**fields).user


def creator(
    owner: User | None = None,
    *,
    handle: str | None = None,
    currency: str = "eur",
    payouts_enabled: bool = True,
    **fields: Any,
) -> Creator:
    """A creator profile (of a new user unless `owner`), onboarded for payouts unless told not."""
    owner = owner or user(display_name="Creator")
    made = creators.create_creator(
        user=owner,
        handle=handle or _unique("c_"),
        display_name=fields.pop("display_name", owner.display_name),
        currency=currency,
        **fields,
    )
    db.session.commit()
    if payouts_enabled:
        onboard(made)
    return made


def onboard(made: Creator) -> None:
    """Finish payout onboarding on the local gateway: the creator can take charges."""
    url = payouts.start_onboarding(
        creator=made, return_url="https://app.example/done", refresh_url="https://app.example/again"
    )
    db.session.commit()
    current_local_gateway().complete_onboarding(url.rsplit("/", 1)[-1])
    db.session.commit()  # the account.updated event is processed now
    db.session.refresh(made)
    assert payouts.status(creator=made)["charges_enabled"], "onboarding did not enable charges"


def offering(
    owner: Creator,
    *,
    kind: str = "membership",
    amount: int = 500,
    price: dict[str, Any] | None = None,
    published: bool = True,
    **fields: Any,
) -> Offering:
    """An offering with one price (monthly for memberships, one-off otherwise; `price` sets
    `add_price`'s arguments), published unless told otherwise. Its price: `.prices[0]`."""
    made = catalog.create_offering(
        creator=owner, kind=kind, title=fields.pop("title", f"{kind} offering"), **fields
    )
    if price is None:
        price = {"type": "recurring", "interval": "month"} if kind == "membership" else {"type": "one_time"}
    catalog.add_price(offering=made, amount=amount, **price)
    if published:
        catalog.publish(offering=made)
    db.session.commit()
    return made


def add_price(
    of: Offering, *, amount: int, type: str = "recurring", interval: str | None = None, **fields: Any
) -> Price:
    """Another price of an offering: recurring monthly unless told otherwise
    (`interval_count`, `trial_days` as `catalog.add_price`)."""
    interval = interval or ("month" if type == "recurring" else None)
    made = catalog.add_price(offering=of, amount=amount, type=type, interval=interval, **fields)
    db.session.commit()
    return made


def checkout_paid(buyer: User, price: Price, **options: Any) -> CheckoutSession:
    """Check out `price` (options: `upgrade_offer_id`, `referral_code`) and pay on the local
    gateway; our checkout session, fulfilled by the gateway's events."""
    session = checkout.start_checkout(
        user=buyer, price_id=price.id, success_url=SUCCESS, cancel_url=CANCEL, **options
    )
    db.session.commit()
    current_local_gateway().pay(session.stripe_session_id or "")
    db.session.commit()  # checkout.session.completed and the rest are processed now
    db.session.refresh(session)
    assert session.status == "complete", session.status
    return session


def membership(buyer: User, price: Price, **options: Any) -> Subscription:
    """`buyer` subscribed to a recurring price, paid: our subscription row."""
    session = checkout_paid(buyer, price, **options)
    sub = db.session.get(Subscription, session.subscription_id)
    assert sub is not None, "the checkout made no subscription"
    return sub


def purchase(buyer: User, price: Price, **options: Any) -> Purchase:
    """`buyer` bought a one-off price, paid: our purchase row."""
    session = checkout_paid(buyer, price, **options)
    bought = db.session.scalar(select(Purchase).where(Purchase.checkout_session_id == session.id))
    assert bought is not None, "the checkout made no purchase"
    return bought


def simulate(sub: Subscription, action: str) -> None:
    """What `flask billing simulate` does at the local gateway: renew, fail or cancel."""
    current_local_gateway().simulate(sub.stripe_subscription_id, action)
    db.session.commit()  # its events are processed now
    db.session.refresh(sub)
