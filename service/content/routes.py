"""Creators' posts, and the feed of the creators a user follows."""

from __future__ import annotations

from ..accounts.auth import auth_optional, auth_required, current_user, optional_user
from ..common.http import Blueprint
from ..common.pagination import CursorArgs, page_schema
from ..common.reads import reads_only
from ..creators import service as creators
from ..extensions import db
from . import service
from .schemas import PostCreateSchema, PostSchema

blp = Blueprint("content", __name__, url_prefix="/v1", description="Posts for followers and members")


@blp.route("/creators/<string:handle>/posts", methods=["POST"])
@auth_required("catalog")
@blp.arguments(PostCreateSchema)
@blp.response(201, PostSchema)
@blp.doc(responses={403: "FORBIDDEN", 404: "NOT_FOUND", 422: "UNPROCESSABLE_ENTITY"})
def create_post(data, handle: str):
    """Publish a post on your page, for everyone, followers, members or chosen tiers"""
    creator = creators.get_owned(user=current_user(), handle=handle)
    post = service.create_post(creator=creator, **data)
    db.session.commit()
    return service.PostView(post, readable=True)  # its author


@blp.route("/creators/<string:handle>/posts", methods=["GET"])
@auth_optional()
@blp.arguments(CursorArgs, location="query")
@blp.response(200, page_schema(PostSchema))
@blp.doc(responses={404: "NOT_FOUND"})
@reads_only
def list_posts(args, handle: str):
    """A creator's posts, newest first

    Posts the caller may not read are listed as teasers: `locked` is true and
    `body` is null.
    """
    return service.list_posts(
        creator=creators.get_by_handle(handle),
        viewer=optional_user(),
        limit=args["limit"],
        cursor=args["cursor"],
    )


@blp.route("/feed", methods=["GET"])
@auth_required()
@blp.arguments(CursorArgs, location="query")
@blp.response(200, page_schema(PostSchema))
@reads_only
def feed(args):
    """Posts of the creators you follow or are a member of, newest first

    Posts you may not read are included as teasers (`locked`, no `body`).
    """
    return service.feed(user=current_user(), limit=args["limit"], cursor=args["cursor"])
