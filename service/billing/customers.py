"""A user's customer record at the provider: one per user, made on first checkout."""

from __future__ import annotations

from sqlalchemy import select

from ..accounts.models import User
from ..common.db import insert_or_ignore
from ..common.errors import NotFound
from ..extensions import db
from .gateway import current_gateway
from .models import Customer


def find_customer(user: User) -> Customer | None:
    return db.session.scalar(select(Customer).where(Customer.user_id == user.id))


def ensure_customer(user: User) -> str:
    """The provider's customer id for the user, creating it once (keyed on the user id)."""
    customer = find_customer(user)
    if customer is not None:
        return customer.stripe_customer_id
    provider_id = current_gateway().create_customer(
        email=user.email, name=user.display_name, user_id=str(user.id), idempotency_key=f"customer:{user.id}"
    )
    insert_or_ignore(db.session, Customer, {"user_id": user.id, "stripe_customer_id": provider_id})
    return find_customer(user).stripe_customer_id  # type: ignore[union-attr]


def open_portal(*, user: User, return_url: str) -> str:
    """A customer-portal link for the user's own customer record. Raises NotFound."""
    customer = find_customer(user)
    if customer is None:
        raise NotFound("You have no billing record yet; buy or subscribe first.")
    return current_gateway().create_portal_session(
        customer=customer.stripe_customer_id, return_url=return_url
    )
