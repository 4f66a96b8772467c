"""The creator's member list as CSV, streamed in keyset batches."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import literal, select, tuple_

from ..accounts.models import User
from ..billing.models import Subscription
from ..catalog.models import Offering, Price
from ..extensions import db

EXPORT_BATCH = 1000
EXPORT_COLUMNS = (
    "subscriber",
    "tier",
    "price_amount",
    "price_currency",
    "price_interval",
    "price_interval_count",
    "status",
    "started_at",
    "current_period_end",
    "cancel_at_period_end",
)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    # A leading = + - @ (or tab, CR) makes a spreadsheet run the cell as a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _export_batch(creator_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None) -> list[Any]:
    stmt = (
        select(
            User.display_name,
            Offering.title,
            Price.amount_minor,
            Price.currency,
            Price.interval,
            Price.interval_count,
            Subscription.status,
            Subscription.started_at,
            Subscription.current_period_end,
            Subscription.cancel_at_period_end,
            Subscription.id,
        )
        .join(User, User.id == Subscription.user_id)
        .join(Offering, Offering.id == Subscription.offering_id)
        .join(Price, Price.id == Subscription.price_id)
        .where(Subscription.creator_id == creator_id)
        .order_by(Subscription.started_at, Subscription.id)
        .limit(EXPORT_BATCH)
    )
    if after is not None:
        stmt = stmt.where(
            tuple_(Subscription.started_at, Subscription.id) > tuple_(*(literal(v) for v in after))
        )
    return list(db.session.execute(stmt))


def _csv(rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([_cell(v) for v in row] for row in rows)
    return buffer.getvalue()


def export_members(*, creator_id: uuid.UUID) -> Iterator[str]:
    """The creator's subscriptions as CSV text, oldest first, one chunk per batch.
    Names and prices only: no e-mail addresses, no payment provider ids."""
    yield _csv([EXPORT_COLUMNS])
    after = None
    while True:
        rows = _export_batch(creator_id, after)
        # Each batch is its own short read, so a slow download holds no transaction open.
        db.session.rollback()
        if rows:
            yield _csv(row[:-1] for row in rows)
        if len(rows) < EXPORT_BATCH:
            return
        after = (rows[-1].started_at, rows[-1].id)
