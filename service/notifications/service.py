"""Notifications: created in the transaction of their cause, read in the app, and the
choices each user makes per kind."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, literal, select, tuple_, update

from .. import jobs
from ..common import clock
from ..common.db import insert_ignoring_conflicts, insert_or_ignore
from ..common.errors import Unprocessable
from ..common.pagination import keyset, page
from ..extensions import db
from .kinds import KINDS
from .models import Email, Notification, NotificationSetting

# One send job per this many e-mails: a 10 000-member post is 20 jobs, not 10 000.
SEND_BATCH = 500


class UnknownNotification(Unprocessable):
    code = "unknown_notification"
    title = "That notification is not one of yours"


class RequiredNotification(Unprocessable):
    code = "required_notification"
    title = "Receipts and refunds are always e-mailed"


@dataclass(frozen=True)
class Choice:
    email: bool
    in_app: bool


def choices(user_ids: Iterable[uuid.UUID], kind: str) -> dict[uuid.UUID, Choice]:
    """Each user's choice for a kind (one query for any number of users)."""
    default = KINDS[kind]
    ids = list(user_ids)
    found = {
        row.user_id: Choice(email=row.email or default.transactional, in_app=row.in_app)
        for row in db.session.execute(
            select(NotificationSetting).where(
                NotificationSetting.kind == kind, NotificationSetting.user_id.in_(ids)
            )
        ).scalars()
    }
    standard = Choice(email=default.email or default.transactional, in_app=default.in_app)
    return {user_id: found.get(user_id, standard) for user_id in ids}


def notify_many(
    user_ids: Iterable[uuid.UUID], kind: str, cause_key: str, data: dict[str, Any], *, email: bool = True
) -> list[uuid.UUID]:
    """Tell each user that this happened, once per (user, kind, cause): in the app, and by
    e-mail for those who want it (sent after commit, in batches). Returns the users told
    just now; those told before are left alone. Runs in the caller's transaction.

    `email=False` when the e-mail, if any, is decided later (a digest)."""
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        return []
    now = clock.utcnow()
    rows = [
        {
            "id": uuid.uuid4(),
            "user_id": u,
            "kind": kind,
            "cause_key": cause_key,
            "data": data,
            "created_at": now,
        }
        for u in ids
    ]
    stmt = insert_ignoring_conflicts(db.session, Notification).values(rows)
    new = dict(db.session.execute(stmt.returning(Notification.user_id, Notification.id)).tuples().all())
    if email and new:
        wanted = choices(new, kind)
        queue_emails(
            [
                {"key": f"notification:{new[u]}", "user_id": u, "kind": kind, "data": data}
                for u in new
                if wanted[u].email
            ]
        )
    return list(new)


def notify(
    user_id: uuid.UUID, kind: str, cause_key: str, data: dict[str, Any], *, email: bool = True
) -> bool:
    """`notify_many` for one user; True when it was new."""
    return bool(notify_many([user_id], kind, cause_key, data, email=email))


def queue_emails(emails: list[dict[str, Any]]) -> None:
    """Record e-mails to send (each once per key) and the jobs that send them after commit."""
    if not emails:
        return
    from .mail import send_emails  # mail imports this module (choices): imported here, not at the top

    now = clock.utcnow()
    rows = [{"id": uuid.uuid4(), "status": "pending", "attempts": 0, "created_at": now, **e} for e in emails]
    stmt = insert_ignoring_conflicts(db.session, Email).values(rows).returning(Email.id)
    new = [str(i) for i in db.session.scalars(stmt)]
    for start in range(0, len(new), SEND_BATCH):
        jobs.enqueue(send_emails, new[start : start + SEND_BATCH])


def queue_email(email: dict[str, Any]) -> None:
    queue_emails([email])


# Reading in the app ---------------------------------------------------------------


