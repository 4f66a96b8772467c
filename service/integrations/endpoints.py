"""A creator's webhook endpoints: registering, changing, rotating keys, testing, the log."""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import func, select

from ..common import clock
from ..common.errors import Conflict, NotFound, Unprocessable
from ..common.pagination import keyset, page
from ..creators.models import Creator
from ..extensions import db
from . import delivery
from .models import Delivery, DeliveryAttempt, WebhookEndpoint

# How long the old key still signs after a rotation.
ROTATION_OVERLAP = timedelta(hours=24)
MAX_ENDPOINTS = 20


class InvalidWebhookUrl(Unprocessable):
    code = "invalid_webhook_url"
    title = "The URL cannot receive webhooks"


class TooManyEndpoints(Conflict):
    code = "too_many_webhook_endpoints"
    title = f"A creator has at most {MAX_ENDPOINTS} webhook endpoints"


class EndpointDisabled(Conflict):
    code = "webhook_endpoint_disabled"
    title = "The endpoint is disabled: enable it first"


def _secret() -> str:
    # Standard Webhooks keys are "whsec_" and standard base64 of the key bytes.
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host and no credentials; https only in production.
    Raises InvalidWebhookUrl. (Where the host points is checked at each send.)"""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a port out of range raises here)
    except ValueError as error:
        raise InvalidWebhookUrl(errors={"url": [str(error)]}) from error
    schemes = ("https",) if current_app.config["APP_ENV"] == "production" else ("https", "http")
    if parts.scheme not in schemes:
        raise InvalidWebhookUrl(errors={"url": [f"The URL must start with {' or '.join(schemes)}://."]})
    if not parts.hostname or parts.username is not None or parts.password is not None:
        raise InvalidWebhookUrl(errors={"url": ["The URL needs a host, and no user name or password."]})
    if parts.fragment:
        raise InvalidWebhookUrl(errors={"url": ["The URL cannot have a #fragment."]})
    return url


def create(*, creator: Creator, url: str, events: list[str], description: str | None) -> WebhookEndpoint:
    """Register an endpoint; its secret is readable on the returned object only.
    Raises InvalidWebhookUrl, TooManyEndpoints."""
    count = db.session.scalar(select(func.count()).where(WebhookEndpoint.creator_id == creator.id))
    if (count or 0) >= MAX_ENDPOINTS:
        raise TooManyEndpoints()
    endpoint = WebhookEndpoint(
        creator_id=creator.id,
        url=check_url(url),
        events=sorted(set(events)),
        description=description,
        secret=_secret(),
        status="enabled",
    )
    db.session.add(endpoint)
    db.session.flush()
    return endpoint


def list_endpoints(*, creator: Creator) -> list[WebhookEndpoint]:
    stmt = select(WebhookEndpoint).where(WebhookEndpoint.creator_id == creator.id)
    return list(db.session.scalars(stmt.order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)))


def get(*, creator: Creator, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    """Raises NotFound for an endpoint that is not this creator's."""
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.creator_id != creator.id:
        raise NotFound("No such webhook endpoint.")
    return endpoint


def update(endpoint: WebhookEndpoint, **changes: Any) -> WebhookEndpoint:
    """Change the URL, events, description, or enable/disable it. Raises InvalidWebhookUrl."""
    if "url" in changes:
        endpoint.url = check_url(changes["url"])
    if "events" in changes:
        endpoint.events = sorted(set(changes["events"]))
    if "description" in changes:
        endpoint.description = changes["description"]
    status = changes.get("status")
    if status == "enabled" and endpoint.status != "enabled":
        endpoint.status, endpoint.disabled_reason, endpoint.disabled_at = "enabled", None, None
    elif status == "disabled" and endpoint.status != "disabled":
        endpoint.status, endpoint.disabled_reason = "disabled", "Disabled by the creator."
        endpoint.disabled_at = clock.utcnow()
    db.session.flush()
    return endpoint


def remove(endpoint: WebhookEndpoint) -> None:
    db.session.delete(endpoint)
    db.session.flush()


def rotate_secret(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new key; the current one keeps signing (beside it) for ROTATION_OVERLAP."""
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = clock.utcnow() + ROTATION_OVERLAP
    endpoint.secret = _secret()
    db.session.flush()
    return endpoint


def _require_enabled(endpoint: WebhookEndpoint) -> None:
    if endpoint.status != "enabled":
        raise EndpointDisabled()


def ping(endpoint: WebhookEndpoint) -> Delivery:
    """Queue a `ping` delivery (sent once, never retried). Raises EndpointDisabled."""
    _require_enabled(endpoint)
    return delivery.create(endpoint, event=None)


def retry(endpoint: WebhookEndpoint, delivery_id: uuid.UUID) -> Delivery:
    """Send a delivery of this endpoint again, now. Raises NotFound, EndpointDisabled."""
    found = db.session.scalar(
        select(Delivery)
        .where(Delivery.id == delivery_id, Delivery.endpoint_id == endpoint.id)
        .with_for_update()
    )
    if found is None:
        raise NotFound("No such delivery of this endpoint.")
    _require_enabled(endpoint)
    delivery.retry_now(found)
    return found


def attempts(*, endpoint: WebhookEndpoint, limit: int, cursor: str | None) -> dict[str, Any]:
    """The endpoint's delivery attempts, newest first."""
    stmt = (
        select(DeliveryAttempt, Delivery)
        .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
        .where(Delivery.endpoint_id == endpoint.id)
    )
    order = (DeliveryAttempt.created_at, DeliveryAttempt.id)
    rows = db.session.execute(keyset(stmt, order=order, limit=limit, cursor=cursor)).all()
    result = page(rows, limit=limit, key=lambda r: (r[0].created_at, r[0].id))
    result["data"] = [
        {
            "id": made.id,
            "delivery_id": sent.id,
            "event_id": delivery.public_event_id(sent.event_id) if sent.event_id else None,
            "type": sent.type,
            "attempt": made.attempt,
            "status_code": made.status_code,
            "latency_ms": made.latency_ms,
            "response_excerpt": made.response_excerpt,
            "error": made.error,
            "next_attempt_at": made.next_attempt_at,
            "created_at": made.created_at,
            "delivery_status": sent.status,
        }
        for made, sent in result["data"]
    ]
    return result
