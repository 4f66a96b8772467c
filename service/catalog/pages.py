"""The shared creator page, from the cache, with an ETag.

Everyone without a token, and everyone with one but neither the owner nor a buyer of
one of its products, sees the same page of a creator, so it is rendered once
and kept for PAGE_TTL seconds under the handle's version. A committed change to
the creator, its tags, an offering, a price or its follower or member count bumps
the version, and the next reader renders afresh (a follow costs one render of the
page, a view none). The version is read before rendering, so a page rendered
while a change commits is stored under the old version and never served after
the bump.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from flask import current_app, request
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from ..accounts.models import User
from ..common.cache import bump_on_commit, versioned
from ..common.entitlements import current_entitlements
from ..creators import signals as creator_signals
from ..creators.handles import handle_problem, normalise_handle
from ..creators.models import Creator, CreatorTag
from ..extensions import db
from . import service
from .models import Offering, Price
from .schemas import CreatorPageSchema

PAGE_TTL = 30


def _page_key(handle: str) -> str:
    return f"creator-page:{handle}"


def _version_key(handle: str) -> str:
    return f"creator-page-version:{handle}"


def _shared(handle: str) -> tuple[bytes, bytes, list[uuid.UUID]]:
    """The page everyone without anything personal sees: its ETag, its JSON and the ids of
    its products (whose buyers see more). From the cache while its version is current.
    Raises NotFound."""
    key = normalise_handle(handle)
    if handle_problem(key):
        service.creator_page(handle=handle, viewer=None)  # raises NotFound, as for any unknown handle

    def render() -> bytes:
        page = CreatorPageSchema().dump(service.creator_page(handle=key, viewer=None))
        body = current_app.json.response(page).get_data()  # type: ignore[attr-defined]
        etag = hashlib.sha256(body).hexdigest()[:32].encode()
        products = ",".join(o["id"] for o in page["offerings"] if o["kind"] == "product").encode()
        return b"\n".join((etag, products, body))

    etag, products, body = versioned(_page_key(key), _version_key(key), PAGE_TTL, render).split(b"\n", 2)
    return etag, body, [uuid.UUID(i) for i in products.decode().split(",") if i]


def anonymous_page(handle: str) -> Response:
    """The page as JSON, 304 when the client's If-None-Match is current. Raises NotFound."""
    etag, body, _ = _shared(handle)
    response = current_app.response_class(body, mimetype="application/json")
    response.set_etag(etag.decode())
    # Token holders may see more (their own prices, what they bought): shared caches key on it.
    response.headers["Cache-Control"] = f"public, max-age={PAGE_TTL}"
    response.headers["Vary"] = "Authorization"
    return response.make_conditional(request)


def page_for(handle: str, viewer: User) -> Response | dict[str, Any]:
    """The page for a logged-in viewer: the shared one, unless they own the creator or
    bought one of its products (then its delivery is theirs to see), which is rendered for
    them. Raises NotFound."""
    own = viewer.creator  # type: ignore[attr-defined]
    if own is not None and own.handle == normalise_handle(handle):
        return service.creator_page(handle=handle, viewer=viewer)
    _, body, products = _shared(handle)
    if products and current_entitlements().delivered_offering_ids(viewer.id, products):
        return service.creator_page(handle=handle, viewer=viewer)
    # A token's answers are not stored anywhere (`Cache-Control: no-store`): no ETag.
    return current_app.response_class(body, mimetype="application/json")


def _handles_touched(session: Session) -> set[str]:
    handles: set[str] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        creator_id: Any = None
        if isinstance(obj, Creator):
            handles.add(obj.handle)
            handles.update(inspect(obj).attrs.handle.history.deleted or ())
        elif isinstance(obj, (Offering, CreatorTag)):
            creator_id = obj.creator_id
        elif isinstance(obj, Price):
            offering = session.get(Offering, obj.offering_id)
            creator_id = offering.creator_id if offering is not None else None
        if creator_id is not None:
            creator = session.get(Creator, creator_id)
            if creator is not None:
                handles.add(creator.handle)
    return handles


@event.listens_for(Session, "after_flush")
def _note_changes(session: Session, _context: Any) -> None:
    bump_on_commit(session, *(_version_key(handle) for handle in _handles_touched(session)))


@creator_signals.counts_changed.connect
def _note_new_count(creator_id: Any, **_: object) -> None:
    creator = db.session.get(Creator, creator_id)
    if creator is not None:
        bump_on_commit(db.session(), _version_key(creator.handle))
