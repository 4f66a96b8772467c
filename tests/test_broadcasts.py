from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import func, insert, select, update

from service.accounts.models import User
from service.common import clock
from service.creators.models import Creator
from service.extensions import db
from service.messaging import broadcasts
from service.messaging.models import Broadcast, Conversation, ConversationMember, Message

from .conftest import assert_problem
from .fake_memberships import fake_memberships


@pytest.fixture
def memberships(app):
    with fake_memberships(app) as fake:
        yield fake


def broadcast(client, creator, **body):
    return client.post(f"/v1/creators/{creator['handle']}/broadcasts", json=body, headers=creator.headers)


def follow(client, account, handle="cora"):
    assert client.post(f"/v1/creators/{handle}/follow", headers=account.headers).status_code == 204


def conversations(client, account):
    return client.get("/v1/conversations", headers=account.headers).get_json()["data"]


def test_broadcast_reaches_followers_in_their_conversations_except_blockers(
    client, creator, alice, bob, signup
):
    carol = signup(display_name="Carol")
    for fan in (alice, bob, carol):
        follow(client, fan)
    assert client.post(f"/v1/users/{creator.id}/block", headers=carol.headers).status_code == 204
    client.post("/v1/conversations", json={"creator_handle": "cora"}, headers=alice.headers)

    rv = broadcast(client, creator, body="  New video is out!  ", audience="followers")
    assert rv.status_code == 202, rv.get_json()
    body = rv.get_json()
    assert body["recipients"] == 2 and body["audience"] == "followers"
    # The answer describes the broadcast as accepted, whether the job has run yet or not.
    assert body["status"] == "queued" and body["delivered"] == 0

    for fan in (alice, bob):
        (chat,) = conversations(client, fan)
        assert chat["other"]["handle"] == "cora"
        assert chat["last_message"]["body"] == "New video is out!"
        assert chat["last_message"]["kind"] == "broadcast" and chat["unread_count"] == 1
    assert conversations(client, carol) == []
    assert len(conversations(client, creator)) == 2


def test_tier_broadcast_reaches_only_members_of_those_tiers(
    client, creator, alice, bob, signup, make_offering, memberships
):
    gold, silver = make_offering(creator, title="Gold"), make_offering(creator, title="Silver")
    memberships.grant(alice.id, creator["creator"]["id"], gold["id"])
    memberships.grant(bob.id, creator["creator"]["id"], silver["id"])
    follow(client, signup())

    rv = broadcast(client, creator, body="Gold only", audience="tiers", tier_ids=[gold["id"]])
    assert rv.get_json()["recipients"] == 1
    assert [c["last_message"]["body"] for c in conversations(client, alice)] == ["Gold only"]
    assert conversations(client, bob) == []
    rv = broadcast(client, creator, body="All members", audience="members")
    assert rv.get_json()["recipients"] == 2


def test_broadcast_requests_are_checked(client, creator, alice, signup, make_creator, make_offering):
    other_tier = make_offering(make_creator(signup()), title="Not Cora's")
    assert_problem(broadcast(client, creator, body="x", audience="tiers"), 422)
    assert_problem(
        broadcast(client, creator, body="x", audience="followers", tier_ids=[other_tier["id"]]), 422
    )
    rv = broadcast(client, creator, body="x", audience="tiers", tier_ids=[other_tier["id"]])
    assert_problem(rv, 422, "invalid_broadcast_tiers")
    assert_problem(broadcast(client, creator, body=" ", audience="followers"), 422)
    rv = client.post(
        "/v1/creators/cora/broadcasts", json={"body": "x", "audience": "followers"}, headers=alice.headers
    )
    assert_problem(rv, 403, "not_owner")


def _bulk_members(count: int) -> list[uuid.UUID]:
    now = clock.utcnow()
    rows = [
        {
            "id": uuid.uuid4(),
            "email": f"member-{i}@example.com",
            "display_name": f"Member {i}",
            "created_at": now,
        }
        for i in range(count)
    ]
    db.session.execute(insert(User), rows)
    db.session.commit()
    return [r["id"] for r in rows]


def _copies_per_member(broadcast_id: uuid.UUID) -> dict[int, int]:
    """How many members got how many copies: {copies: members}."""
    per_conversation = (
        select(func.count(Message.id).label("copies"))
        .where(Message.broadcast_id == broadcast_id)
        .group_by(Message.conversation_id)
        .subquery()
    )
    rows = db.session.execute(
        select(per_conversation.c.copies, func.count()).group_by(per_conversation.c.copies)
    ).all()
    return dict(rows)  # type: ignore[arg-type]


@pytest.mark.slow
def test_broadcast_to_10000_members_delivers_one_copy_each_even_when_rerun(app, client, creator, memberships):
    with app.app_context():
        _bulk_members(10_000)
    memberships.audiences[creator["creator"]["id"]] = select(User.id).where(User.email.like("member-%"))

    started = time.perf_counter()
    rv = broadcast(client, creator, body="Hello, all ten thousand of you", audience="members")
    elapsed = time.perf_counter() - started
    print(f"\nbroadcast to 10 000 members: {elapsed:.2f} s ({app.config['SQLALCHEMY_DATABASE_URI'][:10]}…)")
    assert rv.status_code == 202
    assert rv.get_json()["recipients"] == 10_000

    broadcast_id = uuid.UUID(rv.get_json()["id"])
    with app.app_context():
        done = db.session.get(Broadcast, broadcast_id)
        assert (done.status, done.delivered) == ("done", 10_000)
        assert _copies_per_member(broadcast_id) == {1: 10_000}
        # A retry that finds the work half-recorded (status not yet "done") adds nothing.
        db.session.execute(update(Broadcast).values(status="sending"))
        db.session.commit()
        broadcasts.deliver_broadcast(str(broadcast_id))
        assert _copies_per_member(broadcast_id) == {1: 10_000}
        assert db.session.get(Broadcast, broadcast_id).delivered == 10_000
        assert db.session.scalar(select(func.count()).select_from(Conversation)) == 10_000
        assert db.session.scalar(select(func.count()).select_from(ConversationMember)) == 20_000


def test_a_fan_out_that_failed_midway_completes_without_duplicates(app, client, creator, signup, monkeypatch):
    fans = [signup() for _ in range(7)]
    for fan in fans:
        follow(client, fan)
    with app.app_context():
        created = broadcasts.create_broadcast(
            creator=db.session.scalar(select(Creator).where(Creator.handle == "cora")),
            body="Once only",
            audience="followers",
        )
        db.session.commit()
        broadcast_id = created.id

        real, calls = broadcasts._deliver_batch, []

        def crash_on_second_batch(*args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                raise RuntimeError("worker died")
            return real(*args, **kwargs)

        monkeypatch.setattr(broadcasts, "_deliver_batch", crash_on_second_batch)
        with pytest.raises(RuntimeError):
            broadcasts.deliver_broadcast(str(broadcast_id), batch_size=3)
        db.session.rollback()
        assert db.session.get(Broadcast, broadcast_id).delivered == 3

        monkeypatch.setattr(broadcasts, "_deliver_batch", real)
        broadcasts.deliver_broadcast(str(broadcast_id), batch_size=3)
        done = db.session.get(Broadcast, broadcast_id)
        assert (done.status, done.delivered, done.recipients) == ("done", 7, 7)
        assert _copies_per_member(broadcast_id) == {1: 7}
