"""Settings, read from the environment (and a `.env` file) in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import load_dotenv

from .common.schemas import origin

DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"  # noqa: S105


class ConfigError(RuntimeError):
    """The configuration cannot be used for the chosen environment."""


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def _percent(env: Mapping[str, str], name: str, default: str) -> Decimal:
    """A percentage kept exact (it multiplies money), from 0 to 100."""
    raw = env.get(name) or default
    try:
        value = Decimal(raw.strip())
    except InvalidOperation as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc
    if not value.is_finite() or not 0 <= value <= 100:
        raise ConfigError(f"{name} must be between 0 and 100, got {raw!r}")
    return value


def _list(env: Mapping[str, str], name: str) -> list[str] | None:
    """A comma-separated setting; None when unset."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    return [item.strip() for item in raw.split(",") if item.strip()]


def redirect_origins(config: Mapping[str, Any]) -> list[str]:
    """ALLOWED_REDIRECT_ORIGINS normalised; by default the API's own origin and the browser
    origins of CORS_ORIGINS (the sites that call the API are the ones people return to)."""
    listed = config["ALLOWED_REDIRECT_ORIGINS"]
    if listed is None:
        listed = [config["PUBLIC_BASE_URL"], *config["CORS_ORIGINS"]]
    origins = []
    for url in listed:
        normalised = origin(url)
        if not normalised.startswith(("http://", "https://")) or normalised.endswith("//"):
            raise ConfigError(f"ALLOWED_REDIRECT_ORIGINS: {url!r} is not an http(s) origin")
        origins.append(normalised)
    return origins


def database_uri(raw: str | None, instance_path: str) -> str:
    """Turn DATABASE_URL into a SQLAlchemy URI; psycopg 3 is our PostgreSQL driver."""
    if not raw:
        Path(instance_path).mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{Path(instance_path) / 'app.db'}"
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix) :]
    return raw


def engine_options(uri: str, threads: int = 1) -> dict[str, Any]:
    if uri.startswith("sqlite"):
        # Several gunicorn workers share the file: wait for the write lock.
        return {"connect_args": {"timeout": 15}}
    return {
        # No ping before each checkout: it is one more round trip on every request (measured:
        # README.md, "Performance"). A connection the server dropped fails one request,
        # and that error invalidates the whole pool, so the next ones reconnect.
        "pool_pre_ping": False,
        "pool_recycle": 1800,
        # A worker serves `threads` requests at a time, each holding one connection: that many
        # stay open. Anything more in one process (parallel test clients, a job run inline next
        # to a request) opens short-lived extra ones rather than waiting for a free one.
        "pool_size": threads,
        "max_overflow": 10,
        # A runaway query must not hold a worker for ever.
        "connect_args": {"options": "-c statement_timeout=5000"},
    }


