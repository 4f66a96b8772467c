"""Offerings and prices: create, publish, archive, and the public creator page."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ..accounts.models import User
from ..common import clock
from ..common.entitlements import current_entitlements
from ..common.errors import NotFound, Unprocessable
from ..common.pagination import paginate
from ..creators import service as creators
from ..creators.models import Creator
from ..creators.schemas import CreatorSchema
from ..extensions import db
from .models import Offering, Price, sells


class NoActivePrice(Unprocessable):
    code = "no_active_price"
    title = "Add an active price before publishing"


class MembershipPriceMustRecur(Unprocessable):
    code = "membership_price_not_recurring"
    title = "Membership prices must be recurring"


class PriceMustBeOneTime(Unprocessable):
    code = "price_not_one_time"
    title = "Services and products are sold once; only memberships have recurring prices"


class DeliveryOnlyForProducts(Unprocessable):
    code = "delivery_only_for_products"
    title = "Only products have a delivery"


class OfferingArchived(Unprocessable):
    code = "offering_archived"
    title = "The offering is archived"


class LastActivePrice(Unprocessable):
    code = "last_active_price"
    title = "A published offering needs an active price; add another or archive the offering"


@dataclass(frozen=True)
class OfferingView:
    """An offering and what one viewer may see of it: what `OfferingSchema` dumps.

    Both flags start closed, so a view made without asking shows the least."""

    offering: Offering
    # Archived prices too (its creator, outside the storefront); otherwise active ones only.
    sees_all_prices: bool = False
    # The product's delivery (its creator, or a buyer who keeps it); otherwise null.
    sees_delivery: bool = False


def owner_view(offering: Offering) -> OfferingView:
    """An offering as its creator sees it when managing it: everything."""
    return OfferingView(offering, sees_all_prices=True, sees_delivery=True)


def seen_by(
    offerings: Iterable[Offering], *, viewer: User | None, storefront: bool = False
) -> list[OfferingView]:
    """What this viewer may see of each offering: owners everything (but the storefront
    shows everyone active prices only), buyers of a product its delivery."""
    offerings = list(offerings)
    owned = {o.id for o in offerings if creators.is_owner(viewer, o.creator)}
    products = [o.id for o in offerings if o.kind == "product" and o.id not in owned]
    bought: set[uuid.UUID] = set()
    if viewer is not None and products:
        bought = current_entitlements().delivered_offering_ids(viewer.id, products)
    return [
        OfferingView(
            offering,
            sees_all_prices=offering.id in owned and not storefront,
            sees_delivery=offering.id in owned or offering.id in bought,
        )
        for offering in offerings
    ]


def create_offering(*, creator: Creator, kind: str, title: str, **fields: Any) -> Offering:
    """Add a draft offering. Raises DeliveryOnlyForProducts."""
    if fields.get("delivery") is not None and kind != "product":
        raise DeliveryOnlyForProducts(errors={"delivery": ["Only products have a delivery."]})
    offering = Offering(creator=creator, kind=kind, title=title, status="draft", **fields)
    db.session.add(offering)
    db.session.flush()
    return offering


def _visible(offering: Offering | None, viewer: User | None) -> bool:
    if offering is None or offering.creator.deleted_at is not None:
        return False
    return offering.status == "published" or creators.is_owner(viewer, offering.creator)


def _get_visible(offering_id: uuid.UUID, viewer: User | None) -> Offering:
    offering = db.session.get(Offering, offering_id)
    if not _visible(offering, viewer):
        raise NotFound("No such offering.")
    assert offering is not None
    return offering


def get_offering(*, offering_id: uuid.UUID, viewer: User | None) -> OfferingView:
    """A published offering, or any of the viewer's own, as the viewer may see it. Raises NotFound."""
    (view,) = seen_by([_get_visible(offering_id, viewer)], viewer=viewer)
    return view


def get_owned_offering(*, user: User, offering_id: uuid.UUID) -> Offering:
    """One of the user's own offerings. Raises NotFound, NotOwner."""
    offering = _get_visible(offering_id, user)
    if not creators.is_owner(user, offering.creator):
        raise creators.NotOwner()
    return offering


def update_offering(*, offering: Offering, **changes: Any) -> Offering:
    """Edit an offering's texts, capacity, rank or delivery. Raises DeliveryOnlyForProducts."""
    if changes.get("delivery") is not None and offering.kind != "product":
        raise DeliveryOnlyForProducts(errors={"delivery": ["Only products have a delivery."]})
    for name, value in changes.items():
        setattr(offering, name, value)
    db.session.flush()
    return offering


