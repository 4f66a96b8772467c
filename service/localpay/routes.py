"""Pages of the local payment gateway: checkout, Connect onboarding and a portal.

Registered only with PAYMENTS_PROVIDER=local. They stand in for Stripe's hosted
pages so a person can click through a purchase in a browser.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, redirect
from markupsafe import escape

from ..common.http import Blueprint
from ..common.money import format_money
from ..extensions import db
from .gateway import current_local_gateway

blp = Blueprint("local_gateway", __name__, description="Local payment pages (development only)")

HTML = {"content_type": "text/html", "description": "An HTML page"}
REDIRECT = {303: {"description": "Back to the site that started the flow"}, 404: "NOT_FOUND"}
CLOSED_RESPONSES = {
    409: {"description": "The checkout is complete: its state page (HTML), nothing paid again"},
    410: {"description": "The checkout has expired: its state page (HTML), nothing paid"},
}


def _page(title: str, body: str, status: int = 200) -> Response:
    html = f"""<!doctype html><html><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}
button{{font-size:1rem;padding:.5rem 1.2rem;margin-right:.5rem}}.note{{color:#666}}</style></head>
<body><p class="note">Local payment gateway: no real money moves.</p>{body}</body></html>"""
    response = current_app.response_class(html, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' *"
    )
    return response


def _price_label(session: dict[str, Any]) -> str:
    """ "€5.00 / month", "€45.00 / 3 months", "€12.00": what the buyer pays, and how often."""
    amount = format_money(int(session["amount"]), session["currency"])
    recurring = session.get("recurring")
    if not recurring:
        return amount
    count, interval = int(recurring["interval_count"]), recurring["interval"]
    return f"{amount} / {interval}" if count == 1 else f"{amount} / {count} {interval}s"


# A closed session's page says what became of it, and offers no Pay or Cancel.
CLOSED = {
    "complete": (409, "This checkout is complete: it has been paid."),
    "expired": (410, "This checkout has expired; nothing was paid. Start again from the site."),
}


def _checkout_page(session_id: str, status: int = 200) -> Response:
    session = current_local_gateway().checkout_page(session_id)
    currency = session["currency"]
    parts = [f"<h1>{escape(session['title'])}</h1>", f"<p>Sold by {escape(session['seller'])}</p>"]
    parts.append(f"<p><strong>{escape(_price_label(session))}</strong></p>")
    if session.get("trial_days"):
        parts.append(f"<p>Free for {int(session['trial_days'])} days, then billed as above.</p>")
    if session["discount"]:
        due = max(int(session["amount"]) - int(session["discount"]), 0)
        credit, today = format_money(int(session["discount"]), currency), format_money(due, currency)
        parts.append(f"<p>Upgrade credit: {escape(credit)}. Due today: {escape(today)}.</p>")
    if session["status"] in CLOSED:
        parts.append(f"<p><strong>{escape(CLOSED[session['status']][1])}</strong></p>")
    else:
        action = f"/local-checkout/{escape(session_id)}"
        parts.append(
            f"""<form method="post" action="{action}/pay"><button>Pay</button></form>
<form method="post" action="{action}/cancel"><button>Cancel</button></form>"""
        )
    return _page("Checkout", "".join(parts), status)


def _closed(session_id: str) -> Response:
    """The answer to Pay or Cancel on a session that is no longer open: its state page."""
    status = current_local_gateway().checkout_page(session_id)["status"]
    return _checkout_page(session_id, CLOSED.get(status, (409, ""))[0])


@blp.route("/local-checkout/<string:session_id>", methods=["GET"])
@blp.response(200, **HTML)
@blp.doc(responses={404: "NOT_FOUND"})
def checkout_page(session_id: str):
    """The simulated checkout page"""
    response = _checkout_page(session_id)
    db.session.commit()  # a session found past its lifetime has just expired
    return response


@blp.route("/local-checkout/<string:session_id>/pay", methods=["POST"])
@blp.doc(responses={**REDIRECT, **CLOSED_RESPONSES})
def checkout_pay(session_id: str):
    """Pay the simulated checkout"""
    target = current_local_gateway().pay(session_id)
    db.session.commit()
    return _closed(session_id) if target is None else redirect(target, code=303)


@blp.route("/local-checkout/<string:session_id>/cancel", methods=["POST"])
@blp.doc(responses={**REDIRECT, **CLOSED_RESPONSES})
def checkout_cancel(session_id: str):
    """Abandon the simulated checkout"""
    target = current_local_gateway().abandon(session_id)
    db.session.commit()
    return _closed(session_id) if target is None else redirect(target, code=303)


@blp.route("/local-connect/<string:link_id>", methods=["GET"])
@blp.response(200, **HTML)
@blp.doc(responses={303: {"description": "A used link: to its refresh_url"}, 404: "NOT_FOUND"})
def onboarding_page(link_id: str):
    """The simulated payout onboarding form (each link opens once, like Stripe's)"""
    link = current_local_gateway().open_onboarding(link_id)
    db.session.commit()
    if link["expired"]:
        return redirect(link.get("refresh_url") or link["return_url"], code=303)
    return _page(
        "Payouts",
        f"""<h1>Set up payouts</h1><form method="post" action="/local-connect/{escape(link_id)}">
<button>Finish onboarding</button></form>""",
    )


@blp.route("/local-connect/<string:link_id>", methods=["POST"])
@blp.doc(responses={**REDIRECT, 410: {"description": "The link was used already (an HTML page)"}})
def onboarding_finish(link_id: str):
    """Finish the simulated payout onboarding"""
    target = current_local_gateway().complete_onboarding(link_id)
    db.session.commit()
    if target is not None:
        return redirect(target, code=303)
    again = current_local_gateway().onboarding_link(link_id).get("refresh_url", "")
    return _page(
        "Payouts",
        f"""<h1>This link has expired</h1><p>Onboarding links work once.
<a href="{escape(again)}">Get a new link</a></p>""",
        410,
    )


@blp.route("/local-portal/<string:portal_id>", methods=["GET"])
@blp.response(200, **HTML)
@blp.doc(responses={404: "NOT_FOUND"})
def portal_page(portal_id: str):
    """The simulated customer portal: your subscriptions at the provider"""
    portal, subs = current_local_gateway().portal(portal_id)
    rows = "".join(
        f"<li>{escape(s['id'])}: {escape(s['status'])}"
        f"{' (ends at period end)' if s.get('cancel_at_period_end') else ''}</li>"
        for s in subs
    )
    return _page(
        "Billing",
        f"""<h1>Your subscriptions</h1><ul>{rows or "<li>None</li>"}</ul>
<p>Cancel or resume them through the API. <a href="{escape(portal["return_url"])}">Back</a></p>""",
    )
