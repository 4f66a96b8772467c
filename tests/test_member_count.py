"""The member count is a counter kept in the transaction that changes a membership,
and `flask billing recount-members` sets it to the members there are."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update

from service.billing import access
from service.billing.models import Subscription
from service.common import clock
from service.creators.models import Creator
from service.extensions import db

from .billing_helpers import buy, onboard, simulate
from .concurrency import run_parallel


def member_count(client, viewer) -> int:
    return client.get("/v1/creators/cora", headers=viewer.headers).get_json()["member_count"]


def real_count(app) -> tuple[int, int]:
    """(the counter, the members the access rule finds)."""
    with app.app_context():
        creator_id = db.session.scalar(select(Creator.id).where(Creator.handle == "cora"))
        counter = db.session.scalar(select(Creator.member_count).where(Creator.id == creator_id))
        members = access.live_memberships().where(Subscription.creator_id == creator_id)
        return counter, len(db.session.scalars(members).all())


def cancel_now(client, account, sub_id: str):
    return client.post(
        f"/v1/subscriptions/{sub_id}/cancel", json={"at_period_end": False}, headers=account.headers
    )


def test_joining_and_ending_change_the_count(app, client, creator, alice, bob, make_offering):
    onboard(client, creator)
    tier = make_offering(creator, amount=500)
    assert member_count(client, bob) == 0
    sub_id = buy(client, alice, tier["price"]["id"])["subscription_id"]
    assert member_count(client, bob) == 1
    simulate(app, "fail", sub_id)  # past due: still a member for the grace period
    assert member_count(client, bob) == 1
    assert cancel_now(client, alice, sub_id).status_code == 200
    assert member_count(client, bob) == 0
    assert real_count(app) == (0, 0)


def test_the_recount_drops_members_whose_grace_period_ended(app, client, creator, alice, bob, make_offering):
    onboard(client, creator)
    tier = make_offering(creator, amount=500)
    sub_id = buy(client, alice, tier["price"]["id"])["subscription_id"]
    simulate(app, "fail", sub_id)
    clock.freeze(clock.utcnow() + timedelta(days=app.config["PAST_DUE_GRACE_DAYS"], minutes=1))
    assert real_count(app) == (1, 0)  # no write marks the end of a grace period
    result = app.test_cli_runner().invoke(args=["billing", "recount-members"])
    assert result.exit_code == 0, result.output
    assert ": 1 -> 0" in result.output
    assert real_count(app) == (0, 0)


def test_the_recount_repairs_a_drifted_count(app, client, creator, alice, make_offering):
    onboard(client, creator)
    tier = make_offering(creator, amount=500)
    buy(client, alice, tier["price"]["id"])
    with app.app_context():
        db.session.execute(update(Creator).where(Creator.handle == "cora").values(member_count=42))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["billing", "recount-members"])
    assert result.exit_code == 0 and ": 42 -> 1" in result.output, result.output
    assert real_count(app) == (1, 1)


def test_racing_membership_changes_keep_the_count(app, client, postgres_only, creator, signup, make_offering):
    """Fans join at once; then some end their membership twice at once while others fall
    past due: the counter ends where a count of the rows does."""
    onboard(client, creator)
    tier = make_offering(creator, amount=500)
    fans = [signup() for _ in range(6)]
    joined = run_parallel(app, [lambda c, fan=fan: buy(c, fan, tier["price"]["id"]) for fan in fans])
    assert real_count(app) == (6, 6)
    subs = [uuid.UUID(s["subscription_id"]) for s in joined]
    leaving = [(fan, str(sub)) for fan, sub in zip(fans[:3], subs[:3], strict=True)]
    calls = [lambda c, fan=fan, sub=sub: cancel_now(c, fan, sub).status_code for fan, sub in leaving * 2]
    calls += [lambda c, sub=sub: simulate(app, "fail", str(sub)) for sub in subs[3:]]
    run_parallel(app, calls)
    assert real_count(app) == (3, 3)