def _shown(user_id: uuid.UUID) -> Any:
    """The user's notifications of the kinds they keep in the app."""
    hidden = [s["kind"] for s in settings(user_id) if not s["in_app"]]
    condition = Notification.user_id == user_id
    return condition & Notification.kind.not_in(hidden) if hidden else condition


def list_notifications(*, user_id: uuid.UUID, limit: int, cursor: str | None) -> dict[str, Any]:
    """The user's notifications, newest first, and how many are unread."""
    shown = _shown(user_id)
    order = (Notification.created_at, Notification.id)
    rows = db.session.scalars(
        keyset(select(Notification).where(shown), order=order, limit=limit, cursor=cursor)
    )
    result = page(rows.all(), limit=limit, key=lambda n: (n.created_at, n.id))
    result["unread_count"] = db.session.scalar(
        select(func.count()).where(shown, Notification.read_at.is_(None))
    )
    return result


def mark_read(*, user_id: uuid.UUID, up_to_id: uuid.UUID) -> None:
    """Mark this notification and every older one read. Raises UnknownNotification."""
    upto = db.session.get(Notification, up_to_id)
    if upto is None or upto.user_id != user_id:
        raise UnknownNotification(errors={"up_to_id": ["Not one of your notifications."]})
    db.session.execute(
        update(Notification)
        .where(
            Notification.user_id == user_id,
            Notification.read_at.is_(None),
            tuple_(Notification.created_at, Notification.id)
            <= tuple_(literal(upto.created_at), literal(upto.id)),
        )
        .values(read_at=clock.utcnow())
        .execution_options(synchronize_session=False)
    )


# Settings -------------------------------------------------------------------------


def settings(user_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every kind with this user's choice (the default where they made none)."""
    chosen = {
        row.kind: row
        for row in db.session.scalars(
            select(NotificationSetting).where(NotificationSetting.user_id == user_id)
        )
    }
    result = []
    for kind in KINDS.values():
        row = chosen.get(kind.name)
        result.append(
            {
                "kind": kind.name,
                "description": kind.description,
                "email": kind.transactional or (row.email if row else kind.email),
                "in_app": row.in_app if row else kind.in_app,
                "email_required": kind.transactional,
            }
        )
    return result


def change_settings(user_id: uuid.UUID, changes: list[dict[str, Any]]) -> None:
    """Apply {kind, email?, in_app?} changes. Raises RequiredNotification for turning off
    the e-mail of a transactional kind."""
    current = {s["kind"]: s for s in settings(user_id)}
    for number, change in enumerate(changes):
        kind = KINDS[change["kind"]]
        if kind.transactional and change.get("email") is False:
            raise RequiredNotification(errors={"kinds": {number: {"email": ["Always sent."]}}})
    now = clock.utcnow()
    for change in changes:
        name = change["kind"]
        merged = {**current[name], **{k: v for k, v in change.items() if k in ("email", "in_app")}}
        current[name] = merged
        kind = KINDS[name]
        if merged["email"] == (kind.email or kind.transactional) and merged["in_app"] == kind.in_app:
            db.session.execute(
                delete(NotificationSetting).where(
                    NotificationSetting.user_id == user_id, NotificationSetting.kind == name
                )
            )
            continue
        values = {"email": merged["email"], "in_app": merged["in_app"], "updated_at": now}
        if not insert_or_ignore(
            db.session, NotificationSetting, {"user_id": user_id, "kind": name, **values}
        ):
            db.session.execute(
                update(NotificationSetting)
                .where(NotificationSetting.user_id == user_id, NotificationSetting.kind == name)
                .values(**values)
            )


def stop_emails(user_id: uuid.UUID, kinds: Iterable[str]) -> list[str]:
    """Turn off the e-mail of these kinds (leaving transactional ones on); the kinds changed."""
    optional = [k for k in kinds if not KINDS[k].transactional]
    change_settings(user_id, [{"kind": k, "email": False} for k in optional])
    return optional
