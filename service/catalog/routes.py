"""Offerings, prices, and the public creator page."""

from __future__ import annotations

import uuid

from ..accounts.auth import auth_optional, auth_required, current_user, optional_user
from ..common.http import Blueprint
from ..common.pagination import page_schema
from ..common.reads import reads_only
from ..creators import service as creators
from ..extensions import db
from . import pages, service
from .schemas import (
    CreatorPageSchema,
    OfferingCreateSchema,
    OfferingListArgs,
    OfferingSchema,
    OfferingUpdateSchema,
    PriceCreateSchema,
    PriceSchema,
)

blp = Blueprint("catalog", __name__, url_prefix="/v1", description="What creators sell, and for how much")

OWNER_ERRORS = {403: "FORBIDDEN", 404: "NOT_FOUND"}


@blp.route("/creators/<string:handle>", methods=["GET"])
@auth_optional()
@blp.response(200, CreatorPageSchema)
@blp.doc(responses={404: "NOT_FOUND"})
@reads_only
def creator_page(handle: str):
    """A creator's page: profile, counts, and published offerings with their active prices

    Without a token the page is public: it carries an `ETag` (send it back in
    `If-None-Match` for a 304) and `Cache-Control: public, max-age=30`. With one it
    differs only for the owner and for buyers of the creator's products.
    """
    viewer = optional_user()
    if viewer is None:
        return pages.anonymous_page(handle)
    return pages.page_for(handle, viewer)


@blp.route("/creators/<string:handle>/offerings", methods=["POST"])
@auth_required("catalog")
@blp.arguments(OfferingCreateSchema)
@blp.response(201, OfferingSchema)
@blp.doc(responses=OWNER_ERRORS)
def create_offering(data, handle: str):
    """Add an offering (starts as a draft)"""
    creator = creators.get_owned(user=current_user(), handle=handle)
    offering = service.create_offering(creator=creator, **data)
    db.session.commit()
    return service.owner_view(offering)


@blp.route("/creators/<string:handle>/offerings", methods=["GET"])
@auth_optional()
@blp.arguments(OfferingListArgs, location="query")
@blp.response(200, page_schema(OfferingSchema))
@blp.doc(responses={404: "NOT_FOUND"})
def list_offerings(args, handle: str):
    """A creator's offerings, in tier order

    Everyone sees published offerings; the creator also sees drafts and
    archived ones and may filter by `status`.
    """
    creator = creators.get_by_handle(handle)
    return service.list_offerings(
        creator=creator,
        viewer=optional_user(),
        status=args.get("status"),
        limit=args["limit"],
        cursor=args["cursor"],
    )


@blp.route("/offerings/<uuid:offering_id>", methods=["GET"])
@auth_optional()
@blp.response(200, OfferingSchema)
@blp.doc(responses={404: "NOT_FOUND"})
def get_offering(offering_id: uuid.UUID):
    """One offering (published, or your own)"""
    return service.get_offering(offering_id=offering_id, viewer=optional_user())


@blp.route("/offerings/<uuid:offering_id>", methods=["PATCH"])
@auth_required("catalog")
@blp.arguments(OfferingUpdateSchema)
@blp.response(200, OfferingSchema)
@blp.doc(responses=OWNER_ERRORS)
def update_offering(data, offering_id: uuid.UUID):
    """Edit one of your offerings"""
    offering = service.get_owned_offering(user=current_user(), offering_id=offering_id)
    offering = service.update_offering(offering=offering, **data)
    db.session.commit()
    return service.owner_view(offering)


@blp.route("/offerings/<uuid:offering_id>/publish", methods=["POST"])
@auth_required("catalog")
@blp.response(200, OfferingSchema)
@blp.doc(responses={**OWNER_ERRORS, 422: "UNPROCESSABLE_ENTITY"})
def publish_offering(offering_id: uuid.UUID):
    """Publish an offering (it needs an active price)"""
    offering = service.publish(
        offering=service.get_owned_offering(user=current_user(), offering_id=offering_id)
    )
    db.session.commit()
    return service.owner_view(offering)


@blp.route("/offerings/<uuid:offering_id>/archive", methods=["POST"])
@auth_required("catalog")
@blp.response(200, OfferingSchema)
@blp.doc(responses=OWNER_ERRORS)
def archive_offering(offering_id: uuid.UUID):
    """Archive an offering: no new buyers, existing subscribers stay"""
    offering = service.archive(
        offering=service.get_owned_offering(user=current_user(), offering_id=offering_id)
    )
    db.session.commit()
    return service.owner_view(offering)


@blp.route("/offerings/<uuid:offering_id>/prices", methods=["POST"])
@auth_required("catalog")
@blp.arguments(PriceCreateSchema)
@blp.response(201, PriceSchema)
@blp.doc(responses=OWNER_ERRORS)
def add_price(data, offering_id: uuid.UUID):
    """Add a price to one of your offerings

    Prices never change: to charge another amount, add a new price and
    archive the old one. The currency is the creator's.
    """
    offering = service.get_owned_offering(user=current_user(), offering_id=offering_id)
    price = service.add_price(offering=offering, **data)
    db.session.commit()
    return price


@blp.route("/prices/<uuid:price_id>/archive", methods=["POST"])
@auth_required("catalog")
@blp.response(200, PriceSchema)
@blp.doc(responses={**OWNER_ERRORS, 422: "UNPROCESSABLE_ENTITY"})
def archive_price(price_id: uuid.UUID):
    """Archive a price: new buyers cannot choose it, existing subscribers keep it"""
    price = service.archive_price(price=service.get_owned_price(user=current_user(), price_id=price_id))
    db.session.commit()
    return price
