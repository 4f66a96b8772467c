"""Sending deliveries: signed as Standard Webhooks say, to an address checked at send time.

Each attempt is a job. It locks its delivery, sends while holding the lock (so a manual
retry and a scheduled attempt never both send attempt n), records the answer and, after
a failure, enqueues the next attempt with a delay. A worker that dies mid-send leaves the
job to the sweep, which sends again: receivers deduplicate on `webhook-id`, which stays
the same for every attempt of a delivery.
"""

from __future__ import annotations

import ipaddress
import json
import random
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from flask import current_app
from requests.adapters import HTTPAdapter
from sqlalchemy import select, update
from standardwebhooks import Webhook

from .. import jobs
from ..common import clock
from ..extensions import db
from .models import Delivery, DeliveryAttempt, Event, WebhookEndpoint

# Waits after attempts 1 to 7 (±10 %): 8 attempts over about 28 hours, then the endpoint
# is disabled.
SCHEDULE = [
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
]
LAST_ATTEMPT = len(SCHEDULE) + 1
TIMEOUT_SECONDS = 10
EXCERPT_BYTES = 1000

# Never a webhook target unless WEBHOOKS_ALLOW_PRIVATE: what `is_global` leaves out
# (private, loopback, link-local, CGNAT, reserved, documentation ranges), multicast, and the
# cloud metadata addresses, named for clarity though the ranges above hold them.
METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


class Refused(Exception):
    """The delivery was not sent: its address is not one we send to."""


def event_body(event: Event) -> dict[str, Any]:
    """What receivers get, and what the events feed lists."""
    return {
        "id": public_event_id(event.id),
        "type": event.type,
        "timestamp": event.created_at.isoformat(),
        "data": event.data,
    }


def public_event_id(event_id: int) -> str:
    return f"evt_{event_id}"


def create(endpoint: WebhookEndpoint, *, event: Event | None) -> Delivery:
    """A delivery of the event (a ping without one) to the endpoint, its first attempt queued."""
    delivery = Delivery(
        endpoint_id=endpoint.id,
        event_id=event.id if event else None,
        type=event.type if event else "ping",
        status="pending",
        attempts=0,
        next_attempt_at=clock.utcnow(),
    )
    db.session.add(delivery)
    db.session.flush()
    _enqueue_attempt(delivery, 1)
    return delivery


def _enqueue_attempt(delivery: Delivery, attempt: int, delay: timedelta | None = None) -> None:
    jobs.enqueue(send, str(delivery.id), attempt, key=f"webhook:{delivery.id}:{attempt}", delay=delay)


def retry_now(delivery: Delivery) -> None:
    """Send the delivery's next attempt at once, whatever it was; the schedule goes on from it."""
    delivery.status = "pending"
    delivery.next_attempt_at = clock.utcnow()
    db.session.flush()
    # Unkeyed: the scheduled job of the same attempt may exist; whichever runs second finds
    # the attempt made and does nothing.
    jobs.enqueue(send, str(delivery.id), delivery.attempts + 1)


def send(delivery_id: str, attempt: int) -> None:
    """Job: make attempt number `attempt` of the delivery, unless it was made already."""
    delivery = db.session.scalar(
        select(Delivery)
        .where(Delivery.id == uuid.UUID(delivery_id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if delivery is None or delivery.attempts != attempt - 1 or delivery.status != "pending":
        return
    endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id)
    assert endpoint is not None  # a delivery goes with its endpoint
    if endpoint.status != "enabled":
        delivery.status, delivery.next_attempt_at = "failed", None
        return
    msg_id, body = _message(delivery)
    outcome = _post(endpoint, msg_id, body)
    delivery.attempts = attempt
    succeeded = outcome.status_code is not None and 200 <= outcome.status_code < 300
    wait = None if succeeded or not _retried(delivery, attempt) else _jittered(SCHEDULE[attempt - 1])
    now = clock.utcnow()
    delivery.next_attempt_at = now + wait if wait else None
    delivery.status = "succeeded" if succeeded else ("pending" if wait else "failed")
    db.session.add(
        DeliveryAttempt(
            delivery_id=delivery.id,
            attempt=attempt,
            status_code=outcome.status_code,
            latency_ms=outcome.latency_ms,
            response_excerpt=outcome.excerpt,
            error=outcome.error,
            next_attempt_at=delivery.next_attempt_at,
        )
    )
    if wait:
        _enqueue_attempt(delivery, attempt + 1, delay=wait)
    elif not succeeded and delivery.event_id is not None and attempt == LAST_ATTEMPT:
        _disable(endpoint, f"{LAST_ATTEMPT} attempts over a day failed (last: {outcome.describe()})")


def _retried(delivery: Delivery, attempt: int) -> bool:
    """A failed attempt is followed by another while the schedule lasts; a ping is tried once."""
    return delivery.event_id is not None and attempt < LAST_ATTEMPT


def _jittered(wait: timedelta) -> timedelta:
    # Receivers coming back up are not hit by every delayed attempt at the same second.
    return wait * random.uniform(0.9, 1.1)  # noqa: S311


def _disable(endpoint: WebhookEndpoint, reason: str) -> None:
    db.session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint.id, WebhookEndpoint.status == "enabled")
        .values(status="disabled", disabled_reason=reason[:500], disabled_at=clock.utcnow())
    )


