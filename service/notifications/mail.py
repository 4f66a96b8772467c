"""E-mail: rendering from the templates, the two ways out (SMTP, the local mailbox), and
the job that sends a batch.

Each e-mail is sent in its own transaction under a lock on its row, so a batch that
fails half-way resumes where it stopped and two workers never send the same one. SMTP
cannot take part in our transaction: if the process dies after the server accepted a
message and before the commit, that one message goes twice — the only duplicate
possible, and the reason the row is marked right after the server's answer. The local
mailbox writes in the same transaction, so it keeps each message exactly once.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from typing import Protocol
from urllib.parse import unquote, urlsplit

from flask import current_app
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import delete, select

from ..accounts.models import User
from ..common import clock
from ..common.db import insert_or_ignore
from ..extensions import db
from .kinds import KINDS, VERIFY_EMAIL, VERIFY_SUBJECT
from .models import Email, LocalMail, Suppression
from .service import choices
from .tokens import unsubscribe_url

log = logging.getLogger(__name__)
KEPT = timedelta(days=30)

_templates = Environment(
    loader=PackageLoader("service.notifications", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

# Kind → a last check of a batch of its e-mails before sending, for what only send time can
# know (access to a post, still unread): the ids of those that must not go, with why.
SEND_CHECKS: dict[str, Callable[[list[Email]], dict[uuid.UUID, str]]] = {}


class TemporaryFailure(Exception):
    """The server could not take the message now; try again later."""


class PermanentFailure(Exception):
    """The server refused the message for good (5xx). `address_refused` when it was the
    recipient it refused, which suppresses the address."""

    def __init__(self, detail: str, *, address_refused: bool) -> None:
        super().__init__(detail)
        self.address_refused = address_refused


class Outbound(Protocol):
    def send(self, message: EmailMessage) -> None: ...


# Rendering ------------------------------------------------------------------------


def _platform() -> tuple[str, str]:
    name, address = parseaddr(current_app.config["MAIL_FROM"])
    return name or "Creator Platform", address


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


def render(email: Email, to: Recipient) -> EmailMessage:
    """The message as it leaves: both parts, From in the creator's name, one-click unsubscribe."""
    platform, sender = _platform()
    site = current_app.config["SITE_URL"].rstrip("/")
    unsubscribe = unsubscribe_url(to.user_id, email.kind)
    context = {
        **email.data,
        "platform": platform,
        "recipient_name": to.name,
        "site": site,
        "settings_url": f"{site}/settings/notifications",
        "unsubscribe_url": unsubscribe,
        "kind": KINDS.get(email.kind),
    }
    subject = VERIFY_SUBJECT if email.kind == VERIFY_EMAIL else KINDS[email.kind].subject.format(**email.data)
    creator = email.data.get("creator_name")
    message = EmailMessage()
    message["Subject"] = _one_line(subject)
    message["From"] = formataddr((_one_line(f"{creator} via {platform}" if creator else platform), sender))
    message["To"] = to.address
    message["Date"] = format_datetime(clock.utcnow())
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message["List-Unsubscribe"] = f"<{unsubscribe}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(_templates.get_template(f"email/{email.kind}.txt").render(context))
    message.add_alternative(
        _templates.get_template(f"email/{email.kind}.html").render(context), subtype="html"
    )
    return message


# The ways out ---------------------------------------------------------------------


class LocalMailbox:
    """Keeps the message in `local_mail`, in the sending transaction (`/local-mail` lists it)."""

    def send(self, message: EmailMessage) -> None:
        db.session.add(
            LocalMail(to_address=str(message["To"]), subject=str(message["Subject"]), raw=message.as_string())
        )


class Smtp:
    """One connection for a batch, opened on first use and again after a failure.

    `smtps://` is TLS from the start; `smtp://` upgrades with STARTTLS, which it insists
    on unless the server is on this machine; user and password in the URL log in."""

    def __init__(self, url: str, timeout: int) -> None:
        parts = urlsplit(url)
        self.implicit_tls = parts.scheme == "smtps"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if self.implicit_tls else 587)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password or "")
        self.timeout = timeout
        self.connection: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.implicit_tls:
            connection: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=context
            )
        else:
            connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            connection.ehlo()
            if connection.has_extn("starttls"):
                connection.starttls(context=context)
                connection.ehlo()
            elif self.host not in ("localhost", "127.0.0.1", "::1"):
                connection.close()
                raise TemporaryFailure(f"{self.host} offers no STARTTLS; not sending in clear")
        if self.username:
            connection.login(self.username, self.password)
        return connection

    def send(self, message: EmailMessage) -> None:
        try:
            if self.connection is None:
                self.connection = self._connect()
            refused = self.connection.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            self._raise_for(error.recipients)
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPSenderRefused) as error:
            self.close()  # our side's setup, not this message: retried once it is fixed
            raise TemporaryFailure(f"{error.smtp_code} {error.smtp_error!r}") from error
        except smtplib.SMTPResponseException as error:
            self.close()
            detail = f"{error.smtp_code} {error.smtp_error!r}"
            if 500 <= error.smtp_code < 600:
                raise PermanentFailure(detail, address_refused=False) from error
            raise TemporaryFailure(detail) from error
        except (TimeoutError, smtplib.SMTPException, OSError) as error:
            self.close()
            raise TemporaryFailure(f"{type(error).__name__}: {error}") from error
        if refused:
            self._raise_for(refused)

    @staticmethod
    def _raise_for(recipients: dict[str, tuple[int, bytes]]) -> None:
        code, answer = next(iter(recipients.values()))
        detail = f"{code} {answer.decode(errors='replace')}"
        if 500 <= code < 600:
            raise PermanentFailure(detail, address_refused=True)
        raise TemporaryFailure(detail)

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self.connection.quit()
            self.connection = None


