"""Show PostgreSQL's plan for discovery search over many creators.

    DATABASE_URL=postgresql://postgres@127.0.0.1/creator_bench python -m bench.explain_discovery [N]

Migrates the database, adds N synthetic creators (default 50 000) with
generate_series, ANALYZEs, then prints EXPLAIN ANALYZE of the exact statement
`GET /v1/creators?q=…` runs.
"""

from __future__ import annotations

import sys

from sqlalchemy import text

from service import create_app
from service.creators.discovery import search_statement
from service.extensions import db

FILL = """
INSERT INTO users (id, email, display_name, created_at)
SELECT gen_random_uuid(), 'bench-' || g || '@example.com', 'Bench ' || g, now()
FROM generate_series(1, :n) g;
INSERT INTO creators (id, user_id, handle, display_name, bio, purpose, tags_text, currency,
                      dm_policy, dm_tier_ids, follower_count, payouts_enabled, created_at, updated_at)
SELECT gen_random_uuid(), u.id, 'bench_' || substr(md5(u.email), 1, 20), u.display_name,
       (ARRAY['pottery and clay', 'marathon coaching', 'watercolour lessons', 'guitar riffs',
              'sourdough baking', 'python tutoring'])[1 + (abs(hashtext(u.email)) % 6)] || ' studio notes',
       'Helping people learn', 'craft', 'eur', 'followers', '[]', abs(hashtext(u.email)) % 5000,
       false, now(), now()
FROM users u WHERE u.email LIKE 'bench-%' AND NOT EXISTS (SELECT 1 FROM creators c WHERE c.user_id = u.id);
"""


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    app = create_app()
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            raise SystemExit("set DATABASE_URL to a PostgreSQL database")
        import flask_migrate

        flask_migrate.upgrade()
        db.session.execute(text("DELETE FROM creators WHERE handle LIKE 'bench_%'"))
        db.session.execute(text("DELETE FROM users WHERE email LIKE 'bench-%'"))
        for statement in FILL.split(";"):
            if statement.strip():
                db.session.execute(text(statement), {"n": n})
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        stmt = search_statement(q="marathon", tag=None, limit=20, cursor=None)
        compiled = stmt.compile(dialect=db.engine.dialect)
        conn = db.session.connection()
        for (line,) in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + str(compiled), compiled.params):
            print(line)


if __name__ == "__main__":
    main()
