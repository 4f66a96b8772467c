from __future__ import annotations

from sqlalchemy import select, update

from service.accounts.models import User
from service.cli import DEMO_PASSWORD, seed_demo_data
from service.extensions import db


def test_seed_is_idempotent_and_makes_a_browsable_demo(app, client):
    with app.app_context():
        assert len(seed_demo_data()) == 3
        assert seed_demo_data() == []
    page = client.get("/v1/creators/ada_codes").get_json()
    assert page["follower_count"] == 1
    titles = [o["title"] for o in page["offerings"]]
    assert titles == ["Supporter", "Pattern library", "One-to-one code review", "Insider"]
    assert {o["kind"] for o in page["offerings"]} == {"membership", "product", "service"}
    assert all(o["prices"] and o["delivery"] is None for o in page["offerings"])
    rv = client.post("/v1/auth/login", json={"email": "fan@example.com", "password": DEMO_PASSWORD})
    assert rv.status_code == 200
    fan = {"Authorization": f"Bearer {rv.get_json()['access_token']}"}
    assert client.get("/v1/me", headers=fan).get_json()["email_verified"] is True
    membership = client.get("/v1/creators/ada_codes/access", headers=fan).get_json()["membership"]
    assert membership["status"] == "active"
    assert page["member_count"] == 1 and page["payouts_enabled"] is True
    assert len(client.get("/v1/creators").get_json()["data"]) == 2


def test_seed_verifies_demo_accounts_made_before_verification(app, client):
    with app.app_context():
        seed_demo_data()
        db.session.execute(update(User).values(email_verified_at=None))
        db.session.commit()
        seed_demo_data()
        assert all(db.session.scalars(select(User.email_verified_at)))
