"""Discovery's answers, rendered once and shared for RESULTS_TTL seconds.

Discovery is the same for everyone (no token changes it), so a page of results is
kept as the JSON it was answered with, keyed by its arguments and stored with the
directory's version. A committed change to any creator's profile or tags bumps the
version, so an edit shows at once; follower counts, which only break ties in the
order, are left to the time to live rather than invalidating every search on every
follow.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from ..common.cache import bump_on_commit, versioned
from ..common.pagination import page_schema
from .discovery import search_creators
from .models import Creator, CreatorTag
from .schemas import CreatorSchema

RESULTS_TTL = 30
_VERSION_KEY = "discovery-version"


def _key(q: str | None, tag: str | None, limit: int, cursor: str | None) -> str:
    arguments = json.dumps([q, tag, limit, cursor], separators=(",", ":")).encode()
    return "discovery:" + hashlib.sha256(arguments).hexdigest()


def search_page(*, q: str | None, tag: str | None, limit: int, cursor: str | None) -> Response:
    """One page of discovery as JSON, from the cache while the directory's version is current."""

    def render() -> bytes:
        page = page_schema(CreatorSchema)().dump(search_creators(q=q, tag=tag, limit=limit, cursor=cursor))
        return current_app.json.response(page).get_data()  # type: ignore[attr-defined]

    body = versioned(_key(q, tag, limit, cursor), _VERSION_KEY, RESULTS_TTL, render)
    response = current_app.response_class(body, mimetype="application/json")
    response.headers["Cache-Control"] = f"public, max-age={RESULTS_TTL}"
    return response


@event.listens_for(Session, "after_flush")
def _note_profile_changes(session: Session, _context: Any) -> None:
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(obj, (Creator, CreatorTag)) for obj in changed):
        bump_on_commit(session, _VERSION_KEY)
