from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from service import jobs
from service.accounts.models import User
from service.common import clock
from service.extensions import db, limiter
from service.jobs import outbox
from service.jobs.models import Job
from service.messaging import broadcasts
from service.messaging.models import Broadcast, Conversation, ConversationMember, Message

from .conftest import assert_problem, recorded_statements
from .fake_memberships import fake_memberships
from .test_outbox import Held


@pytest.fixture
def memberships(app):
    with fake_memberships(app) as fake:
        yield fake


def broadcast(client, creator, **body):
    return client.post(f"/v1/creators/{creator['handle']}/broadcasts", json=body, headers=creator.headers)


def follow(client, account, handle="cora"):
    assert client.post(f"/v1/creators/{handle}/follow", headers=account.headers).status_code == 204


def progress_of(client, creator, broadcast_id):
    rv = client.get(f"/v1/creators/{creator['handle']}/broadcasts/{broadcast_id}", headers=creator.headers)
    assert rv.status_code == 200, rv.get_json()
    return rv.get_json()


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
    # Accepted: the audience is fixed by a job, after the answer.
    assert body["status"] == "queued" and body["audience"] == "followers"
    assert (body["recipients"], body["delivered"]) == (None, 0)
    progress = progress_of(client, creator, body["id"])
    assert (progress["status"], progress["recipients"], progress["delivered"]) == ("sent", 2, 2)

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
    assert progress_of(client, creator, rv.get_json()["id"])["recipients"] == 1
    assert [c["last_message"]["body"] for c in conversations(client, alice)] == ["Gold only"]
    assert conversations(client, bob) == []
    rv = broadcast(client, creator, body="All members", audience="members")
    assert progress_of(client, creator, rv.get_json()["id"])["recipients"] == 2


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


def test_a_broadcast_is_visible_to_its_creator_only(client, creator, alice, signup, make_creator):
    sent = broadcast(client, creator, body="Hi", audience="followers").get_json()
    rv = client.get(f"/v1/creators/cora/broadcasts/{sent['id']}", headers=alice.headers)
    assert_problem(rv, 403, "not_owner")
    other = make_creator(signup(), handle="otto")
    rv = client.get(f"/v1/creators/otto/broadcasts/{sent['id']}", headers=other.headers)
    assert_problem(rv, 404)
    rv = client.get(f"/v1/creators/cora/broadcasts/{uuid.uuid4()}", headers=creator.headers)
    assert_problem(rv, 404)


def test_broadcasts_per_creator_are_limited_and_refusals_do_not_count(
    app, client, creator, alice, monkeypatch
):
    monkeypatch.setitem(app.config, "RATELIMIT_BROADCASTS", "2/day")
    limiter.enabled = True
    for _ in range(3):  # someone else's attempts spend nothing of Cora's allowance
        rv = client.post(
            "/v1/creators/cora/broadcasts", json={"body": "x", "audience": "followers"}, headers=alice.headers
        )
        assert rv.status_code == 403
    assert broadcast(client, creator, body="one", audience="followers").status_code == 202
    assert broadcast(client, creator, body="two", audience="followers").status_code == 202
    rv = broadcast(client, creator, body="three", audience="followers")
    assert rv.status_code == 429 and "Retry-After" in rv.headers


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

    rv = broadcast(client, creator, body="Hello, all ten thousand of you", audience="members")
    assert rv.status_code == 202
    broadcast_id = uuid.UUID(rv.get_json()["id"])
    progress = progress_of(client, creator, broadcast_id)
    assert (progress["status"], progress["recipients"], progress["delivered"]) == ("sent", 10_000, 10_000)

    with app.app_context():
        assert _copies_per_member(broadcast_id) == {1: 10_000}
        chunk_jobs = db.session.scalars(select(Job).where(Job.key.like(f"broadcast:{broadcast_id}:%"))).all()
        assert len(chunk_jobs) == 10_000 // broadcasts.CHUNK_SIZE
        assert {job.state for job in chunk_jobs} == {"done"}
        # Every queue message delivered again: each finds its job done and adds nothing.
        for job in chunk_jobs:
            outbox.run_job(str(job.id))
        assert _copies_per_member(broadcast_id) == {1: 10_000}
        assert db.session.get(Broadcast, broadcast_id).delivered == 10_000
        assert db.session.scalar(select(func.count()).select_from(Conversation)) == 10_000
        assert db.session.scalar(select(func.count()).select_from(ConversationMember)) == 20_000


def test_a_chunk_that_failed_is_retried_and_the_broadcast_completes_without_duplicates(
    app, client, creator, signup, monkeypatch
):
    fans = [signup() for _ in range(7)]
    for fan in fans:
        follow(client, fan)
    monkeypatch.setattr(broadcasts, "CHUNK_SIZE", 3)
    real, calls = broadcasts._deliver_batch, []

    def crash_on_second_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(broadcasts, "_deliver_batch", crash_on_second_chunk)
    broadcast_id = broadcast(client, creator, body="Once only", audience="followers").get_json()["id"]
    progress = progress_of(client, creator, broadcast_id)
    assert (progress["status"], progress["recipients"], progress["delivered"]) == ("sending", 7, 4)

    # The failed chunk waits for its retry; the sweep hands it over once that is due.
    clock.freeze(clock.utcnow() + timedelta(minutes=2))
    with app.app_context():
        assert outbox.sweep() == 1
    jobs.wait_idle(app)
    progress = progress_of(client, creator, broadcast_id)
    assert (progress["status"], progress["recipients"], progress["delivered"]) == ("sent", 7, 7)
    with app.app_context():
        assert _copies_per_member(uuid.UUID(broadcast_id)) == {1: 7}


def test_the_broadcast_request_does_the_same_work_for_any_audience(app, client, creator, signup, monkeypatch):
    """Nothing in the request grows with the audience: its jobs do that, after it."""

    monkeypatch.setitem(app.extensions, outbox.QUEUE, Held())
    counts = []
    for followers in (1, 40):
        while int(client.get("/v1/creators/cora").get_json()["follower_count"]) < followers:
            follow(client, signup())
        with recorded_statements(app) as statements:
            assert broadcast(client, creator, body="Hi", audience="followers").status_code == 202
        counts.append(len(statements))
    assert counts[0] == counts[1], counts
