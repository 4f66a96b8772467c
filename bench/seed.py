"""Fill a PostgreSQL database with a data set at real size, by bulk SQL.

    DATABASE_URL=postgresql://postgres@127.0.0.1/bench_big python -m bench.seed --scale 1.0
    DATABASE_URL=... python -m bench.seed --scale 0.01 --replace   # a quick one, over old data

At scale 1: 10 000 creators (3 published tiers and a product each, one price
each, a Connect account that takes charges), 310 000 users (the creators and
300 000 fans, each with a customer record), 1 000 000 memberships (200 000 of
them with the big creator, the rest three per fan at most across the others;
70% active, 5% trialing, 3% past due, 2% unpaid, 20% canceled), one paid
invoice per membership that ever paid, 1 000 000 follows (200 000 of the big
creator), 100 000 posts, and 5 000 conversations of the big creator holding
100 000 messages, 20 000 of them in one conversation. The analytics roll-up is
then rebuilt from those tables (`rollup.rebuild`), as after a migration.

Ids are md5 of a name and number, so every row can be addressed without a
lookup (`user_id(n)` below). Every user's password is PASSWORD (one argon2 hash
reused). The schema is made by the migrations first; the database must be
empty unless --replace. The last line printed is the big creator's login:

    big creator: handle=<h> email=<e> password=<p>
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import flask_migrate
from flask import current_app
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from service import create_app
from service.analytics import rollup
from service.common import clock
from service.common.security import hash_password
from service.extensions import db

PASSWORD = "bench password 123"  # noqa: S105 - a benchmark account's, printed on purpose
BIG_HANDLE = "bench_big"
SMALL_HANDLE = "creator_2"
# A word in about one creator's bio in ten, for discovery search.
TOPICS = (
    "teaching", "music", "painting", "cooking", "fitness", "poetry", "gaming", "travel", "coding", "film"
)  # fmt: skip


@dataclass(frozen=True)
class Sizes:
    creators: int
    users: int
    big_members: int
    other_members: int
    big_follows: int
    other_follows: int
    posts: int
    big_posts: int
    conversations: int
    long_conversation: int
    messages: int

    @classmethod
    def at(cls, scale: float) -> Sizes:
        def n(full: int, least: int) -> int:
            return max(least, round(full * scale))

        creators = n(10_000, 4)
        fans = n(300_000, 50)
        conversations = n(5_000, 5)
        long_conversation = n(20_000, 50)
        return cls(
            creators=creators,
            users=creators + fans,
            big_members=min(fans, n(200_000, 40)),
            other_members=min(3 * fans, n(800_000, 100)),
            big_follows=min(fans, n(200_000, 40)),
            other_follows=min(3 * fans, n(800_000, 100)),
            posts=n(100_000, 100),
            big_posts=n(2_000, 20),
            conversations=min(fans, conversations),
            long_conversation=long_conversation,
            messages=max(n(100_000, 100), long_conversation + 2 * (conversations - 1)),
        )

    @property
    def fans(self) -> int:
        return self.users - self.creators


def user_email(n: int) -> str:
    """User n's e-mail: 1..creators own creator 1..creators; fan f is user creators + f."""
    return f"user-{n}@bench.example"


def handle(creator: int) -> str:
    return BIG_HANDLE if creator == 1 else f"creator_{creator}"


