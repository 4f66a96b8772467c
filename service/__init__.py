"""Creator subscription API.

Independent professionals sell memberships, services and products to the people
who follow them; followers pay through Stripe and keep in touch by direct message.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from flask import Flask, current_app, g, redirect, request, send_from_directory
from flask_cors import CORS
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from werkzeug.exceptions import NotFound as HTTPNotFound
from werkzeug.exceptions import RequestHeaderFieldsTooLarge, RequestURITooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from .common import reads
from .common.cache import init_cache
from .config import load_config
from .extensions import api, db, limiter, migrate

if TYPE_CHECKING:
    from .billing.gateway import Gateway

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(ROOT / "instance"))
    app.config.update(load_config(app.instance_path, overrides))
    app.json.sort_keys = False  # type: ignore[attr-defined]
    logging.basicConfig(
        level=app.config["LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    if app.config["PROXY_FIX_HOPS"]:
        hops = app.config["PROXY_FIX_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    from . import models  # noqa: F401  (every table known before migrations or queries)

    db.init_app(app)
    reads.init_app(app, db)
    init_cache(app)
    app.extensions["billing.gateway"] = _make_gateway(app)
    _register_answers(app)
    _register_jobs(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    limiter.init_app(app)
    api.init_app(app)
    _register_blueprints(app)
    _register_error_handlers(app)
    _register_request_hooks(app)
    if app.config["CORS_ORIGINS"]:
        CORS(
            app, resources={r"/v1/*": {"origins": app.config["CORS_ORIGINS"]}}, expose_headers=["Retry-After"]
        )

    from .cli import register_commands

    register_commands(app)
    return app


def _make_gateway(app: Flask) -> Gateway:
    cfg = app.config
    if cfg["PAYMENTS_PROVIDER"] == "local":
        from .localpay.gateway import LocalGateway

        return LocalGateway()
    from .billing.stripe_gateway import StripeGateway

    return StripeGateway(
        cfg["STRIPE_SECRET_KEY"],
        api_base=cfg["STRIPE_API_BASE"],
        max_network_retries=cfg["STRIPE_MAX_NETWORK_RETRIES"],
        timeout=cfg["STRIPE_TIMEOUT"],
        webhook_secrets=cfg["STRIPE_WEBHOOK_SECRETS"],
    )


def _make_entitlements(app: Flask) -> Any:
    from .entitlements.service import BillingEntitlements

    return BillingEntitlements()


def _register_answers(app: Flask) -> None:
    """Who answers the questions domains ask of those after them (queries are calls; events
    stay blinker signals). Refuses to start when a question has no complete answer."""
    from .accounts.service import EXPORTERS
    from .billing import credits
    from .common import entitlements
    from .growth.upgrades import UpgradeCredits
    from .messaging.privacy import export_messages

    app.extensions[entitlements.EXTENSION] = _make_entitlements(app)
    app.extensions[credits.EXTENSION] = UpgradeCredits()  # growth's offers are the credits checkout takes
    app.extensions[EXPORTERS] = (export_messages,)
    entitlements.check_registered(app)
    credits.require_registered(app)


def _register_jobs(app: Flask) -> None:
    from . import jobs
    from .periodic import PERIODIC

    jobs.init_app(app, PERIODIC)


def _register_blueprints(app: Flask) -> None:
    from .accounts.auth import BEARER_SCHEME
    from .accounts.routes import blp as accounts
    from .analytics.routes import blp as analytics  # (and its roll-up's receivers)
    from .billing.routes import blp as billing
    from .catalog.routes import blp as catalog
    from .content.routes import blp as content
    from .creators.routes import blp as creators
    from .followers.routes import blp as followers
    from .growth.routes import blp as growth  # (and growth's receivers of earlier domains' events)
    from .health import blp as health
    from .integrations.routes import blp as integrations  # (and its receivers of every domain's events)
    from .messaging.routes import blp as messaging
    from .notifications.routes import blp as notifications  # (and its receivers of others' events)

    api.spec.components.security_scheme("bearerAuth", BEARER_SCHEME)
    for blueprint in (
        health,
        accounts,
        creators,
        catalog,
        followers,
        billing,
        growth,
        messaging,
        content,
        analytics,
        integrations,
        notifications,
    ):
        api.register_blueprint(blueprint)
    if app.config["PAYMENTS_PROVIDER"] == "local":
        from .localpay.routes import blp as localpay

        api.register_blueprint(localpay)
    if app.config["EMAIL_BACKEND"] == "local":
        from .notifications.pages import blp as local_mail

        api.register_blueprint(local_mail)

    if app.config["API_DOCS_ENABLED"]:
        _register_docs(app)


def _register_docs(app: Flask) -> None:
    """`/` leads to the interactive docs; the OpenAPI document itself is always served."""
    # Swagger UI's files ship with the app, so /docs works offline.
    import flask_swagger_ui

    assets = Path(flask_swagger_ui.__file__).parent / "dist"

    @app.get("/docs/assets/<path:filename>")
    def docs_assets(filename: str):
        return send_from_directory(assets, filename, max_age=86400)

    @app.get("/")
    def docs_root():
        return redirect(app.config["OPENAPI_SWAGGER_UI_PATH"], code=302)


def _register_error_handlers(app: Flask) -> None:
    from .common.errors import DomainError, problem_response, render_domain_error

    @app.errorhandler(DomainError)
    def domain_error(error: DomainError):
        db.session.rollback()
        return render_domain_error(error)

    @app.errorhandler(IntegrityError)
    def integrity_error(error: IntegrityError):
        db.session.rollback()
        return problem_response(409, code="conflict", detail="This conflicts with an existing record.")

    @app.errorhandler(DataError)
    def data_error(error: DataError):
        db.session.rollback()
        return problem_response(
            422, code="invalid_value", detail="A value is not acceptable to the database."
        )

    @app.errorhandler(OperationalError)
    def database_down(error: OperationalError):
        db.session.rollback()
        log.error("database error on %s: %s", request.path, error, extra={"request_id": g.get("request_id")})
        return problem_response(503, code="database_unavailable", headers={"Retry-After": "5"})

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        db.session.rollback()
        log.exception(
            "unhandled error on %s %s (request %s)", request.method, request.path, g.get("request_id")
        )
        return problem_response(500, code="internal_error", detail="Something went wrong on our side.")


def _register_request_hooks(app: Flask) -> None:
    @app.before_request
    def tag_request() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        # A NUL in the path would reach PostgreSQL, which cannot store it.
        if "\x00" in request.path:
            raise HTTPNotFound()
        _refuse_oversize_head()

    @app.after_request
    def security_headers(response):
        headers = response.headers
        headers["X-Request-ID"] = g.get("request_id", "")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "no-referrer")
        if not request.path.startswith("/docs"):
            headers.setdefault("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
        if "Authorization" in request.headers:
            headers["Cache-Control"] = "no-store"
        if current_app.config["APP_ENV"] == "production":
            # Two years, the preload lists' minimum; production is served over HTTPS only.
            headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
        if response.status_code == 204:  # no body, so no body type (RFC 9110 §15.3.5)
            headers.pop("Content-Type", None)
        return response


def _refuse_oversize_head() -> None:
    """414 for a long URL, 431 for a long or crowded header section, before gunicorn's own
    limits would answer the same in HTML."""
    cfg = current_app.config
    target = request.environ.get("RAW_URI") or (quote(request.path) + "?" + request.query_string.decode())
    if len(target) > cfg["MAX_URL_LENGTH"]:
        raise RequestURITooLarge(f"Keep the URL under {cfg['MAX_URL_LENGTH']} characters.")
    if len(request.headers) > cfg["MAX_HEADER_COUNT"]:
        raise RequestHeaderFieldsTooLarge(f"Send at most {cfg['MAX_HEADER_COUNT']} headers.")
    for name, value in request.headers.items():
        if len(name) + 2 + len(value) > cfg["MAX_HEADER_LENGTH"]:
            raise RequestHeaderFieldsTooLarge(
                f"The {name} header is longer than {cfg['MAX_HEADER_LENGTH']} characters."
            )


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.close()
