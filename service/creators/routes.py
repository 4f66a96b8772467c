"""Creator profiles and discovery. The full creator page (with offerings) is
served by the catalog, which knows both."""

from __future__ import annotations

from ..accounts.auth import auth_required, current_user
from ..common.http import Blueprint
from ..common.pagination import page_schema
from ..common.reads import reads_only
from ..extensions import db
from . import search_cache, service
from .schemas import (
    CreatorCreateSchema,
    CreatorOwnerSchema,
    CreatorSchema,
    CreatorUpdateSchema,
    DiscoveryArgs,
)

blp = Blueprint("creators", __name__, url_prefix="/v1", description="Creator profiles and discovery")


@blp.route("/creators", methods=["POST"])
@auth_required("catalog")
@blp.arguments(CreatorCreateSchema)
@blp.response(201, CreatorOwnerSchema)
@blp.doc(responses={409: "CONFLICT"})
def create_creator(data):
    """Become a creator

    The handle is normalised (NFKC, lower case) and must then match
    `^[a-z0-9_]{3,30}$`; look-alike and invisible characters are refused.
    """
    creator = service.create_creator(user=current_user(), **data)
    db.session.commit()
    return creator


@blp.route("/creators", methods=["GET"])
@blp.arguments(DiscoveryArgs, location="query")
@blp.response(200, page_schema(CreatorSchema))
@reads_only
def discover_creators(args):
    """Find creators by words (`q`) and/or a tag

    Ranked by text relevance, then by number of followers. The same for everyone, so
    answers are shared for up to 30 seconds (`Cache-Control: public, max-age=30`): a
    profile change shows at once, a new follower count within that time.
    """
    return search_cache.search_page(
        q=args.get("q"), tag=args.get("tag"), limit=args["limit"], cursor=args["cursor"]
    )


@blp.route("/creators/<string:handle>", methods=["PATCH"])
@auth_required("catalog")
@blp.arguments(CreatorUpdateSchema)
@blp.response(200, CreatorOwnerSchema)
@blp.doc(responses={403: "FORBIDDEN", 404: "NOT_FOUND"})
def update_creator(data, handle: str):
    """Edit your creator profile"""
    creator = service.get_owned(user=current_user(), handle=handle)
    creator = service.update_creator(creator=creator, **data)
    db.session.commit()
    return creator