# Each statement gets :now, the sizes and the password hash as parameters. `uid(g)` style
# ids are written out as md5(...)::uuid so PostgreSQL computes them in bulk.
STATEMENTS: tuple[tuple[str, str], ...] = (
    (
        "users",
        """
INSERT INTO users (id, email, password_hash, display_name, created_at)
SELECT md5('user' || g)::uuid, 'user-' || g || '@bench.example', :hash,
       CASE WHEN g <= :creators THEN 'Creator ' ELSE 'Fan ' END || g, :now - interval '4 years'
FROM generate_series(1, :users) g
""",
    ),
    (
        "creators",
        """
INSERT INTO creators (id, user_id, handle, display_name, bio, purpose, tags_text, currency, dm_policy,
                      dm_tier_ids, follower_count, member_count, payouts_enabled, updated_at, created_at)
SELECT md5('creator' || g)::uuid, md5('user' || g)::uuid,
       CASE WHEN g = 1 THEN :big_handle ELSE 'creator_' || g END,
       'Creator ' || g,
       'Notes on ' || (CAST(:topics AS text[]))[g % 10 + 1] || ' and everyday making, number ' || g,
       'Weekly posts for people who like ' || (CAST(:topics AS text[]))[(g / 10) % 10 + 1],
       (CAST(:topics AS text[]))[g % 10 + 1] || ' craft', 'eur', 'followers', '[]', 0, 0, true,
       :now - interval '3 years', :now - interval '3 years'
FROM generate_series(1, :creators) g
""",
    ),
    (
        "creator tags",
        """
INSERT INTO creator_tags (creator_id, tag, position)
SELECT md5('creator' || g)::uuid, t.tag, t.position
FROM generate_series(1, :creators) g
CROSS JOIN LATERAL (VALUES ((CAST(:topics AS text[]))[g % 10 + 1], 0), ('craft', 1)) t(tag, position)
""",
    ),
    (
        "connected accounts",
        """
INSERT INTO connected_accounts (id, creator_id, stripe_account_id, charges_enabled, payouts_enabled,
                                details_submitted, requirements_due, created_at, synced_at)
SELECT md5('account' || g)::uuid, md5('creator' || g)::uuid, 'acct_bench_' || g, true, true, true, '[]',
       :now - interval '3 years', :now
FROM generate_series(1, :creators) g
""",
    ),
    (
        "offerings",
        """
INSERT INTO offerings (id, creator_id, kind, title, description, benefits, rank, status, updated_at,
                       published_at, created_at)
SELECT md5('offering' || g || '-' || t.rank)::uuid, md5('creator' || g)::uuid, t.kind, t.title,
       t.title || ' of creator ' || g, '["posts", "messages"]', t.rank, 'published',
       :now - interval '3 years', :now - interval '3 years',
       :now - interval '3 years' + t.rank * interval '1 s'
FROM generate_series(1, :creators) g
CROSS JOIN (VALUES (1, 'membership', 'Supporter'), (2, 'membership', 'Insider'),
                   (3, 'membership', 'Patron'), (4, 'product', 'Sample pack')) t(rank, kind, title)
""",
    ),
    (
        "prices",
        """
INSERT INTO prices (id, offering_id, amount_minor, currency, type, interval, interval_count, active,
                    created_at)
SELECT md5('price' || g || '-' || t.rank)::uuid, md5('offering' || g || '-' || t.rank)::uuid, t.amount, 'eur',
       CASE WHEN t.rank = 4 THEN 'one_time' ELSE 'recurring' END,
       CASE WHEN t.rank = 4 THEN NULL ELSE 'month' END, CASE WHEN t.rank = 4 THEN NULL ELSE 1 END,
       true, :now - interval '3 years'
FROM generate_series(1, :creators) g
CROSS JOIN (VALUES (1, 500), (2, 1500), (3, 4000), (4, 2500)) t(rank, amount)
""",
    ),
    (
        "customers",
        """
INSERT INTO customers (id, user_id, stripe_customer_id, created_at)
SELECT md5('customer' || g)::uuid, md5('user' || g)::uuid, 'cus_bench_' || g, :now - interval '3 years'
FROM generate_series(:creators + 1, :users) g
""",
    ),
    # Memberships: (fan, creator) pairs, the big creator's first, then three creators per fan
    # at most, spread so no pair repeats (the offsets j * step differ modulo creators - 1).
    (
        "subscriptions",
        """
INSERT INTO subscriptions (id, user_id, creator_id, offering_id, price_id, kind, stripe_subscription_id,
                           status, cancel_at_period_end, current_period_start, current_period_end,
                           trial_end, canceled_at, ended_at, past_due_since, started_at, disputed, created_at)
SELECT md5('sub' || k)::uuid, md5('user' || (:creators + p.fan))::uuid, md5('creator' || p.creator)::uuid,
       md5('offering' || p.creator || '-' || (k % 3 + 1))::uuid,
       md5('price' || p.creator || '-' || (k % 3 + 1))::uuid,
       'membership', 'sub_bench_' || k, s.status, false, s.period_start, s.period_start + interval '1 month',
       CASE WHEN s.status = 'trialing' THEN s.period_start + interval '14 days' END,
       s.ended, s.ended, CASE WHEN s.status = 'past_due' THEN :now - (k % 10) * interval '1 day' END,
       s.started, false, s.started
FROM generate_series(CAST(0 AS bigint), :big_members + :other_members - 1) k
CROSS JOIN LATERAL (
    SELECT CASE WHEN k < :big_members THEN k + 1 ELSE (k - :big_members) % :fans + 1 END AS fan,
           CASE WHEN k < :big_members THEN 1
                ELSE 2 + (((k - :big_members) % :fans) * 31
                          + ((k - :big_members) / :fans) * ((:creators - 1) / 3)) % (:creators - 1)
           END AS creator
) p
CROSS JOIN LATERAL (
    SELECT CASE WHEN k % 100 < 70 THEN 'active' WHEN k % 100 < 75 THEN 'trialing'
                WHEN k % 100 < 78 THEN 'past_due' WHEN k % 100 < 80 THEN 'unpaid'
                ELSE 'canceled' END AS status,
           :now - ((k * 7919) % 1095) * interval '1 day' - (k % 86400) * interval '1 second' AS started
) s0
CROSS JOIN LATERAL (
    SELECT s0.status, s0.started,
           greatest(s0.started, :now - ((k * 13) % 30) * interval '1 day') AS period_start,
           CASE WHEN s0.status = 'canceled'
                THEN s0.started + (:now - s0.started) * ((k % 7) + 1) / 8 END AS ended
) s
""",
    ),
    # The access rule (service.billing.rules.ACCESS_RULE) in bulk.
    (
        "member counts",
        """
UPDATE creators c SET member_count = m.n
FROM (SELECT creator_id, count(*) AS n FROM subscriptions
      WHERE kind = 'membership' AND NOT disputed
        AND (status IN ('trialing', 'active')
             OR (status = 'past_due' AND past_due_since > :now - make_interval(days => :grace_days)))
      GROUP BY creator_id) m
WHERE m.creator_id = c.id
""",
    ),
    (
        "invoices",
        """
INSERT INTO payments (id, creator_id, user_id, offering_id, kind, subscription_id, stripe_invoice_id,
                      billing_reason, amount_minor, fee_minor, refunded_minor, disputed_minor, currency,
                      paid_at, created_at)
SELECT md5('invoice' || s.stripe_subscription_id)::uuid, s.creator_id, s.user_id, s.offering_id, 'invoice',
       s.id, 'in_' || s.stripe_subscription_id, 'subscription_create', p.amount_minor, p.amount_minor / 10,
       0, 0, 'eur', s.started_at, s.started_at
FROM subscriptions s JOIN prices p ON p.id = s.price_id
WHERE s.status <> 'trialing'
""",
    ),
    (
        "follows",
        """
INSERT INTO follows (id, user_id, creator_id, created_at)
SELECT md5('follow' || k)::uuid, md5('user' || (:creators + p.fan))::uuid, md5('creator' || p.creator)::uuid,
       :now - ((k * 104729) % 1095) * interval '1 day' - (k % 86400) * interval '1 second'
FROM generate_series(CAST(0 AS bigint), :big_follows + :other_follows - 1) k
CROSS JOIN LATERAL (
    SELECT CASE WHEN k < :big_follows THEN k + 1 ELSE (k - :big_follows) % :fans + 1 END AS fan,
           CASE WHEN k < :big_follows THEN 1
                ELSE 2 + (((k - :big_follows) % :fans) * 17 + 7
                          + ((k - :big_follows) / :fans) * ((:creators - 1) / 3)) % (:creators - 1)
           END AS creator
) p
""",
    ),
    (
        "follower counts",
        """
UPDATE creators c SET follower_count = f.n
FROM (SELECT creator_id, count(*) AS n FROM follows GROUP BY creator_id) f
WHERE f.creator_id = c.id
""",
    ),
    (
        "posts",
        """
INSERT INTO posts (id, creator_id, title, body, visibility, tier_ids, published_at, created_at)
SELECT md5('post' || k)::uuid, md5('creator' || p.creator)::uuid, 'Post ' || k,
       'Today I worked on piece ' || k || '. ' || repeat('A few more words about the making of it. ', 8),
       (ARRAY['public', 'followers', 'members'])[k % 3 + 1], '[]', t.at, t.at
FROM generate_series(CAST(0 AS bigint), :posts - 1) k
CROSS JOIN LATERAL (
    SELECT CASE WHEN k < :big_posts THEN 1 ELSE 2 + k % (:creators - 1) END AS creator
) p
CROSS JOIN LATERAL (SELECT :now - ((k * 7919) % 525600) * interval '1 minute' AS at) t
""",
    ),
    # Conversations of the big creator's owner (user 1) with fans 1..conversations; the first
    # holds the long one, the rest share what is left of the messages.
    (
        "conversations",
        """
INSERT INTO conversations (id, user_a_id, user_b_id, created_at)
SELECT md5('conversation' || f)::uuid, least(o.id, fan.id), greatest(o.id, fan.id), :now - interval '1 year'
FROM generate_series(1, :conversations) f
CROSS JOIN LATERAL (SELECT md5('user' || (:creators + f))::uuid AS id) fan
CROSS JOIN (SELECT md5('user1')::uuid AS id) o
""",
    ),
    (
        "messages",
        """
INSERT INTO messages (id, conversation_id, sender_id, kind, body, created_at)
SELECT md5('message' || c.f || '-' || i)::uuid, md5('conversation' || c.f)::uuid,
       CASE WHEN i % 2 = 0 THEN md5('user1')::uuid ELSE md5('user' || (:creators + c.f))::uuid END,
       'text', 'Message ' || i || ' of conversation ' || c.f || ': thanks for the last post!',
       :now - (c.n - i) * interval '1 minute' - c.f * interval '1 second'
FROM (SELECT f, CASE WHEN f = 1 THEN :long_conversation
                     ELSE (:messages - :long_conversation) / (:conversations - 1) END AS n
      FROM generate_series(1, :conversations) f) c
CROSS JOIN LATERAL generate_series(1, c.n) i
""",
    ),
    # Both sides have read all but the last two messages; the creator has read only the first
    # half of the long conversation.
    (
        "conversation members",
        """
INSERT INTO conversation_members (conversation_id, user_id, last_message_at, last_read_at,
                                  last_read_message_id)
SELECT m.conversation_id, u.id, last.created_at, marker.created_at, marker.id
FROM (SELECT conversation_id, count(*) AS n FROM messages GROUP BY conversation_id) m
JOIN conversations c ON c.id = m.conversation_id
CROSS JOIN LATERAL (VALUES (c.user_a_id), (c.user_b_id)) u(id)
CROSS JOIN LATERAL (SELECT created_at FROM messages WHERE conversation_id = m.conversation_id
                    ORDER BY created_at DESC, id DESC LIMIT 1) last
CROSS JOIN LATERAL (
    SELECT id, created_at FROM messages WHERE conversation_id = m.conversation_id
    ORDER BY created_at, id
    OFFSET CASE WHEN u.id = md5('user1')::uuid AND m.n >= :long_conversation THEN m.n / 2 ELSE m.n - 3 END
    LIMIT 1
) marker
""",
    ),
)


