"""Time the creator analytics at 100 000 subscriptions on PostgreSQL.

    DATABASE_URL=postgresql://postgres@127.0.0.1/analytics_bench python -m bench.analytics [N]

Migrates an empty database, then fills it with generate_series: one creator
with N memberships (default 100 000) spread over three years across four prices
(month, month, year, every 3 months) — 70% active, 5% trialing, 3% past due,
2% unpaid, 20% canceled — up to three invoices each, 20 000 one-off purchases
and 0.8 N follows; a second creator with N/10 memberships is the neighbour the
indexes must skip. After VACUUM ANALYZE it prints the median of 5 runs of the
30-day and 2-year summaries and of 90-day daily time series, EXPLAIN ANALYZE of
every statement the 30-day summary runs, and the time to stream the member export.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import flask_migrate
from sqlalchemy import event, text

from service import create_app
from service.accounts.models import User
from service.analytics import queries
from service.catalog.models import Offering, Price
from service.common import clock
from service.creators.models import Creator
from service.extensions import db

RUNS = 5
TIERS = [
    ("Basic", 500, "month", 1),
    ("Pro", 1500, "month", 1),
    ("Annual", 9990, "year", 1),
    ("Quarterly", 1200, "month", 3),
]

USERS = """
INSERT INTO users (id, email, display_name, created_at)
SELECT md5('fan' || g)::uuid, 'fan-' || g || '@bench.example', 'Fan ' || g, :now - interval '4 years'
FROM generate_series(CAST(1 AS bigint), :users) g
"""

# Per membership g: an age of up to three years, a status by g % 100, a price by g % 4.
SUBSCRIPTIONS = """
INSERT INTO subscriptions (id, user_id, creator_id, offering_id, price_id, stripe_subscription_id, status,
                           cancel_at_period_end, current_period_start, current_period_end, trial_end,
                           canceled_at, ended_at, past_due_since, started_at, created_at)
SELECT gen_random_uuid(), md5('fan' || g)::uuid, :creator, t.offering_id, t.price_id,
       'sub_bench_' || :tag || '_' || g, s.status, false, s.started, s.started + interval '30 days',
       CASE WHEN s.status = 'trialing' OR g % 100 < 10 THEN s.started + interval '14 days' END,
       s.ended, s.ended,
       CASE WHEN s.status = 'past_due' THEN :now - (g % 10) * interval '1 day' END,
       s.started, s.started
FROM generate_series(CAST(1 AS bigint), :n) g
JOIN (SELECT * FROM unnest(CAST(:offerings AS uuid[]), CAST(:prices AS uuid[])) WITH ORDINALITY
      AS x(offering_id, price_id, k)) t ON t.k = g % :tiers + 1
CROSS JOIN LATERAL (
    SELECT CASE WHEN g % 100 < 70 THEN 'active' WHEN g % 100 < 75 THEN 'trialing'
                WHEN g % 100 < 78 THEN 'past_due' WHEN g % 100 < 80 THEN 'unpaid'
                ELSE 'canceled' END AS status,
           :now - ((g * 7919) % 1095) * interval '1 day' - (g % 86400) * interval '1 second' AS started
) s0
CROSS JOIN LATERAL (
    SELECT s0.status,
           CASE WHEN s0.status = 'trialing' THEN :now - (g % 14) * interval '1 day'
                ELSE s0.started END AS started,
           CASE WHEN s0.status = 'canceled'
                THEN s0.started + (:now - s0.started) * ((g % 7) + 1) / 8 END AS ended
) s
"""

INVOICES = """
INSERT INTO payments (id, creator_id, user_id, offering_id, kind, subscription_id, amount_minor, fee_minor,
                      refunded_minor, currency, paid_at, created_at)
SELECT gen_random_uuid(), s.creator_id, s.user_id, s.offering_id, 'invoice', s.id, p.amount_minor,
       p.amount_minor / 10, 0, p.currency, s.started_at + k * interval '30 days', s.started_at
FROM subscriptions s JOIN prices p ON p.id = s.price_id CROSS JOIN generate_series(0, 2) k
WHERE s.status <> 'trialing' AND s.started_at + k * interval '30 days' < coalesce(s.ended_at, :now)
"""

PURCHASES = """
INSERT INTO payments (id, creator_id, user_id, offering_id, kind, amount_minor, fee_minor, refunded_minor,
                      currency, paid_at, created_at)
SELECT gen_random_uuid(), :creator, md5('fan' || (g * 5 % :n + 1))::uuid, :offering, 'purchase', 2500, 250,
       CASE WHEN g % 10 = 0 THEN 1000 ELSE 0 END, 'eur',
       :now - ((g * 104729) % 1095) * interval '1 day', :now