def load_config(instance_path: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Build the Flask config dict from the environment, then apply overrides."""
    load_dotenv(override=False)
    env = os.environ
    app_env = env.get("APP_ENV", "development")
    uri = database_uri(env.get("DATABASE_URL"), instance_path)
    redis_url = env.get("REDIS_URL") or None
    config: dict[str, Any] = {
        "APP_ENV": app_env,
        "SECRET_KEY": env.get("SECRET_KEY", DEV_SECRET_KEY),
        "SQLALCHEMY_DATABASE_URI": uri,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(uri, _int(env, "GUNICORN_THREADS", 1)),
        "MAX_CONTENT_LENGTH": _int(env, "MAX_CONTENT_LENGTH", 1024 * 1024),
        # Just below gunicorn's limits (gunicorn.conf.py), so the app answers first, in problem+json.
        "MAX_URL_LENGTH": _int(env, "MAX_URL_LENGTH", 8000),
        "MAX_HEADER_LENGTH": _int(env, "MAX_HEADER_LENGTH", 8000),
        "MAX_HEADER_COUNT": _int(env, "MAX_HEADER_COUNT", 90),
        "ACCESS_TOKEN_TTL": _int(env, "ACCESS_TOKEN_TTL", 15 * 60),
        "REFRESH_TOKEN_TTL": _int(env, "REFRESH_TOKEN_TTL", 30 * 24 * 3600),
        "REFRESH_IDLE_TTL": _int(env, "REFRESH_IDLE_TTL", 7 * 24 * 3600),
        "TOKEN_AUDIENCE": env.get("TOKEN_AUDIENCE", "creator-api"),
        "ARGON2_TIME_COST": _int(env, "ARGON2_TIME_COST", 2),
        "ARGON2_MEMORY_KIB": _int(env, "ARGON2_MEMORY_KIB", 19 * 1024),
        "ARGON2_PARALLELISM": _int(env, "ARGON2_PARALLELISM", 1),
        "REDIS_URL": redis_url,
        "RATELIMIT_ENABLED": _bool(env.get("RATELIMIT_ENABLED"), True),
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        # Redis down must not take the API down: fall back to per-process memory.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_HEADERS_ENABLED": True,
        "RATELIMIT_SIGNUP": env.get("RATELIMIT_SIGNUP", "5/hour"),
        "RATELIMIT_LOGIN": env.get("RATELIMIT_LOGIN", "20/minute"),
        "RATELIMIT_VERIFY_MAILS": env.get("RATELIMIT_VERIFY_MAILS", "3/hour"),
        # How long a link that proves an e-mail address works.
        "EMAIL_VERIFY_MAX_AGE_HOURS": _int(env, "EMAIL_VERIFY_MAX_AGE_HOURS", 72),
        "LOGIN_FREE_FAILURES": _int(env, "LOGIN_FREE_FAILURES", 5),
        "LOGIN_BACKOFF_MAX": _int(env, "LOGIN_BACKOFF_MAX", 15 * 60),
        "RATELIMIT_REFRESH": env.get("RATELIMIT_REFRESH", "30/minute"),
        "RATELIMIT_MESSAGES": env.get("RATELIMIT_MESSAGES", "30/minute"),
        "RATELIMIT_CONVERSATIONS": env.get("RATELIMIT_CONVERSATIONS", "20/hour"),
        "RATELIMIT_CHECKOUT": env.get("RATELIMIT_CHECKOUT", "10/minute"),
        "RATELIMIT_BROADCASTS": env.get("RATELIMIT_BROADCASTS", "10/day"),
        # A running job is its worker's for this long; after that the sweep gives it to another.
        "JOBS_LEASE_SECONDS": _int(env, "JOBS_LEASE_SECONDS", 300),
        # A due job still pending this long after it was written (or last handed over) is
        # handed to the queue again by the sweep.
        "JOBS_REHAND_SECONDS": _int(env, "JOBS_REHAND_SECONDS", 60),
        # Without Redis, whether this process keeps the periodic schedule (`make run` does).
        "JOBS_RUN_PERIODIC": _bool(env.get("JOBS_RUN_PERIODIC"), True),
        # `local` keeps sent mail in the database for /local-mail; `smtp` sends through SMTP_URL.
        "EMAIL_BACKEND": env.get("EMAIL_BACKEND") or ("smtp" if env.get("SMTP_URL") else "local"),
        "SMTP_URL": env.get("SMTP_URL", ""),
        "SMTP_TIMEOUT": _int(env, "SMTP_TIMEOUT", 10),
        "MAIL_FROM": env.get("MAIL_FROM", "Creator Platform <no-reply@localhost>"),
        "DM_EMAIL_DIGEST_MINUTES": _int(env, "DM_EMAIL_DIGEST_MINUTES", 15),
        # Webhooks out may go to private, loopback and link-local addresses (local receivers).
        "WEBHOOKS_ALLOW_PRIVATE": _bool(env.get("WEBHOOKS_ALLOW_PRIVATE"), False),
        # Payments: Stripe when a secret key is set, otherwise the local simulated gateway.
        "PAYMENTS_PROVIDER": env.get("PAYMENTS_PROVIDER")
        or ("stripe" if env.get("STRIPE_SECRET_KEY") else "local"),
        "STRIPE_SECRET_KEY": env.get("STRIPE_SECRET_KEY", ""),
        "STRIPE_API_BASE": env.get("STRIPE_API_BASE") or None,
        "STRIPE_WEBHOOK_SECRETS": [
            s for s in (env.get("STRIPE_WEBHOOK_SECRET"), env.get("STRIPE_CONNECT_WEBHOOK_SECRET")) if s
        ],
        "STRIPE_LIVEMODE": env.get("STRIPE_SECRET_KEY", "").startswith("sk_live_"),
        "STRIPE_MAX_NETWORK_RETRIES": _int(env, "STRIPE_MAX_NETWORK_RETRIES", 2),
        "STRIPE_TIMEOUT": _int(env, "STRIPE_TIMEOUT", 10),
        "PLATFORM_FEE_PERCENT": _percent(env, "PLATFORM_FEE_PERCENT", "10"),
        "PAST_DUE_GRACE_DAYS": _int(env, "PAST_DUE_GRACE_DAYS", 7),
        "CORS_ORIGINS": _list(env, "CORS_ORIGINS") or [],
        "ALLOWED_REDIRECT_ORIGINS": _list(env, "ALLOWED_REDIRECT_ORIGINS"),
        "PROXY_FIX_HOPS": _int(env, "PROXY_FIX_HOPS", 0),
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO").upper(),
        "PUBLIC_BASE_URL": env.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000"),
        # The site people use, which e-mails link to (posts, conversations, settings).
        "SITE_URL": env.get("SITE_URL") or env.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000"),
        # The interactive docs are for developers; production shows them only when asked to.
        "API_DOCS_ENABLED": _bool(env.get("API_DOCS_ENABLED"), app_env != "production"),
        # flask-smorest / OpenAPI
        "API_TITLE": "Creator subscription API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.1.0",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "/docs",
        "OPENAPI_SWAGGER_UI_URL": "/docs/assets/",
        # A token typed into the docs page must not outlive the tab in browser storage.
        "OPENAPI_SWAGGER_UI_CONFIG": {"persistAuthorization": False},
        "API_SPEC_OPTIONS": {
            "info": {"description": "Memberships, services and products sold by creators to their followers."}
        },
    }
    if overrides:
        config.update(overrides)
    config["ALLOWED_REDIRECT_ORIGINS"] = redirect_origins(config)
    if not config["API_DOCS_ENABLED"]:
        config["OPENAPI_SWAGGER_UI_PATH"] = None  # flask-smorest then registers no /docs
    check_config(config)
    return config


def check_config(config: Mapping[str, Any]) -> None:
    """Refuse to run production with development secrets or the simulated gateway."""
    if config["PAYMENTS_PROVIDER"] not in ("stripe", "local"):
        raise ConfigError("PAYMENTS_PROVIDER is stripe or local")
    if config["EMAIL_BACKEND"] not in ("smtp", "local"):
        raise ConfigError("EMAIL_BACKEND is smtp or local")
    if config["EMAIL_BACKEND"] == "smtp" and urlsplit(config["SMTP_URL"]).scheme not in ("smtp", "smtps"):
        raise ConfigError("EMAIL_BACKEND=smtp needs SMTP_URL as smtp://… (STARTTLS) or smtps://…")
    if config["APP_ENV"] != "production":
        return
    if config["SECRET_KEY"] == DEV_SECRET_KEY or len(config["SECRET_KEY"]) < 32:
        raise ConfigError("production needs a SECRET_KEY of at least 32 characters")
    if config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        raise ConfigError("production needs DATABASE_URL pointing at PostgreSQL")
    if not config["REDIS_URL"]:
        # Rate limits must be shared by every worker, and jobs must leave the web processes.
        raise ConfigError("production needs REDIS_URL")
    if config["PAYMENTS_PROVIDER"] != "stripe" or not config["STRIPE_WEBHOOK_SECRETS"]:
        raise ConfigError("production needs STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET")
    if config["EMAIL_BACKEND"] != "smtp":
        # The local mailbox would keep members' e-mail in the database and send none.
        raise ConfigError("production needs EMAIL_BACKEND=smtp and SMTP_URL")
