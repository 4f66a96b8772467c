"""Pages of the local payment gateway: checkout, Connect onboarding and a portal.

Registered only with PAYMENTS_PROVIDER=local. They stand in for Stripe's hosted
pages so a person can click through a purchase in a browser.
"""

from __future__ import annotations

from flask import Response, current_app, redirect
from markupsafe import escape

from ..common.http import Blueprint
from ..extensions import db
from .gateway import current_local_gateway

blp = Blueprint("local_gateway", __name__, description="Local payment pages (development only)")

HTML = {"content_type": "text/html", "description": "An HTML page"}
REDIRECT = {303: {"description": "Back to the site that started the flow"}, 404: "NOT_FOUND"}


def _page(title: str, body: str) -> Response:
    html = f"""<!doctype html><html><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}
button{{font-size:1rem;padding:.5rem 1.2rem;margin-right:.5rem}}.note{{color:#666}}</style></head>
<body><p class="note">Local payment gateway: no real money moves.</p>{body}</body></html>"""
    response = current_app.response_class(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' *"
    )
    return response


def _money(amount: int, currency: str) -> str:
    return f"{amount} {escape(currency.upper())} (minor units)"


@blp.route("/local-checkout/<string:session_id>", methods=["GET"])
@blp.response(200, **HTML)
@blp.doc(responses={404: "NOT_FOUND"})
def checkout_page(session_id: str):
    """The simulated checkout page"""
    session = current_local_gateway().checkout_page(session_id)
    what = "every period" if session["mode"] == "subscription" else "once"
    trial = f"<p>Free trial: {int(session['trial_days'])} days.</p>" if session.get("trial_days") else ""
    state = "" if session["status"] == "open" else f"<p>This checkout is {escape(session['status'])}.</p>"
    action = f"/local-checkout/{escape(session_id)}"
    price = _money(session["amount"], session["currency"])
    return _page(
        "Checkout",
        f"""<h1>{escape(session["title"])}</h1><p>{price}, {what}.</p>{trial}{state}
<form method="post" action="{action}/pay"><button>Pay</button></form>
<form method="post" action="{action}/cancel"><button>Cancel</button></form>""",
    )


@blp.route("/local-checkout/<string:session_id>/pay", methods=["POST"])
@blp.doc(responses=REDIRECT)
def checkout_pay(session_id: str):
    """Pay the simulated checkout"""
    target = current_local_gateway().pay(session_id)
    db.session.commit()
    return redirect(target, code=303)


@blp.route("/local-checkout/<string:session_id>/cancel", methods=["POST"])
@blp.doc(responses=REDIRECT)
def checkout_cancel(session_id: str):
    """Abandon the simulated checkout"""
    target = current_local_gateway().abandon(session_id)
    db.session.commit()
    return redirect(target, code=303)


@blp.route("/local-connect/<string:link_id>", methods=["GET"])
@blp.response(200, **HTML)
@blp.doc(responses={404: "NOT_FOUND"})
def onboarding_page(link_id: str):
    """The simulated payout onboarding form"""
    current_local_gateway().onboarding_link(link_id)
    return _page(
        "Payouts",
        f"""<h1>Set up payouts</h1><form method="post" action="/local-connect/{escape(link_id)}">
<button>Finish onboarding</button></form>""",
    )


@blp.route("/local-connect/<string:link_id>", methods=["POST"])
@blp.doc(responses=REDIRECT)
def onboarding_finish(link_id: str):
    """Finish the simulated payout onboarding"""
    target = current_local_gateway().complete_onboarding(link_id)
    db.session.commit()
    return redirect(target, code=303)


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