FROM generate_series(CAST(1 AS bigint), 20000) g
"""

FOLLOWS = """
INSERT INTO follows (id, user_id, creator_id, created_at)
SELECT gen_random_uuid(), md5('fan' || g)::uuid, :creator, :now - ((g * 104729) % 1095) * interval '1 day'
FROM generate_series(CAST(1 AS bigint), :n) g WHERE g % 5 <> 0;
UPDATE creators SET follower_count = (SELECT count(*) FROM follows WHERE creator_id = :creator)
WHERE id = :creator
"""


def _creator(handle: str, tiers: list[tuple[str, int, str, int]]) -> tuple[Creator, list[Offering]]:
    user = User(email=f"{handle}@bench.example", display_name=handle)
    creator = Creator(user=user, handle=handle, display_name=handle, currency="eur")
    offerings = [
        Offering(creator=creator, kind="membership", title=title, status="published") for title, *_ in tiers
    ]
    for offering, (_, amount, interval, count) in zip(offerings, tiers, strict=True):
        offering.prices.append(
            Price(
                amount_minor=amount, currency="eur", type="recurring", interval=interval, interval_count=count
            )
        )
    db.session.add_all([creator, *offerings])
    db.session.flush()
    return creator, offerings


def _memberships(creator: Creator, offerings: list[Offering], n: int, tag: str) -> None:
    db.session.execute(
        text(SUBSCRIPTIONS),
        {
            "creator": creator.id,
            "offerings": [o.id for o in offerings],
            "prices": [o.prices[0].id for o in offerings],
            "tiers": len(offerings),
            "n": n,
            "tag": tag,
            "now": clock.utcnow(),
        },
    )


def fill(n: int) -> Creator:
    now = clock.utcnow()
    # The app's statement timeout is for requests, not for loading a benchmark.
    db.session.execute(text("SET LOCAL statement_timeout = 0"))
    big, tiers = _creator("bench_big", TIERS)
    small, small_tiers = _creator("bench_small", TIERS[:1])
    product = Offering(creator=big, kind="product", title="Pack", status="published")
    db.session.add(product)
    db.session.flush()
    db.session.execute(text(USERS), {"users": n, "now": now})
    _memberships(big, tiers, n, "big")
    _memberships(small, small_tiers, n // 10, "small")
    db.session.execute(text(INVOICES), {"now": now})
    db.session.execute(text(PURCHASES), {"creator": big.id, "offering": product.id, "n": n, "now": now})
    for statement in FOLLOWS.split(";"):
        db.session.execute(text(statement), {"creator": big.id, "n": n, "now": now})
    db.session.commit()
    return big


def _median_ms(work: Callable[[], Any]) -> float:
    work()  # warm the caches and the connection
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _statements(work: Callable[[], Any]) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        work()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return seen


def _timings(creator: Creator, now: datetime) -> Callable[[], Any]:
    month, quarter = now - timedelta(days=30), now - timedelta(days=90)

    def summary() -> Any:
        return queries.summary(creator=creator, start=month, end=now, now=now)

    print(f"summary, 30 days: {_median_ms(summary):.1f} ms (median of {RUNS})")
    two_years = now - timedelta(days=730)
    whole = _median_ms(lambda: queries.summary(creator=creator, start=two_years, end=now, now=now))
    print(f"summary, 2 years: {whole:.1f} ms")
    for metric in queries.SERIES:

        def series(metric: str = metric) -> Any:
            return queries.timeseries(
                creator=creator, metric=metric, interval="day", start=quarter, end=now, now=now
            )

        print(f"timeseries {metric}, 90 days by day: {_median_ms(series):.1f} ms")
    return summary


def _explain(statements: list[tuple[str, Any]]) -> None:
    print(f"\nthe summary runs {len(statements)} statements; their plans:")
    conn = db.session.connection()
    for statement, parameters in statements:
        print("\n" + statement)
        for (line,) in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters):
            print("  " + line)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    app = create_app()
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            raise SystemExit("set DATABASE_URL to an empty PostgreSQL database")
        flask_migrate.upgrade()
        started = time.perf_counter()
        creator = fill(n)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        print(f"filled {n} memberships in {time.perf_counter() - started:.1f} s")
        summary = _timings(creator, clock.utcnow())
        print(summary())
        _explain(_statements(summary))
        started = time.perf_counter()
        size = sum(len(chunk) for chunk in queries.export_members(creator_id=creator.id))
        print(f"\nmembers.csv: {size / 1e6:.1f} MB in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