def _fill(sizes: Sizes) -> None:
    params = {
        **vars(sizes),
        "fans": sizes.fans,
        "now": clock.utcnow(),
        "hash": hash_password(PASSWORD),
        "big_handle": BIG_HANDLE,
        "topics": list(TOPICS),
        "grace_days": current_app.config["PAST_DUE_GRACE_DAYS"],
    }
    # The app's statement timeout is for requests, not for loading a data set.
    db.session.execute(text("SET LOCAL statement_timeout = 0"))
    db.session.execute(text("SET LOCAL synchronous_commit = off"))
    try:
        # The rows are consistent by construction: skip the per-row foreign-key triggers.
        with db.session.begin_nested():
            db.session.execute(text("SET LOCAL session_replication_role = replica"))
    except DBAPIError:
        print("not a superuser: foreign keys are checked row by row (slower)", flush=True)
    for name, sql in STATEMENTS:
        started = time.perf_counter()
        rows = db.session.execute(text(sql), params).rowcount
        print(f"{name:22} {rows:>9} rows {time.perf_counter() - started:6.1f} s", flush=True)
    db.session.commit()


def _empty_tables() -> None:
    tables = db.session.scalars(
        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")
    ).all()
    db.session.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
    db.session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 is the full data set")
    parser.add_argument("--replace", action="store_true", help="empty every table first")
    args = parser.parse_args()
    if args.scale <= 0:
        raise SystemExit("--scale must be positive")
    sizes = Sizes.at(args.scale)
    app = create_app()
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            raise SystemExit("set DATABASE_URL to a PostgreSQL database")
        flask_migrate.upgrade()
        if args.replace:
            _empty_tables()
        elif db.session.scalar(text("SELECT EXISTS (SELECT 1 FROM users)")):
            raise SystemExit("the database already has users; pass --replace to empty it first")
        started = time.perf_counter()
        _fill(sizes)
        rolled_up = time.perf_counter()
        # The analytics roll-up is booked by the changes the bulk SQL bypassed: built from the tables.
        creators = rollup.rebuild()
        print(
            f"analytics roll-up    {creators:>9} creators {time.perf_counter() - rolled_up:4.1f} s",
            flush=True,
        )
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SET statement_timeout = 0"))
            conn.execute(text("VACUUM ANALYZE"))
        print(f"filled in {time.perf_counter() - started:.0f} s", flush=True)
    print(f"big creator: handle={BIG_HANDLE} email={user_email(1)} password={PASSWORD}")


if __name__ == "__main__":
    main()
