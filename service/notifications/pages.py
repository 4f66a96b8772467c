"""The development mailbox's pages (EMAIL_BACKEND=local): what was sent, to read in a
browser. Registered only with the local backend."""

from __future__ import annotations

import email
import email.policy
import uuid
from email.message import EmailMessage

from flask import Response, current_app
from markupsafe import escape
from sqlalchemy import select

from ..common.errors import NotFound
from ..common.http import Blueprint
from ..extensions import db
from .models import LocalMail

blp = Blueprint("local_mail", __name__, description="Local mailbox (development only)")

HTML = {"content_type": "text/html", "description": "An HTML page"}
SHOWN = 100


def _page(title: str, body: str) -> Response:
    html = f"""<!doctype html><html><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}}
td{{padding:.2rem .6rem;vertical-align:top}}pre{{white-space:pre-wrap}}
iframe{{width:100%;height:28rem;border:1px solid #ccc}}.note{{color:#666}}</style></head>
<body><p class="note">Local mailbox: nothing here left this machine.</p>{body}</body></html>"""
    response = current_app.response_class(html, mimetype="text/html")
    # The message's own HTML is shown in a sandboxed frame that may run nothing.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; img-src data:"
    )
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@blp.route("/local-mail", methods=["GET"])
@blp.response(200, {"type": "string"}, **HTML)
@blp.doc(security=[])
def mailbox():
    """The newest messages the local mailbox kept"""
    rows = db.session.scalars(
        select(LocalMail).order_by(LocalMail.created_at.desc(), LocalMail.id.desc()).limit(SHOWN)
    ).all()
    items = "".join(
        f"<tr><td>{escape(m.created_at.strftime('%Y-%m-%d %H:%M:%S'))}</td><td>{escape(m.to_address)}</td>"
        f'<td><a href="/local-mail/{m.id}">{escape(m.subject)}</a></td></tr>'
        for m in rows
    )
    return _page(
        "Local mailbox", f"<h1>Mail</h1><table>{items or '<tr><td>Nothing sent yet.</td></tr>'}</table>"
    )


def _parts(raw: str) -> tuple[EmailMessage, str, str]:
    message = email.message_from_string(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    return message, text.get_content() if text else "", html.get_content() if html else ""


@blp.route("/local-mail/<uuid:mail_id>", methods=["GET"])
@blp.response(200, {"type": "string"}, **HTML)
@blp.doc(security=[], responses={404: "NOT_FOUND"})
def message(mail_id: uuid.UUID):
    """One message: its headers, its text part and its HTML part"""
    row = db.session.get(LocalMail, mail_id)
    if row is None:
        raise NotFound("No such message.")
    parsed, text, html = _parts(row.raw)
    headers = "".join(
        f"<tr><td>{escape(name)}</td><td>{escape(str(value))}</td></tr>" for name, value in parsed.items()
    )
    body = (
        f'<p><a href="/local-mail">All mail</a></p><h1>{escape(row.subject)}</h1><table>{headers}</table>'
        f'<h2>HTML part</h2><iframe sandbox srcdoc="{escape(html)}"></iframe>'
        f"<h2>Text part</h2><pre>{escape(text)}</pre>"
    )
    return _page(row.subject, body)