def _message(delivery: Delivery) -> tuple[str, str]:
    """The webhook-id and the body; the same for every attempt of a delivery."""
    if delivery.event_id is None:
        body = {
            "type": "ping",
            "timestamp": delivery.created_at.isoformat(),
            "data": {"endpoint_id": str(delivery.endpoint_id)},
        }
        return f"msg_{delivery.id.hex}", json.dumps(body, separators=(",", ":"))
    event = db.session.get(Event, delivery.event_id)
    assert event is not None  # deleting an event deletes its deliveries
    return public_event_id(event.id), json.dumps(event_body(event), separators=(",", ":"))


def signature(endpoint: WebhookEndpoint, msg_id: str, sent_at: datetime, body: str) -> str:
    """`v1,<base64>` with the endpoint's key, and with the previous one while it is still valid."""
    keys = [endpoint.secret]
    until = endpoint.previous_secret_until
    if endpoint.previous_secret and until and until > clock.utcnow():
        keys.append(endpoint.previous_secret)
    return " ".join(Webhook(key).sign(msg_id, sent_at, body) for key in keys)


class Outcome:
    def __init__(
        self,
        *,
        status_code: int | None = None,
        latency_ms: int | None = None,
        excerpt: str | None = None,
        error: str | None = None,
    ) -> None:
        self.status_code, self.latency_ms, self.excerpt, self.error = status_code, latency_ms, excerpt, error

    def describe(self) -> str:
        return self.error or f"HTTP {self.status_code}"


def _post(endpoint: WebhookEndpoint, msg_id: str, body: str) -> Outcome:
    # The signed timestamp is the wall-clock time of sending: receivers compare it with theirs.
    sent_at = datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "user-agent": "creator-api-webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature(endpoint, msg_id, sent_at, body),
    }
    started = time.monotonic()
    try:
        status_code, excerpt = post_pinned(endpoint.url, body.encode(), headers)
    except Refused as refused:
        return Outcome(error=str(refused))
    except requests.RequestException as error:
        return Outcome(latency_ms=_ms_since(started), error=f"{type(error).__name__}: {error}"[:500])
    outcome = Outcome(status_code=status_code, latency_ms=_ms_since(started), excerpt=excerpt)
    if 300 <= status_code < 400:
        outcome.error = f"HTTP {status_code}: redirects are not followed"
    return outcome


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


# Sending to the checked address --------------------------------------------------------------


def allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast and address not in METADATA


def checked_address(host: str, port: int) -> str:
    """The address to connect to for `host`, resolved now. Raises Refused when any address
    the name has is not allowed (so a name cannot mix a public and a private answer)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise Refused(f"{host} does not resolve: {error}") from error
    addresses = [ipaddress.ip_address(info[4][0]) for info in found]
    if not addresses:
        raise Refused(f"{host} does not resolve")
    if not current_app.config["WEBHOOKS_ALLOW_PRIVATE"]:
        for address in addresses:
            if not allowed(address):
                raise Refused(f"{host} resolves to {address}, which is not a public address")
    return str(addresses[0])


class PinnedAdapter(HTTPAdapter):
    """Connects where we say, while TLS still names (SNI) and verifies the URL's host."""

    def __init__(self, host: str) -> None:
        self.host = host
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, server_hostname=self.host, assert_hostname=self.host, **kwargs)


def post_pinned(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """POST to the address the URL's host resolves to now, checked; no redirects followed,
    no proxy from the environment. The status code and the start of the answer. Raises
    Refused, requests.RequestException."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise Refused("the URL has no host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = checked_address(parts.hostname, port)
    literal = f"[{address}]" if ":" in address else address
    pinned = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
    with requests.Session() as session:
        session.trust_env = False
        session.mount(f"{parts.scheme}://", PinnedAdapter(parts.hostname))
        with session.post(
            pinned,
            data=body,
            headers={**headers, "host": parts.netloc.rpartition("@")[2]},
            timeout=TIMEOUT_SECONDS,
            allow_redirects=False,
            stream=True,
        ) as response:
            # Only the start is kept: a receiver cannot make us read (or store) a huge answer.
            excerpt = response.raw.read(EXCERPT_BYTES, decode_content=True)
            return response.status_code, excerpt.decode("utf-8", "replace")
