"""Notifications in the app, their settings, and the one-click unsubscribe."""

from __future__ import annotations

from flask import Response, current_app, request
from markupsafe import escape

from ..accounts.auth import auth_required, current_user
from ..common.errors import DomainError
from ..common.http import Blueprint
from ..common.pagination import CursorArgs
from ..common.reads import reads_only
from ..extensions import db
from . import (
    receivers,  # noqa: F401  (connects this package to the other domains' signals)
    service,
)
from .schemas import (
    MarkReadSchema,
    NotificationPageSchema,
    SettingsSchema,
    SettingsUpdateSchema,
    UnsubscribeArgs,
    UnsubscribedSchema,
)
from .tokens import read_unsubscribe_token

blp = Blueprint("notifications", __name__, url_prefix="/v1", description="Notifications and e-mail choices")


class InvalidUnsubscribeToken(DomainError):
    code = "invalid_token"
    title = "This unsubscribe link is not valid"


@blp.route("/me/notifications", methods=["GET"])
@auth_required()
@blp.arguments(CursorArgs, location="query")
@blp.response(200, NotificationPageSchema)
@reads_only
def list_notifications(args):
    """Your notifications, newest first, with how many are unread"""
    result = service.list_notifications(user_id=current_user().id, **args)
    result["data"] = [
        {
            "id": n.id,
            "kind": n.kind,
            "created_at": n.created_at,
            "read": n.read_at is not None,
            "data": n.data,
        }
        for n in result["data"]
    ]
    return result


@blp.route("/me/notifications/read", methods=["POST"])
@auth_required("messaging")
@blp.arguments(MarkReadSchema)
@blp.response(204)
@blp.doc(responses={422: "UNPROCESSABLE_ENTITY"})
def mark_read(data):
    """Mark a notification and every older one read"""
    service.mark_read(user_id=current_user().id, up_to_id=data["up_to_id"])
    db.session.commit()


@blp.route("/me/notification-settings", methods=["GET"])
@auth_required()
@blp.response(200, SettingsSchema)
def get_settings():
    """What you are told, in the app and by e-mail, for each kind"""
    return {"kinds": service.settings(current_user().id)}


@blp.route("/me/notification-settings", methods=["PATCH"])
@auth_required(api_key=False)
@blp.arguments(SettingsUpdateSchema)
@blp.response(200, SettingsSchema)
@blp.doc(responses={422: "UNPROCESSABLE_ENTITY"})
def update_settings(data):
    """Choose, per kind, whether you are told in the app and by e-mail

    Kinds left out keep their setting. Receipts and refunds are always e-mailed
    (422 `required_notification`).
    """
    user = current_user()
    service.change_settings(user.id, data["kinds"])
    db.session.commit()
    return {"kinds": service.settings(user.id)}


def _unsubscribe_target(token: str):
    target = read_unsubscribe_token(token)
    if target is None:
        raise InvalidUnsubscribeToken("Use the link from the e-mail as it came.")
    return target


@blp.route("/notifications/unsubscribe", methods=["POST"])
@blp.arguments(UnsubscribeArgs, location="query")
@blp.response(200, UnsubscribedSchema)
@blp.doc(responses={400: "BAD_REQUEST"}, security=[])
def unsubscribe(args):
    """Stop the e-mails an unsubscribe link names (RFC 8058 one-click; no login)

    Mail clients POST `List-Unsubscribe=One-Click` to the link; the signed token says
    whose e-mails and which kind. A link from a receipt stops every kind that can be
    stopped.
    """
    user_id, kinds = _unsubscribe_target(args["token"])
    stopped = service.stop_emails(user_id, kinds)
    db.session.commit()
    return {"kinds": stopped}


@blp.route("/notifications/unsubscribe", methods=["GET"])
@blp.arguments(UnsubscribeArgs, location="query")
@blp.response(200, {"type": "string"}, content_type="text/html", description="A page asking to confirm")
@blp.doc(responses={400: "BAD_REQUEST"}, security=[])
def unsubscribe_page(args):
    """The page an unsubscribe link opens in a browser: one button that unsubscribes

    Opening the link changes nothing (link scanners open links); the button POSTs it.
    """
    _unsubscribe_target(args["token"])
    action = escape(f"{request.path}?{request.query_string.decode()}")
    html = f"""<!doctype html><html><head><meta charset="utf-8"><title>Unsubscribe</title></head>
<body><form method="post" action="{action}"><p>Stop these e-mails?</p>
<button name="List-Unsubscribe" value="One-Click">Unsubscribe</button></form></body></html>"""
    response: Response = current_app.response_class(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = "default-src 'none'; form-action 'self'"
    return response
