"""Where tests read the e-mail the app sent: a real SMTP server (aiosmtpd) on a free port,
or the local mailbox the development backend writes."""

from __future__ import annotations

import contextlib
import email
import email.policy
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from urllib.parse import urlsplit

from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import select

from service import jobs
from service.common import clock
from service.extensions import db
from service.jobs import outbox
from service.notifications.models import LocalMail


class Recorder:
    """An SMTP handler that keeps what it accepts; some addresses are refused on purpose:
    `bounce-…` for good (550), `later-…` for now (451) while `refuse_later` is set."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse_later = True

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address.startswith("bounce-"):
            return "550 5.1.1 No such mailbox"
        if address.startswith("later-") and self.refuse_later:
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def smtp_server(app: Flask) -> Iterator[Recorder]:
    """A real SMTP server for the app to send through, for the duration."""
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    saved = {k: app.config[k] for k in ("EMAIL_BACKEND", "SMTP_URL")}
    app.config.update(EMAIL_BACKEND="smtp", SMTP_URL=f"smtp://127.0.0.1:{port}")
    try:
        yield recorder
    finally:
        app.config.update(saved)
        controller.stop()


def local_mail(app: Flask, to: str | None = None) -> list[EmailMessage]:
    """What the local mailbox kept (to one address), oldest first."""
    with app.app_context():
        stmt = select(LocalMail).order_by(LocalMail.created_at, LocalMail.id)
        if to is not None:
            stmt = stmt.where(LocalMail.to_address == to)
        return [
            email.message_from_string(m.raw, policy=email.policy.default)  # type: ignore[misc]
            for m in db.session.scalars(stmt)
        ]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def link_in(message: EmailMessage, prefix: str) -> str:
    """The path and query of the first link in the text part that starts with `prefix`."""
    for word in text_of(message).split():
        if word.startswith(prefix) or urlsplit(word).path.startswith(prefix):
            parts = urlsplit(word)
            return f"{parts.path}?{parts.query}"
    raise AssertionError(f"no {prefix} link in {text_of(message)!r}")


def run_due_jobs(app: Flask, at: datetime | None = None, *, later: timedelta | None = None) -> None:
    """Move the clock (to `at`, or on by `later`), hand over the jobs due by then, and wait."""
    if at is None:
        at = clock.utcnow() + (later or timedelta(0))
    clock.freeze(at)
    with app.app_context():
        outbox.sweep()
        db.session.commit()
    jobs.wait_idle(app)
