"""Our prices at the provider: made on first use, then looked up."""

from __future__ import annotations

from sqlalchemy import select

from ..catalog.models import Price
from ..common.db import insert_or_ignore
from ..extensions import db
from .gateway import current_gateway
from .models import ProviderPrice


def provider_price_id(price: Price) -> str:
    """The provider's id for our price, creating it there the first time."""
    found = db.session.scalar(select(ProviderPrice.stripe_price_id).where(ProviderPrice.price_id == price.id))
    if found:
        return found
    provider_price, product = current_gateway().create_price(
        name=price.offering.title,
        amount=price.amount_minor,
        currency=price.currency,
        interval=price.interval,
        interval_count=price.interval_count,
        idempotency_key=f"price:{price.id}",
    )
    insert_or_ignore(
        db.session,
        ProviderPrice,
        {"price_id": price.id, "stripe_price_id": provider_price, "stripe_product_id": product},
    )
    return provider_price
