"""Load benchmark: each route's throughput as a ratio of a hello-world route
measured in the same run, on the same server.

    make bench                      # SQLite file in a temp dir
    DATABASE_URL=postgresql://... make bench
    BENCH_ARGS="--seconds 8 --concurrency 16" make bench

Starts gunicorn (sync workers, no access log, rate limits off), seeds a user,
then drives each route from client processes. The baseline (/healthz: no
database, no auth) is measured first and last; a run whose two baselines differ
by more than 15% is flagged, since on a shared 2-core box only same-run ratios
mean anything.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = 8099


def _request(method: str, path: str, headers: dict[str, str], body: bytes | None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status


def _worker(args: tuple[str, str, dict[str, str], bytes | None, float]) -> tuple[list[float], int]:
    method, path, headers, body, seconds = args
    latencies, errors = [], 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        status = _request(method, path, headers, body)
        latencies.append(time.perf_counter() - start)
        errors += status >= 400
    return latencies, errors


def measure(pool, name, method, path, headers, body, seconds, concurrency):
    results = pool.map(_worker, [(method, path, headers, body, seconds)] * concurrency)
    latencies = sorted(x for lat, _ in results for x in lat)
    errors = sum(e for _, e in results)
    q = statistics.quantiles(latencies, n=100)
    return {
        "route": name,
        "rps": len(latencies) / seconds,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
        "errors": errors,
    }


def _start_server(env: dict[str, str], workers: int) -> subprocess.Popen:
    subprocess.run([sys.executable, "-m", "flask", "db", "upgrade"], env=env, cwd=ROOT, check=True)
    subprocess.run(
        [sys.executable, "-m", "flask", "seed"], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL
    )
    cmd = [
        sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app",
        "--bind", f"127.0.0.1:{PORT}", "--workers", str(workers),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            if _request("GET", "/healthz", {}, None) == 200:
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not start")


def _json(method: str, path: str, payload: dict, token: str | None = None) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=json.dumps(payload), headers=headers)
    resp = conn.getresponse()
    return json.loads(resp.read() or b"{}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="bench-")
    env = {
        **os.environ,
        "FLASK_APP": "wsgi",
        "RATELIMIT_ENABLED": "false",
        "ACCESS_LOG": "false",
        "LOG_LEVEL": "warning",
        "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/bench.db",
    }
    server = _start_server(env, args.workers)
    try:
        email, password = f"bench-{time.time_ns()}@example.com", "bench password 123"
        tokens = _json(
            "POST", "/v1/auth/signup", {"email": email, "password": password, "display_name": "Bench"}
        )
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        profile = {"handle": f"bench_{time.time_ns() % 10**9}", "display_name": "Bench", "currency": "eur"}
        _json("POST", "/v1/creators", profile, tokens["access_token"])
        for i in range(20):
            _json("POST", "/v1/me/api-keys", {"name": f"key {i}"}, tokens["access_token"])
        login = json.dumps({"email": email, "password": password}).encode()
        json_headers = {"Content-Type": "application/json"}
        routes = [
            ("hello (GET /healthz)", "GET", "/healthz", {}, None),
            ("authenticated read (GET /v1/me)", "GET", "/v1/me", auth, None),
            ("list 20 (GET /v1/me/api-keys)", "GET", "/v1/me/api-keys?limit=20", auth, None),
            ("readiness (GET /readyz)", "GET", "/readyz", {}, None),
            ("creator page, 4 offerings", "GET", "/v1/creators/ada_codes", {}, None),
            ("discovery search (GET /v1/creators?q=)", "GET", "/v1/creators?q=teaching", {}, None),
            ("login, argon2id (POST /v1/auth/login)", "POST", "/v1/auth/login", json_headers, login),
            ("hello again (GET /healthz)", "GET", "/healthz", {}, None),
        ]
        with mp.Pool(args.concurrency) as pool:
            measure(pool, "warm-up", "GET", "/v1/me", auth, None, 1, args.concurrency)
            rows = [measure(pool, *r, args.seconds, args.concurrency) for r in routes]
    finally:
        server.terminate()
        server.wait()

    first, last = rows[0]["rps"], rows[-1]["rps"]
    baseline = (first + last) / 2
    print(f"\nbackend={env['DATABASE_URL'].split(':')[0]} workers={args.workers} "
          f"concurrency={args.concurrency} seconds={args.seconds}")  # fmt: skip
    print(f"{'route':42} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'÷ hello':>8} {'errors':>7}")
    for r in rows:
        print(
            f"{r['route']:42} {r['rps']:8.0f} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f} "
            f"{r['rps'] / baseline:8.2f} {r['errors']:7d}"
        )
    drift = abs(first - last) / baseline
    if drift > 0.15:
        print(f"\nWARNING: baselines differ by {drift:.0%}; rerun on a quieter machine.")


if __name__ == "__main__":
    main()
