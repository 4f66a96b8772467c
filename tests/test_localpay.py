"""The payment boundary: the simulator stays outside billing, and only the Stripe gateway knows Stripe."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from service.billing.models import WebhookEvent
from service.common import clock
from service.common.money import format_money
from service.extensions import db

from .billing_helpers import buy, checkout_status, local_path, onboard, simulate, start_checkout, subscription
from .conftest import assert_problem, log_in
from .fake_stripe import make_event, signed_event

SERVICE = Path(__file__).resolve().parent.parent / "service"
STRIPE_GATEWAY = {"billing/stripe_gateway.py", "billing/stripe_events.py"}


def _imports(path: Path) -> set[str]:
    """The modules a file imports, relative imports resolved within `service`."""
    package = ["service", *path.relative_to(SERVICE).parent.parts]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _modules() -> dict[str, set[str]]:
    return {str(p.relative_to(SERVICE)): _imports(p) for p in sorted(SERVICE.rglob("*.py"))}


def test_only_the_stripe_gateway_imports_stripe():
    importers = {
        name
        for name, imported in _modules().items()
        if any(m == "stripe" or m.startswith("stripe.") for m in imported)
    }
    assert importers == STRIPE_GATEWAY


def test_billing_never_imports_the_simulator():
    reaching = {
        name
        for name, imported in _modules().items()
        if name.startswith("billing/") and any(m.startswith("service.localpay") for m in imported)
    }
    assert reaching == set()


def test_the_local_gateway_refuses_webhooks_even_well_signed_ones(app, client):
    """The simulator records its own events in the inbox; nothing may come in from outside."""
    event = make_event("customer.created", {"id": "cus_1", "object": "customer"})
    payload, headers = signed_event(event)
    rv = client.post("/v1/webhooks/stripe", data=payload, headers=headers)
    assert_problem(rv, 400, "invalid_signature")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WebhookEvent)) == 0


# The pages a person pays on ------------------------------------------------------------


MONTHLY = {"type": "recurring", "interval": "month"}


def _local_shop(client, creator, make_offering):
    onboard(client, creator)
    return {
        "monthly": make_offering(creator, title="Supporter", amount=500),
        "quarterly": make_offering(
            creator,
            title="Quarterly",
            amount=4500,
            price={"type": "recurring", "interval": "month", "interval_count": 3},
        ),
        "yearly": make_offering(
            creator, title="Annual", amount=15000, price={"type": "recurring", "interval": "year"}
        ),
        "product": make_offering(creator, kind="product", title="Pattern library", amount=1200),
    }


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [(500, "eur", "€5.00"), (123456, "usd", "$1,234.56"), (500, "jpy", "¥500"), (5, "gbp", "£0.05")],
)
def test_money_is_formatted_in_its_currencys_units(amount, currency, shown):
    assert format_money(amount, currency) == shown


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("monthly", "€5.00 / month"),
        ("quarterly", "€45.00 / 3 months"),
        ("yearly", "€150.00 / year"),
        ("product", "€12.00"),
    ],
)
def test_the_checkout_page_names_the_price_the_offering_and_the_creator(
    client, creator, alice, make_offering, name, label
):
    offering = _local_shop(client, creator, make_offering)[name]
    session = start_checkout(client, alice, offering["price"]["id"]).get_json()
    page = client.get(local_path(session["url"])).get_data(as_text=True)
    assert f"<strong>{label}</strong>" in page
    assert offering["title"] in page and "Sold by Cora" in page
    assert "minor units" not in page and ">Pay</button>" in page


def _sales(client, creator):
    return client.get("/v1/creators/cora/sales", headers=creator.headers).get_json()["data"]


def test_a_paid_checkout_shows_its_state_and_cannot_be_paid_again(client, creator, alice, make_offering):
    product = _local_shop(client, creator, make_offering)["product"]
    session = buy(client, alice, product["price"]["id"])
    page = client.get(local_path(session["url"]))
    assert "is complete" in page.get_data(as_text=True) and ">Pay</button>" not in page.get_data(as_text=True)
    again = client.post(local_path(session["url"]) + "/pay")
    assert again.status_code == 409 and "Location" not in again.headers
    assert ">Pay</button>" not in again.get_data(as_text=True)
    assert client.post(local_path(session["url"]) + "/cancel").status_code == 409
    assert len(_sales(client, creator)) == 1
    assert checkout_status(client, alice, session["id"])["status"] == "complete"


def test_an_abandoned_checkout_shows_it_expired_and_pay_takes_nothing(client, creator, alice, make_offering):
    product = _local_shop(client, creator, make_offering)["product"]
    session = start_checkout(client, alice, product["price"]["id"]).get_json()
    assert client.post(local_path(session["url"]) + "/cancel").status_code == 303
    page = client.get(local_path(session["url"])).get_data(as_text=True)
    assert "has expired" in page and ">Pay</button>" not in page
    paid = client.post(local_path(session["url"]) + "/pay")
    assert paid.status_code == 410 and "Location" not in paid.headers
    assert checkout_status(client, alice, session["id"])["status"] == "expired"
    assert _sales(client, creator) == []


def test_a_checkout_left_open_for_a_day_expires_like_stripes(client, creator, signup, make_offering):
    clock.freeze(clock.utcnow())
    product = _local_shop(client, creator, make_offering)["product"]
    buyer = signup()
    session = start_checkout(client, buyer, product["price"]["id"]).get_json()
    clock.freeze(clock.utcnow() + timedelta(hours=24))
    paid = client.post(local_path(session["url"]) + "/pay")
    assert paid.status_code == 410 and "has expired" in paid.get_data(as_text=True)
    assert checkout_status(client, log_in(client, buyer), session["id"])["status"] == "expired"
    assert _sales(client, log_in(client, creator)) == []


def test_an_onboarding_link_works_once(client, creator):
    urls = {"return_url": "https://app.example/done", "refresh_url": "https://app.example/again"}
    rv = client.post("/v1/creators/cora/payouts/onboarding", json=urls, headers=creator.headers)
    link = local_path(rv.get_json()["url"])
    assert client.get(link).status_code == 200
    reopened = client.get(link)
    assert reopened.status_code == 303 and reopened.headers["Location"] == urls["refresh_url"]
    finished = client.post(link)
    assert finished.status_code == 303 and finished.headers["Location"] == urls["return_url"]
    used = client.post(link)
    assert used.status_code == 410 and "has expired" in used.get_data(as_text=True)
    assert urls["refresh_url"] in used.get_data(as_text=True)
    status = client.get("/v1/creators/cora/payouts", headers=creator.headers).get_json()
    assert status["charges_enabled"] is True


# Periods of the simulator: calendar months counted from the anchor, as Stripe bills -----


def _period_ends(app, client, account, sub_id, renewals):
    ends = [subscription(client, account, sub_id)["current_period_end"][:19]]
    for _ in range(renewals):
        simulate(app, "renew", sub_id)
        ends.append(subscription(client, account, sub_id)["current_period_end"][:19])
    return ends


@pytest.mark.parametrize(
    ("start", "price", "ends"),
    [
        (
            "2027-01-31T12:00:00",
            {"type": "recurring", "interval": "month"},
            ["2027-02-28T12:00:00", "2027-03-31T12:00:00", "2027-04-30T12:00:00"],
        ),
        (
            "2028-01-31T12:00:00",
            {"type": "recurring", "interval": "month"},
            ["2028-02-29T12:00:00", "2028-03-31T12:00:00", "2028-04-30T12:00:00"],
        ),
        (
            "2027-01-31T12:00:00",
            {"type": "recurring", "interval": "month", "interval_count": 3},
            ["2027-04-30T12:00:00", "2027-07-31T12:00:00", "2027-10-31T12:00:00"],
        ),
        (
            "2028-02-29T12:00:00",
            {"type": "recurring", "interval": "year"},
            ["2029-02-28T12:00:00", "2030-02-28T12:00:00", "2031-02-28T12:00:00"],
        ),
        (
            "2027-01-17T12:00:00",  # a 14-day trial: the anchor is its end, Jan 31
            {"type": "recurring", "interval": "month", "trial_days": 14},
            ["2027-01-31T12:00:00", "2027-02-28T12:00:00", "2027-03-31T12:00:00"],
        ),
    ],
)
def test_periods_are_calendar_months_from_the_anchor(
    app, client, signup, make_creator, make_offering, start, price, ends
):
    clock.freeze(datetime.fromisoformat(start).replace(tzinfo=UTC))
    seller = make_creator(signup(display_name="Cora"), handle="cora")
    onboard(client, seller)
    tier = make_offering(seller, amount=900, price=price)
    buyer = signup()
    sub_id = buy(client, buyer, tier["price"]["id"])["subscription_id"]
    assert _period_ends(app, client, buyer, sub_id, len(ends) - 1) == ends


# flask billing simulate ------------------------------------------------------------------


def test_simulating_on_an_ended_subscription_fails_with_a_message(app, client, creator, alice, make_offering):
    tier = _local_shop(client, creator, make_offering)["monthly"]
    sub_id = buy(client, alice, tier["price"]["id"])["subscription_id"]
    simulate(app, "cancel", sub_id)
    for action in ("renew", "fail", "cancel"):
        result = app.test_cli_runner().invoke(args=["billing", "simulate", action, sub_id])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
        assert "is canceled" in result.output
    assert subscription(client, alice, sub_id)["status"] == "canceled"


def test_simulating_an_unknown_subscription_fails_with_a_message(app):
    result = app.test_cli_runner().invoke(args=["billing", "simulate", "renew", "sub_nobody"])
    assert result.exit_code != 0 and "no subscription sub_nobody" in result.output
