"""Follow, unfollow, who follows whom, and a user's access to a creator."""

from __future__ import annotations

from ..accounts.auth import auth_required, current_user
from ..common.http import Blueprint
from ..common.pagination import CursorArgs, page_schema
from ..common.reads import reads_only
from ..creators import service as creators
from ..creators.schemas import CreatorSchema
from ..extensions import db
from . import service
from .schemas import AccessSchema, FollowArgs, FollowerSchema

blp = Blueprint("followers", __name__, url_prefix="/v1", description="Free follows")


@blp.route("/creators/<string:handle>/follow", methods=["POST"])
@auth_required("messaging")
@blp.arguments(FollowArgs, location="query")
@blp.response(204)
@blp.doc(responses={404: "NOT_FOUND"})
def follow(args, handle: str):
    """Follow a creator (free; doing it again changes nothing)

    `ref` credits the person whose referral link brought you.
    """
    service.follow(user=current_user(), creator=creators.get_by_handle(handle), referral_code=args.get("ref"))
    db.session.commit()


@blp.route("/creators/<string:handle>/follow", methods=["DELETE"])
@auth_required("messaging")
@blp.response(204)
@blp.doc(responses={404: "NOT_FOUND"})
def unfollow(handle: str):
    """Stop following a creator"""
    service.unfollow(user=current_user(), creator=creators.get_by_handle(handle))
    db.session.commit()


@blp.route("/me/following", methods=["GET"])
@auth_required()
@blp.arguments(CursorArgs, location="query")
@blp.response(200, page_schema(CreatorSchema))
@reads_only
def list_following(args):
    """Creators you follow, most recent first"""
    return service.list_following(user=current_user(), limit=args["limit"], cursor=args["cursor"])


@blp.route("/creators/<string:handle>/followers", methods=["GET"])
@auth_required()
@blp.arguments(CursorArgs, location="query")
@blp.response(200, page_schema(FollowerSchema))
@blp.doc(responses={403: "FORBIDDEN", 404: "NOT_FOUND"})
@reads_only
def list_followers(args, handle: str):
    """Your followers, newest first (creator only)"""
    creator = creators.get_owned(user=current_user(), handle=handle)
    return service.list_followers(creator=creator, limit=args["limit"], cursor=args["cursor"])


@blp.route("/creators/<string:handle>/access", methods=["GET"])
@auth_required()
@blp.response(200, AccessSchema)
@blp.doc(responses={404: "NOT_FOUND"})
@reads_only
def access(handle: str):
    """What you have with this creator: following, membership, purchases"""
    return service.access(user=current_user(), creator=creators.get_by_handle(handle))
