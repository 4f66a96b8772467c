"""Creator analytics against a hand-computed history, built on the local gateway.

Cora (eur) sells Basic 500/month, Pro 1500/month, Annual 9990/year (832.5 a
month), Quarterly 1200 every 3 months (400 a month), Trial 800/month after 14
days, a Pack (2500, one-off) and Coaching (a service at 3000/month, not a
membership). Every event happens at 12:00 UTC in 2025:

    Jan 10  alice follows, joins Basic              invoice 500
    Jan 15  bob follows, joins Annual               invoice 9990
    Jan 20  gina joins Annual                       invoice 9990
    Feb 01  carol follows, buys the Pack            purchase 2500
    Feb 09  alice renews, then upgrades to Pro      invoices 500 and 1000
    Feb 14  ivy joins Quarterly                     invoice 1200
    Mar 01  carol joins Basic                       invoice 500
    Mar 03  frank follows
    Mar 05  bob cancels, at once
    Mar 10  erin follows, joins Basic               invoice 500
    Mar 12  Cora refunds 1000 of carol's Pack
    Mar 15  hank subscribes to Coaching             invoice 3000
    Mar 20  erin's renewal fails: past due, access for 7 more days
    Mar 25  dave follows, starts a Trial (until Apr 8)

and "now" is Apr 2, 12:00. Alice is also a member of Dan, another creator,
which must not leak into Cora's numbers.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from service.analytics import export
from service.billing import signals
from service.billing.models import Subscription
from service.common import clock
from service.extensions import db

from .billing_helpers import buy, onboard, simulate
from .conftest import assert_problem, built_once, log_in, recorded_statements

NOW = "2025-04-02T12:00:00+00:00"
MONTHLY = {"type": "recurring", "interval": "month"}


def moment(day: str) -> datetime:
    return datetime.fromisoformat(f"2025-{day}T12:00:00+00:00")


def login(client, *accounts) -> None:
    """A fresh access token for each account (one lasts 15 minutes of clock time)."""
    for account in accounts:
        log_in(client, account)


class History:
    """Drives the scenario: each step moves the clock and logs its actors in again."""

    def __init__(self, app, client, signup, make_creator, make_offering):
        self.app, self.client, self.signup = app, client, signup
        self.make_creator, self.make_offering = make_creator, make_offering
        self.cora = self.dan = None  # opened by _open_shops

    def at(self, day: str, *accounts) -> None:
        clock.freeze(moment(day))
        login(self.client, *accounts)

    def follow(self, account, handle: str = "cora") -> None:
        assert self.client.post(f"/v1/creators/{handle}/follow", headers=account.headers).status_code == 204

    def simulate(self, action: str, subscription_id: str) -> None:
        simulate(self.app, action, subscription_id)

    def creator(self, handle: str):
        account = self.make_creator(self.signup(display_name=handle.title()), handle=handle)
        onboard(self.client, account)
        return account


def _open_shops(h: History) -> dict[str, str]:
    """Cora's and Dan's offerings, on Jan 1; returns their price ids by name."""
    clock.freeze(moment("01-01"))
    h.cora, h.dan = h.creator("cora"), h.creator("dan")
    yearly = {"type": "recurring", "interval": "year"}
    tiers = {
        "basic": h.make_offering(h.cora, title="Basic", amount=500),
        "pro": h.make_offering(h.cora, title="Pro", amount=1500, rank=1),
        "annual": h.make_offering(h.cora, title="Annual", amount=9990, price=yearly),
        "quarterly": h.make_offering(
            h.cora, title="Quarterly", amount=1200, price={**MONTHLY, "interval_count": 3}
        ),
        "trial": h.make_offering(h.cora, title="Trial", amount=800, price={**MONTHLY, "trial_days": 14}),
        "pack": h.make_offering(h.cora, kind="product", title="Pack", amount=2500),
        "coaching": h.make_offering(h.cora, kind="service", title="Coaching", amount=3000),
        "dan": h.make_offering(h.dan, title="Dan's club", amount=700),
    }
    return {name: offering["price"]["id"] for name, offering in tiers.items()}


def _january_february(h: History, price: dict[str, str], people: dict) -> dict[str, str]:
    client, alice, bob, carol = h.client, people["alice"], people["bob"], people["carol"]
    h.at("01-10", alice)
    h.follow(alice)
    subs = {"alice": buy(client, alice, price["basic"])["subscription_id"]}
    buy(client, alice, price["dan"])
    h.at("01-15", bob)
    h.follow(bob)
    subs["bob"] = buy(client, bob, price["annual"])["subscription_id"]
    h.at("01-20", people["gina"])
    buy(client, people["gina"], price["annual"])
    h.at("02-01", carol)
    h.follow(carol)
    subs["pack"] = buy(client, carol, price["pack"])["purchase_id"]
    h.at("02-09", alice)
    h.simulate("renew", subs["alice"])
    upgrade = {"price_id": price["pro"]}
    rv = client.post(f"/v1/subscriptions/{subs['alice']}/change", json=upgrade, headers=alice.headers)
    assert rv.status_code == 200, rv.get_json()
    h.at("02-14", people["ivy"])
    buy(client, people["ivy"], price["quarterly"])
    return subs


def _march(h: History, price: dict[str, str], people: dict, subs: dict[str, str]) -> None:
    client, bob, erin, dave = h.client, people["bob"], people["erin"], people["dave"]
    h.at("03-01", people["carol"])
    buy(client, people["carol"], price["basic"])
    h.at("03-03", people["frank"])
    h.follow(people["frank"])
    h.at("03-05", bob)
    now = {"at_period_end": False}
    assert (
        client.post(f"/v1/subscriptions/{subs['bob']}/cancel", json=now, headers=bob.headers).status_code
        == 200
    )
    h.at("03-10", erin)
    h.follow(erin)
    erin_sub = buy(client, erin, price["basic"])["subscription_id"]
    h.at("03-12", h.cora)
    rv = client.post(f"/v1/purchases/{subs['pack']}/refund", json={"amount": 1000}, headers=h.cora.headers)
    assert rv.status_code == 200, rv.get_json()
    h.at("03-15", people["hank"])
    buy(client, people["hank"], price["coaching"])
    h.at("03-20")
    h.simulate("fail", erin_sub)
    h.at("03-25", dave)
    h.follow(dave)
    assert buy(client, dave, price["trial"])["status"] == "complete"


@pytest.fixture
def history(app, client, signup, make_creator, make_offering):
    """The history above (built once; its tests only read it), seen on Apr 2 at 12:00."""

    def build():
        h = History(app, client, signup, make_creator, make_offering)
        price = _open_shops(h)
        people = {
            name: signup(display_name=name.title())
            for name in "alice bob carol dave erin frank gina hank ivy".split()
        }
        _march(h, price, people, _january_february(h, price, people))
        h.at("04-02", h.cora, h.dan)
        return {"cora": h.cora, "dan": h.dan}

    owners = built_once(app, "analytics history", build)
    clock.freeze(moment("04-02"))  # the tokens were issued then
    return owners


def get_summary(client, owner, **period):
    rv = client.get(
        f"/v1/creators/{owner['handle']}/analytics/summary", query_string=period, headers=owner.headers
    )
    assert rv.status_code == 200, rv.get_json()
    return rv.get_json()


def get_series(client, owner, **args):
    rv = client.get(
        f"/v1/creators/{owner['handle']}/analytics/timeseries", query_string=args, headers=owner.headers
    )
    assert rv.status_code == 200, rv.get_json()
    return rv.get_json()


def values(series):
    return [p["value"] for p in series["points"]]


def eur(amount):
    return {"amount": amount, "currency": "eur"}


def test_summary_of_march(client, history):
    march = get_summary(
        client, history["cora"], **{"from": "2025-03-01T00:00:00Z", "to": "2025-04-01T00:00:00Z"}
    )
    assert march == {
        # Pro 1500 + Annual 832.5 (gina) + Quarterly 400 + Basic 500 (carol) = 3232.5, half up;
        # erin is past due, dave trialing, bob gone.
        "mrr": eur(3233),
        # alice, gina, ivy, carol, dave (trialing); erin's grace ended on Mar 27.
        "active_members": 5,
        "new_members": 3,  # carol, erin, dave
        "churned_members": 1,  # bob
        "churn_rate": "0.2500",  # of the 4 members on Mar 1: alice, bob, gina, ivy
        "one_off_revenue": eur(3000),  # hank's coaching
        "recurring_revenue": eur(500 + 500),
        "followers": 6,
        "new_followers": 3,  # frank, erin, dave
        # Over all time, whatever the period: of the 6 followers alice, bob, carol and erin ever
        # paid (dave is trialing); of the buyers of one-offs, carol joined, hank did not.
        "conversion": {"follower_to_customer": "0.6667", "one_off_to_member": "0.5000"},
        "top_referrers": [],
    }


def test_summary_of_february_counts_the_refund_against_the_sale(client, history):
    february = get_summary(
        client, history["cora"], **{"from": "2025-02-01T00:00:00Z", "to": "2025-03-01T00:00:00Z"}
    )
    assert february["one_off_revenue"] == eur(2500 - 1000)
    assert february["recurring_revenue"] == eur(500 + 1000 + 1200)
    # 1500 + 832.5 + 832.5 + 400: two halves make a whole when rounded once, at the end.
    assert february["mrr"] == eur(3565)
    assert (february["active_members"], february["new_members"], february["churned_members"]) == (4, 1, 0)
    assert february["churn_rate"] == "0.0000"
    # The same as March's: conversion counts over all time.
    assert february["conversion"] == {"follower_to_customer": "0.6667", "one_off_to_member": "0.5000"}


def test_summary_now_uses_the_current_status(client, history):
    now = get_summary(client, history["cora"])
    assert now["mrr"] == eur(3233) and now["active_members"] == 5
    # Since Mar 3, 12:00: erin and dave joined, bob left.
    assert (now["new_members"], now["churned_members"]) == (2, 1)
    dan = get_summary(client, history["dan"], **{"from": "2025-01-01T00:00:00Z", "to": NOW})
    assert dan["mrr"] == eur(700) and dan["active_members"] == 1 and dan["followers"] == 0


def test_monthly_series(client, history):
    period = {"from": "2025-01-01T00:00:00Z", "to": "2025-04-01T00:00:00Z", "interval": "month"}
    mrr = get_series(client, history["cora"], metric="mrr", **period)
    assert [p["at"] for p in mrr["points"]] == [
        "2025-01-01T00:00:00+00:00",
        "2025-02-01T00:00:00+00:00",
        "2025-03-01T00:00:00+00:00",
    ]
    # Alice counts at Basic in January (she upgraded on Feb 9): 500 + 2 × 832.5, half up.
    assert values(mrr) == [eur(2165), eur(3565), eur(3233)]
    revenue = get_series(client, history["cora"], metric="revenue", **period)
    assert values(revenue) == [eur(500 + 9990 + 9990), eur(1500 + 500 + 1000 + 1200), eur(500 + 500 + 3000)]
    members = get_series(client, history["cora"], metric="members", **period)
    assert values(members) == [3, 4, 5]


def test_daily_series_see_past_due_and_grace(client, history):
    owner = history["cora"]
    mrr = get_series(
        client, owner, metric="mrr", **{"from": "2025-03-18T00:00:00Z", "to": "2025-03-23T00:00:00Z"}
    )
    assert values(mrr) == [
        eur(3733),
        eur(3733),
        eur(3233),
        eur(3233),
        eur(3233),
    ]  # erin stops paying on Mar 20, 12:00
    members = get_series(
        client, owner, metric="members", **{"from": "2025-03-25T00:00:00Z", "to": "2025-03-29T00:00:00Z"}
    )
    assert values(members) == [6, 6, 5, 5]  # ... and loses access on Mar 27, 12:00


def test_weekly_followers_start_on_monday(client, history):
    period = {"from": "2025-03-01T00:00:00Z", "to": "2025-04-01T00:00:00Z", "interval": "week"}
    followers = get_series(client, history["cora"], metric="followers", **period)
    assert followers["points"][0]["at"] == "2025-02-24T00:00:00+00:00"
    assert values(followers) == [3, 4, 5, 5, 6, 6]


@pytest.mark.parametrize("to", ["2025-02-10T00:00:00Z", "2025-03-20T12:00:00Z", "2025-03-27T12:00:00Z", NOW])
def test_last_point_agrees_with_the_summary(client, history, to):
    owner = history["cora"]
    summary = get_summary(client, owner, to=to)
    assert values(get_series(client, owner, metric="mrr", to=to))[-1] == summary["mrr"]
    assert values(get_series(client, owner, metric="members", to=to))[-1] == summary["active_members"]


def test_past_due_member_counts_within_the_grace_period_only(app, client, creator, alice, make_offering):
    clock.freeze(datetime(2025, 6, 1, 12, tzinfo=UTC))
    login(client, creator, alice)
    onboard(client, creator)
    tier = make_offering(creator, amount=900, price={"type": "recurring", "interval": "year"})
    sub_id = buy(client, alice, tier["price"]["id"])["subscription_id"]
    clock.freeze(datetime(2025, 6, 1, 12, 1, tzinfo=UTC))
    assert get_summary(client, creator)["mrr"] == eur(75)
    assert app.test_cli_runner().invoke(args=["billing", "simulate", "fail", sub_id]).exit_code == 0
    clock.freeze(datetime(2025, 6, 1, 12, 2, tzinfo=UTC))
    now = get_summary(client, creator)
    assert now["mrr"] == eur(0) and now["active_members"] == 1
    clock.freeze(datetime(2025, 6, 1, 12, 2, tzinfo=UTC) + timedelta(days=7))
    login(client, creator)
    assert get_summary(client, creator)["active_members"] == 0


def test_the_summary_and_series_take_the_same_number_of_queries_for_1_and_12_members(
    app, client, creator, signup, make_offering
):
    onboard(client, creator)
    tier = make_offering(creator, amount=500, price=MONTHLY)
    pack = make_offering(creator, kind="product", amount=2500)

    def join():
        fan = signup()
        assert client.post("/v1/creators/cora/follow", headers=fan.headers).status_code == 204
        buy(client, fan, tier["price"]["id"])
        buy(client, fan, pack["price"]["id"])

    def statements():
        counts = []
        with recorded_statements(app) as summary:
            assert get_summary(client, creator)["active_members"] in (1, 12)
        counts.append(len(summary))
        for metric in ("mrr", "members", "followers", "revenue"):
            with recorded_statements(app) as series:
                get_series(client, creator, metric=metric, interval="day")
            counts.append(len(series))
        return counts

    join()
    one = statements()
    for _ in range(11):
        join()
    twelve = statements()
    print(f"\nanalytics summary and series: {one} SQL statements for 1 member, {twelve} for 12")
    assert one == twelve


def test_a_disputed_member_counts_until_now_and_not_from_now_on(app, client, creator, alice, make_offering):
    """From now on billing's access rule decides, in the summary and in the series alike; when
    the dispute began is not recorded, so the past is left as it was."""
    clock.freeze(datetime(2025, 6, 1, 12, tzinfo=UTC))
    login(client, creator, alice)
    onboard(client, creator)
    tier = make_offering(creator, amount=900)
    sub_id = buy(client, alice, tier["price"]["id"])["subscription_id"]
    clock.freeze(datetime(2025, 6, 4, 12, tzinfo=UTC))
    login(client, creator)
    with app.app_context():
        db.session.execute(
            update(Subscription).where(Subscription.id == uuid.UUID(sub_id)).values(disputed=True)
        )
        # Written by hand here, so announced by hand, as billing announces every write it makes.
        signals.subscription_stored.send(db.session.get(Subscription, uuid.UUID(sub_id)))
        db.session.commit()
    assert get_summary(client, creator)["active_members"] == 0
    series = get_series(client, creator, metric="members", **{"from": "2025-06-01T00:00:00Z"})
    # At the ends of Jun 1, 2 and 3 (before now) the member counted; at now, not.
    assert values(series) == [1, 1, 1, 0]


@pytest.mark.parametrize(
    "args",
    [
        {"from": "yesterday"},
        {"from": "2025-03-01T00:00:00Z", "to": "2025-03-01T00:00:00Z"},
        {"from": "2025-03-02T00:00:00Z", "to": "2025-03-01T00:00:00Z"},
        {"from": "2023-01-01T00:00:00Z", "to": "2025-03-01T00:00:00Z"},
        {"from": "0001-01-01T00:00:00+01:00"},
    ],
)
def test_summary_refuses_bad_periods(client, creator, args):
    rv = client.get("/v1/creators/cora/analytics/summary", query_string=args, headers=creator.headers)
    assert_problem(rv, 422)


@pytest.mark.parametrize(
    "args",
    [
        {},
        {"metric": "profit"},
        {"metric": "mrr", "interval": "hour"},
        {"metric": "mrr", "from": "2025-03-02T00:00:00Z", "to": "2025-03-01T00:00:00Z"},
    ],
)
def test_timeseries_refuses_bad_arguments(client, creator, args):
    rv = client.get("/v1/creators/cora/analytics/timeseries", query_string=args, headers=creator.headers)
    assert_problem(rv, 422)


def test_timeseries_has_at_most_400_points(client, creator):
    period = {"metric": "members", "from": "2024-01-01T00:00:00Z", "to": "2025-03-01T00:00:00Z"}
    url = "/v1/creators/cora/analytics/timeseries"
    assert_problem(client.get(url, query_string=period, headers=creator.headers), 422, "too_many_points")
    weekly = client.get(url, query_string={**period, "interval": "week"}, headers=creator.headers)
    # Mondays from 2024-01-01 to 2025-02-24, the week holding Mar 1.
    assert len(weekly.get_json()["points"]) == 61


@pytest.mark.parametrize(
    "path", ["analytics/summary", "analytics/timeseries?metric=mrr", "members.csv"], ids=lambda p: p
)
def test_only_the_owner_sees_analytics(client, creator, signup, make_creator, path):
    other = make_creator(signup(display_name="Other"))
    assert_problem(client.get(f"/v1/creators/cora/{path}", headers=other.headers), 403, "not_owner")
    assert_problem(client.get(f"/v1/creators/nobody_here/{path}", headers=creator.headers), 404)


def _csv_rows(rv):
    assert rv.status_code == 200 and rv.mimetype == "text/csv"
    assert rv.headers["Content-Disposition"] == 'attachment; filename="cora-members.csv"'
    return list(csv.reader(io.StringIO(rv.get_data(as_text=True))))


def test_members_csv(monkeypatch, client, creator, signup, make_offering):
    monkeypatch.setattr(export, "EXPORT_BATCH", 2)  # several keyset batches from a few rows
    clock.freeze(datetime(2025, 5, 1, 8, tzinfo=UTC))
    login(client, creator)
    onboard(client, creator)
    tier = make_offering(creator, title="@home", amount=700)
    names = ['=HYPERLINK("http://evil")', "+plus", "-minus", "Plain", "Zoe"]
    for day, name in enumerate(names, start=1):
        clock.freeze(datetime(2025, 5, day, 9, tzinfo=UTC))
        buy(client, signup(display_name=name, email=f"buyer{day}@example.com"), tier["price"]["id"])
    login(client, creator)
    rows = _csv_rows(client.get("/v1/creators/cora/members.csv", headers=creator.headers))
    assert rows[0] == list(export.EXPORT_COLUMNS)
    assert [r[0] for r in rows[1:]] == ['\'=HYPERLINK("http://evil")', "'+plus", "'-minus", "Plain", "Zoe"]
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["tier"] == "'@home"
    assert (first["price_amount"], first["price_currency"], first["price_interval"]) == (
        "700",
        "eur",
        "month",
    )
    assert (first["status"], first["cancel_at_period_end"]) == ("active", "false")
    assert first["started_at"] == "2025-05-01T09:00:00+00:00" and first["current_period_end"]
    text = "\n".join(",".join(r) for r in rows)
    assert "@example.com" not in text and "sub_" not in text


def test_members_csv_of_a_creator_without_members(client, creator):
    assert _csv_rows(client.get("/v1/creators/cora/members.csv", headers=creator.headers)) == [
        list(export.EXPORT_COLUMNS)
    ]
