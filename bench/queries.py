"""Time the hot read queries in process on a database filled by `bench.seed`, and show their plans.

    DATABASE_URL=postgresql://postgres@127.0.0.1/bench_big python -m bench.queries [--explain]

For the feed, discovery `?q=`, the big creator's conversation list and a page of
their longest conversation, their analytics summary (30 days, 2 years) and
time series (MRR per day over 90 days, members per month over 2 years): the median of
five calls of the service function (after one to warm up) and how many SQL
statements it ran; with --explain, EXPLAIN (ANALYZE, BUFFERS) of each statement.
The feed is read by the fan who follows or joined the most creators.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text

from service import create_app
from service.accounts.models import User
from service.analytics import queries as analytics
from service.common import clock
from service.content import service as content
from service.creators import discovery
from service.creators.models import Creator
from service.extensions import db
from service.messaging import conversations
from service.messaging.models import ConversationMember, Message

from .analytics import _explain, _median_ms, _statements
from .seed import BIG_HANDLE

BUSIEST_FAN = """
SELECT user_id FROM (
    SELECT user_id FROM follows UNION ALL SELECT user_id FROM subscriptions
) s GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 1
"""


def _routes() -> dict[str, Callable[[], Any]]:
    creator = db.session.scalars(select(Creator).where(Creator.handle == BIG_HANDLE)).one()
    owner = db.session.get(User, creator.user_id)
    db.session.execute(text("SET LOCAL statement_timeout = 0"))  # a one-off scan, not a request
    fan = db.session.get(User, db.session.scalar(text(BUSIEST_FAN)))
    db.session.execute(text("SET LOCAL statement_timeout = DEFAULT"))
    longest = db.session.scalar(
        select(Message.conversation_id)
        .join(ConversationMember, ConversationMember.conversation_id == Message.conversation_id)
        .where(ConversationMember.user_id == creator.user_id)
        .group_by(Message.conversation_id)
        .order_by(func.count().desc())
        .limit(1)
    )
    now = clock.utcnow()
    return {
        "feed": lambda: content.feed(user=fan, limit=20, cursor=None),
        "discovery ?q=teaching": lambda: discovery.search_creators(
            q="teaching", tag=None, limit=20, cursor=None
        ),
        "conversations, big creator": lambda: conversations.list_conversations(
            user=owner, limit=20, cursor=None
        ),
        "messages page 1, long conversation": lambda: conversations.list_messages(
            user=owner, conversation_id=longest, limit=20, cursor=None
        ),
        "analytics summary, 30 days, big creator": lambda: analytics.summary(
            creator=creator, start=now - timedelta(days=30), end=now, now=now
        ),
        "analytics summary, 2 years, big creator": lambda: analytics.summary(
            creator=creator, start=now - timedelta(days=730), end=now, now=now
        ),
        "analytics mrr per day, 90 days, big creator": lambda: analytics.timeseries(
            creator=creator, metric="mrr", interval="day", start=now - timedelta(days=90), end=now, now=now
        ),
        "analytics members per month, 2 years": lambda: analytics.timeseries(
            creator=creator,
            metric="members",
            interval="month",
            start=now - timedelta(days=730),
            end=now,
            now=now,
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--explain", action="store_true", help="print each statement's plan")
    args = parser.parse_args()
    app = create_app()
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            raise SystemExit("set DATABASE_URL to a PostgreSQL database filled by bench.seed")
        for name, work in _routes().items():
            statements = _statements(work)
            print(f"{name:42} {_median_ms(work):8.1f} ms  {len(statements)} statements", flush=True)
            if args.explain:
                _explain(statements)


if __name__ == "__main__":
    main()
