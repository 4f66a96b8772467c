"""Load benchmark at real size: each hot route's throughput under wrk, as a ratio of
/healthz measured in the same run, against gunicorn with the production config.

    DATABASE_URL=postgresql://postgres@127.0.0.1/bench_big python -m bench.seed --scale 1.0
    DATABASE_URL=postgresql://postgres@127.0.0.1/bench_big make bench
    BENCH_ARGS="--seconds 10 --connections 16 --only members" make bench

The database must hold `bench.seed`'s data set; each run VACUUM ANALYZEs it
first. Redis comes from REDIS_URL, or a private redis-server on a free port. The
Stripe webhook is only verified with the Stripe gateway, which checkout cannot use
offline, so the routes run on a server with the simulated gateway and the webhook
on a second one with a test secret; /healthz is measured first (on the first) and
last (on the second). Every route is requested once before it is measured and must
answer 2xx (or 304).

Throughput counts only answers below 400 and excludes socket errors; both kinds of
error are shown in their own columns. A run whose two baselines differ by more
than 15% is flagged: on a shared 2-core box only same-run ratios mean anything.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from bench.seed import BIG_HANDLE, PASSWORD, SMALL_HANDLE, user_email

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "bench-secret-key-0123456789abcdefghijklmnop"  # noqa: S105 - a throwaway server's
WEBHOOK_SECRET = "whsec_bench"  # noqa: S105
STRIPE_API_VERSION = "2026-10-28.endive"

# wrk prints this from its `done` hook; {lua} is each route's request setup.
LUA = """
{lua}
local summary_path = "{out}"
function done(summary, latency, requests)
  local f = io.open(summary_path, "w")
  local e = summary.errors
  f:write(string.format('{{"requests": %d, "micros": %d, "status": %d, "socket": %d, "p50": %d, "p99": %d}}',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
  f:close()
end
"""


@dataclass
class Route:
    name: str
    path: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    # Lua replacing the fixed request: for alternating methods or per-request bodies.
    lua: str | None = None

    def script(self, out: Path) -> str:
        if self.lua is None:
            lines = [f"wrk.method = {json.dumps(self.method)}"]
            lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in self.headers.items()]
            if self.body is not None:
                lines.append(f"wrk.body = {json.dumps(self.body)}")
            return LUA.format(lua="\n".join(lines), out=out)
        return LUA.format(lua=self.lua, out=out)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(port: int, method: str, path: str, headers: dict[str, str], body: str | None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


@contextmanager
def _redis() -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    port, tmp = _free_port(), tempfile.mkdtemp(prefix="bench-redis-")
    proc = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--save", "", "--dir", tmp],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def _server(env: dict[str, str], workers: int | None) -> Iterator[int]:
    port = _free_port()
    cmd = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    cmd += ["--bind", f"127.0.0.1:{port}"]
    if workers:
        cmd += ["--workers", str(workers)]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT)
    try:
        for _ in range(200):
            try:
                if _call(port, "GET", "/healthz", {}, None)[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit("the server did not start")
        yield port
    finally:
        proc.terminate()
        proc.wait()


def _login(port: int, email: str) -> dict[str, str]:
    status, body = _call(
        port,
        "POST",
        "/v1/auth/login",
        {"Content-Type": "application/json"},
        json.dumps({"email": email, "password": PASSWORD}),
    )
    if status != 200:
        raise SystemExit(f"login of {email} failed ({status}): is this bench.seed's database?")
    return {"Authorization": f"Bearer {json.loads(body)['access_token']}"}


def _cursor(env: dict[str, str], values: tuple[object, ...]) -> str:
    """A page cursor as the server signs it (same SECRET_KEY)."""
    os.environ["SECRET_KEY"] = env["SECRET_KEY"]
    from service import create_app
    from service.common.pagination import encode_cursor

    with create_app().app_context():
        return encode_cursor(values)


def _engine(database_url: str) -> Engine:
    return create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))


def _vacuum(database_url: str) -> None:
    """Start from the tables as autovacuum keeps them. Every run writes (follows, messages,
    webhook events); on a server without autovacuum (this machine's runs without it) the
    dead rows and stale visibility maps of one run are still there in the next, and the
    planner's estimates drift with them: the unread badge's index-only scan lost to a
    5 000-row scan after a few runs."""
    engine = _engine(database_url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("SET statement_timeout = 0"))
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def _routes(port: int, env: dict[str, str], database_url: str) -> list[Route]:
    engine = _engine(database_url)
    with engine.connect() as conn:
        creators = conn.scalar(text("SELECT count(*) FROM creators"))
        conversation = conn.scalar(text("SELECT md5('conversation1')::uuid"))
        deep_message = conn.execute(
            text(
                "SELECT created_at, id FROM messages WHERE conversation_id = :c"
                " ORDER BY created_at DESC, id DESC OFFSET (SELECT count(*) * 3 / 4 FROM messages"
                " WHERE conversation_id = :c) LIMIT 1"
            ),
            {"c": conversation},
        ).one()
        deep_member = conn.execute(
            text(
                "SELECT s.created_at, s.id FROM subscriptions s JOIN creators c ON c.id = s.creator_id"
                " WHERE c.handle = :h ORDER BY s.created_at DESC, s.id DESC"
                " OFFSET (SELECT count(*) * 3 / 4 FROM subscriptions s JOIN creators c ON c.id = s.creator_id"
                " WHERE c.handle = :h) LIMIT 1"
            ),
            {"h": BIG_HANDLE},
        ).one()
        product_price = conn.scalar(text("SELECT md5('price1-4')::uuid"))
    engine.dispose()
    owner, fan = _login(port, user_email(1)), _login(port, user_email(creators + 1))
    posting = {"Content-Type": "application/json"}
    message = f"/v1/conversations/{conversation}/messages"
    checkout = {
        "price_id": str(product_price),
        "success_url": "http://x.test/ok",
        "cancel_url": "http://x.test/no",
    }
    follow = f"/v1/creators/{BIG_HANDLE}/follow"
    alternate = "\n".join(
        [
            "local n = 0",
            f"local headers = {{Authorization = {json.dumps(fan['Authorization'])}}}",
            "function request()",
            "  n = n + 1",
            f'  return wrk.format(n % 2 == 1 and "POST" or "DELETE", "{follow}", headers)',
            "end",
        ]
    )
    big, small = f"/v1/creators/{BIG_HANDLE}", f"/v1/creators/{SMALL_HANDLE}"
    etag = dict(_headers_of(port, big)).get("etag") or '"none"'
    deep_members = f"{big}/members?cursor={_cursor(env, tuple(deep_member))}"
    return [
        Route("creator page, big, anonymous", big),
        Route("creator page, big, anonymous, If-None-Match", big, headers={"If-None-Match": etag}),
        Route("creator page, small, anonymous", small),
        Route("creator page, big, logged in", big, headers=fan),
        Route("creator page, small, logged in", small, headers=fan),
        Route("discovery ?q=", "/v1/creators?q=teaching"),
        # What every authenticated route pays first: the token check and its one query.
        Route("/v1/me (floor of an authenticated route)", "/v1/me", headers=owner),
        Route("follow / unfollow, big", follow, lua=alternate),
        Route("feed", "/v1/feed", headers=fan),
        Route("conversations, big creator", "/v1/conversations", headers=owner),
        Route("unread badge, big creator", "/v1/me/unread", headers=owner),
        Route("messages page 1 (20 000-message conversation)", message, headers=owner),
        Route(
            "messages deep (3/4 in)",
            f"{message}?cursor={_cursor(env, tuple(deep_message))}",
            headers=owner,
        ),
        Route("send message", message, "POST", {**owner, **posting}, json.dumps({"body": "Thanks, noted."})),
        Route("members page 1, big", f"{big}/members", headers=owner),
        Route("members deep (3/4 in), big", deep_members, headers=owner),
        Route("sales, big", f"{big}/sales", headers=owner),
        Route("analytics summary, big", f"{big}/analytics/summary", headers=owner),
        Route("analytics timeseries mrr, big", f"{big}/analytics/timeseries?metric=mrr", headers=owner),
        Route("checkout create", "/v1/checkout/sessions", "POST", {**fan, **posting}, json.dumps(checkout)),
    ]


def _headers_of(port: int, path: str) -> list[tuple[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return [(k.lower(), v) for k, v in resp.getheaders()]


def _webhook_route(tmp: Path, count: int) -> Route:
    """Signed `invoice.paid` events, each with its own id, read from a file by every wrk thread."""
    now, run = int(time.time()), time.time_ns()
    events = tmp / "events.tsv"
    with events.open("w") as out:
        for i in range(count):
            body = json.dumps(
                {
                    "id": f"evt_bench_{run}_{i}",
                    "object": "event",
                    "type": "invoice.paid",
                    "api_version": STRIPE_API_VERSION,
                    "created": now,
                    "livemode": False,
                    "data": {"object": {"id": f"in_bench_{run}_{i}", "object": "invoice"}},
                },
                separators=(",", ":"),
            )
            mac = hmac.new(WEBHOOK_SECRET.encode(), f"{now}.{body}".encode(), hashlib.sha256).hexdigest()
            out.write(f"t={now},v1={mac}\t{body}\n")
    lua = "\n".join(
        [
            "local threads, counter = 0, 0",
            "function setup(thread) thread:set('offset', threads); threads = threads + 1 end",
            "local events = {}",
            f'for line in io.lines("{events}") do',
            '  local sig, body = line:match("([^\\t]+)\\t(.*)")',
            "  events[#events + 1] = {sig = sig, body = body}",
            "end",
            "function request()",
            "  local e = events[(offset + counter * 16) % #events + 1]",
            "  counter = counter + 1",
            '  return wrk.format("POST", "/v1/webhooks/stripe",'
            ' {["Content-Type"] = "application/json", ["Stripe-Signature"] = e.sig}, e.body)',
            "end",
        ]
    )
    return Route("webhook ingest, signed invoice.paid", "/v1/webhooks/stripe", lua=lua)


def _warm(port: int, route: Route) -> None:
    if route.lua is not None:
        return  # wrk's own first requests warm it; its errors are counted
    status, body = _call(port, route.method, route.path, route.headers, route.body)
    if status >= 400:
        raise SystemExit(f"{route.name}: {route.method} {route.path} answered {status}: {body[:300]!r}")


def _wrk(port: int, route: Route, args: argparse.Namespace, tmp: Path) -> dict[str, float | str]:
    script, out = tmp / "route.lua", tmp / "summary.json"
    script.write_text(route.script(out))
    subprocess.run(
        [
            shutil.which("wrk") or "wrk",
            f"-t{args.threads}",
            f"-c{args.connections}",
            f"-d{args.seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}{route.path}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    s = json.loads(out.read_text())
    ok = s["requests"] - s["status"]
    return {
        "route": route.name,
        "rps": ok / (s["micros"] / 1e6),
        "p50": s["p50"] / 1000,
        "p99": s["p99"] / 1000,
        "status": s["status"],
        "socket": s["socket"],
    }


def _drain(port: int) -> None:
    """Wait until the requests wrk left queued are served, so they do not slow the next route."""
    quick = 0
    while quick < 3:
        started = time.perf_counter()
        _call(port, "GET", "/healthz", {}, None)
        quick = quick + 1 if time.perf_counter() - started < 0.05 else 0


def _measure(port: int, routes: list[Route], args: argparse.Namespace, tmp: Path) -> list[dict]:
    for route in routes:
        _warm(port, route)
    rows = []
    for route in routes:
        rows.append(_wrk(port, route, args, tmp))
        _drain(port)
        print(f"  {route.name}: {rows[-1]['rps']:.0f} req/s", file=sys.stderr, flush=True)
    return rows


def _table(rows: list[dict], args: argparse.Namespace) -> None:
    first, last = rows[0]["rps"], rows[-1]["rps"]
    baseline = (first + last) / 2
    print(
        f"\n{os.cpu_count()} CPUs; wrk -t{args.threads} -c{args.connections} -d{args.seconds}s; "
        f"gunicorn.conf.py workers={args.workers or 'default'}\n"
    )
    print("| route | req/s | p50 ms | p99 ms | ÷ /healthz | HTTP ≥ 400 | socket errors |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['route']} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | "
            f"{r['rps'] / baseline:.3f} | {r['status']} | {r['socket']} |"
        )
    drift = abs(first - last) / baseline
    if drift > 0.15:
        print(f"\nWARNING: the /healthz baselines differ by {drift:.0%}; rerun on a quieter machine.")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: gunicorn.conf.py's)")
    parser.add_argument("--only", help="measure only the routes whose name contains this")
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        raise SystemExit("set DATABASE_URL to a PostgreSQL database filled by `python -m bench.seed`")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (make bench installs it)")
    _vacuum(database_url)
    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    healthz = Route("/healthz (first)", "/healthz")
    with _redis() as redis_url:
        env = {
            **os.environ,
            "FLASK_APP": "wsgi",
            "REDIS_URL": redis_url,
            "SECRET_KEY": SECRET_KEY,
            "RATELIMIT_ENABLED": "false",
            "ACCESS_LOG": "false",
            "LOG_LEVEL": "warning",
            "ACCESS_TOKEN_TTL": "3600",
            "PAYMENTS_PROVIDER": "local",
            # Where checkout's success and cancel URLs lead: a site the benchmark names.
            "ALLOWED_REDIRECT_ORIGINS": "http://x.test",
        }
        with _server(env, args.workers) as port:
            routes = [r for r in _routes(port, env, database_url) if not args.only or args.only in r.name]
            rows = _measure(port, [healthz, *routes], args, tmp)
        stripe_env = {**env, "PAYMENTS_PROVIDER": "stripe", "STRIPE_SECRET_KEY": "sk_test_bench"}
        stripe_env["STRIPE_WEBHOOK_SECRET"] = WEBHOOK_SECRET
        with _server(stripe_env, args.workers) as port:
            tail = [Route("/healthz (last)", "/healthz")]
            if not args.only or args.only in "webhook ingest":
                tail.insert(0, _webhook_route(tmp, 50_000))
            rows += _measure(port, tail, args, tmp)
    shutil.rmtree(tmp, ignore_errors=True)
    _table(rows, args)


if __name__ == "__main__":
    main()