def publish(*, offering: Offering) -> Offering:
    """Make an offering buyable. Raises NoActivePrice."""
    if not any(p.active for p in offering.prices):
        raise NoActivePrice()
    if offering.status != "published":
        offering.status, offering.published_at, offering.archived_at = "published", clock.utcnow(), None
    db.session.flush()
    return offering


def archive(*, offering: Offering) -> Offering:
    """Stop selling an offering; existing buyers and subscribers keep what they have."""
    if offering.status != "archived":
        offering.status, offering.archived_at = "archived", clock.utcnow()
    db.session.flush()
    return offering


def add_price(
    *,
    offering: Offering,
    amount: int,
    type: str,
    interval: str | None = None,
    interval_count: int | None = None,
    trial_days: int | None = None,
) -> Price:
    """Add a price in the creator's currency. Raises MembershipPriceMustRecur,
    PriceMustBeOneTime, OfferingArchived."""
    if offering.status == "archived":
        raise OfferingArchived()
    if not sells(offering.kind, type):
        if offering.kind == "membership":
            raise MembershipPriceMustRecur(errors={"type": ["Membership prices must be recurring."]})
        raise PriceMustBeOneTime(errors={"type": [f"A {offering.kind} is sold at a one_time price."]})
    price = Price(
        offering=offering,
        amount_minor=amount,
        currency=offering.creator.currency,
        type=type,
        interval=interval,
        interval_count=(interval_count or 1) if type == "recurring" else None,
        trial_days=trial_days,
        active=True,
    )
    db.session.add(price)
    db.session.flush()
    return price


def get_owned_price(*, user: User, price_id: uuid.UUID) -> Price:
    """One of the user's own prices. Raises NotFound, NotOwner."""
    price = db.session.get(Price, price_id)
    if price is None or not _visible(price.offering, user):
        raise NotFound("No such price.")
    if not creators.is_owner(user, price.offering.creator):
        raise creators.NotOwner()
    return price


def archive_price(*, price: Price) -> Price:
    """Stop offering a price to new buyers. Raises LastActivePrice."""
    offering = price.offering
    others = [p for p in offering.prices if p.active and p.id != price.id]
    if price.active and offering.status == "published" and not others:
        raise LastActivePrice()
    price.active, price.archived_at = False, price.archived_at or clock.utcnow()
    db.session.flush()
    return price


def list_offerings(
    *, creator: Creator, viewer: User | None, status: str | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    """A creator's offerings in display order; others see only published ones."""
    stmt = select(Offering).where(Offering.creator_id == creator.id)
    if not creators.is_owner(viewer, creator):
        stmt = stmt.where(Offering.status == "published")
    elif status:
        stmt = stmt.where(Offering.status == status)
    order = (Offering.rank, Offering.created_at, Offering.id)
    result = paginate(stmt, order=order, limit=limit, cursor=cursor, descending=False)
    result["data"] = seen_by(result["data"], viewer=viewer)
    return result


def creator_page(*, handle: str, viewer: User | None) -> dict[str, Any]:
    """Profile, counts and published offerings with active prices, in a fixed number of queries."""
    creator = creators.get_by_handle(handle)
    offerings = db.session.scalars(
        select(Offering)
        .where(Offering.creator_id == creator.id, Offering.status == "published")
        .order_by(Offering.rank, Offering.created_at, Offering.id)
    ).all()
    on_sale = [o for o in offerings if any(p.active for p in o.prices)]
    profile = {name: getattr(creator, name) for name in CreatorSchema().fields}
    return {
        **profile,
        "member_count": creator.member_count,
        "offerings": seen_by(on_sale, viewer=viewer, storefront=True),
    }


def tier_ids_of(*, creator_id: uuid.UUID, ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these ids are membership offerings (tiers) of the creator."""
    if not ids:
        return set()
    stmt = select(Offering.id).where(
        Offering.id.in_(list(ids)), Offering.creator_id == creator_id, Offering.kind == "membership"
    )
    return set(db.session.scalars(stmt))


def unknown_tiers(*, creator: Creator, tier_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """Which of these ids are not membership offerings (tiers) of the creator."""
    known = tier_ids_of(creator_id=creator.id, ids=tier_ids)
    return [i for i in tier_ids if i not in known]