@contextlib.contextmanager
def outbound() -> Iterator[Outbound]:
    cfg = current_app.config
    if cfg["EMAIL_BACKEND"] == "local":
        yield LocalMailbox()
        return
    smtp = Smtp(cfg["SMTP_URL"], cfg["SMTP_TIMEOUT"])
    try:
        yield smtp
    finally:
        smtp.close()


# Sending --------------------------------------------------------------------------


def suppress(address: str, reason: str, detail: str | None = None) -> None:
    insert_or_ignore(
        db.session,
        Suppression,
        {"address": address.lower(), "reason": reason, "detail": detail, "created_at": clock.utcnow()},
    )


def purge_old() -> int:
    """Job, daily: forget e-mails (and local mail) that left, or were dropped, 30 days ago.
    Pending ones stay: the outbox still owes them an attempt."""
    cutoff = clock.utcnow() - KEPT
    db.session.execute(delete(LocalMail).where(LocalMail.created_at < cutoff))
    result = db.session.execute(delete(Email).where(Email.status != "pending", Email.created_at < cutoff))
    db.session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Recipient:
    user_id: uuid.UUID
    name: str
    address: str


def _decide(emails: list[Email]) -> dict[uuid.UUID, Recipient | str]:
    """For each e-mail of a batch, whom to send it to, or why it must not go now — in a
    few queries for the whole batch, not per e-mail."""
    users = {
        u.id: u for u in db.session.scalars(select(User).where(User.id.in_({e.user_id for e in emails})))
    }
    addresses = {
        e.id: e.to_address or (users[e.user_id].email if e.user_id in users else None) for e in emails
    }
    asked = {a.lower() for a in addresses.values() if a}
    suppressed = set(db.session.scalars(select(Suppression.address).where(Suppression.address.in_(asked))))
    by_kind: dict[str, list[Email]] = defaultdict(list)
    for email in emails:
        by_kind[email.kind].append(email)
    refused: dict[uuid.UUID, str] = {}
    for kind, group in by_kind.items():
        if kind == VERIFY_EMAIL:
            continue
        check = SEND_CHECKS.get(kind)
        if check is not None:
            refused.update(check(group))
        wanted = choices({e.user_id for e in group}, kind)
        refused.update({e.id: "unsubscribed" for e in group if not wanted[e.user_id].email})
    decided: dict[uuid.UUID, Recipient | str] = {}
    for email in emails:
        user, address = users.get(email.user_id), addresses[email.id]
        if user is None or user.deleted_at is not None or not address:
            decided[email.id] = "no_recipient"
        elif address.lower() in suppressed:
            decided[email.id] = "suppressed"
        elif email.kind == VERIFY_EMAIL:
            decided[email.id] = Recipient(user.id, user.display_name, address)
        elif user.email_verified_at is None:
            decided[email.id] = "unverified"
        else:
            decided[email.id] = refused.get(email.id) or Recipient(user.id, user.display_name, address)
    return decided


def _send_one(email_id: uuid.UUID, to: Recipient | str, out: Outbound) -> None:
    email = db.session.get(Email, email_id, with_for_update=True, populate_existing=True)
    if email is None or email.status != "pending":
        return  # sent, skipped or failed already: a retried batch passes it by
    if isinstance(to, str):
        email.status, email.reason = "skipped", to
        return
    message = render(email, to)
    email.attempts += 1
    try:
        out.send(message)
    except PermanentFailure as refused:
        email.status, email.reason = "failed", str(refused)
        if refused.address_refused:
            suppress(to.address, "bounced", str(refused))
        log.warning("e-mail %s refused for good: %s", email.id, refused)
        return
    except TemporaryFailure as error:
        email.reason = str(error)
        raise
    email.status, email.reason = "sent", None
    email.message_id, email.sent_at = str(message["Message-ID"]), clock.utcnow()


def send_emails(email_ids: list[str]) -> None:
    """Job: send a batch, each e-mail committed on its own, so a batch that stops resumes
    where it stopped. Whom to and whether at all is decided for the whole batch as it
    starts. A temporary failure leaves that e-mail pending and fails the job once the
    batch is through, so the outbox retries it with backoff; those sent are not sent again."""
    pending = db.session.scalars(
        select(Email).where(Email.id.in_([uuid.UUID(i) for i in email_ids]), Email.status == "pending")
    ).all()
    decided = _decide(list(pending))
    db.session.commit()
    postponed = 0
    with outbound() as out:
        for email_id, to in decided.items():
            try:
                _send_one(email_id, to, out)
            except TemporaryFailure:
                postponed += 1
            db.session.commit()
    if postponed:
        raise TemporaryFailure(f"{postponed} of {len(email_ids)} e-mails could not be sent yet")
