from __future__ import annotations

import threading
import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import func, or_, select, text, tuple_
from sqlalchemy.dialects.postgresql import psycopg

from service.billing.signals import purchase_completed
from service.extensions import db, limiter
from service.messaging import conversations
from service.messaging.models import Conversation, ConversationMember, Message

from .concurrency import run_parallel
from .conftest import assert_problem, compiled_anew, recorded_statements, request_statements
from .fake_memberships import fake_memberships


@pytest.fixture
def memberships(app):
    with fake_memberships(app) as fake:
        yield fake


def start(client, account, **target):
    return client.post("/v1/conversations", json=target, headers=account.headers)


def send(client, account, conversation_id, body="Hello"):
    return client.post(
        f"/v1/conversations/{conversation_id}/messages", json={"body": body}, headers=account.headers
    )


def messages(client, account, conversation_id, query=""):
    return client.get(f"/v1/conversations/{conversation_id}/messages{query}", headers=account.headers)


def read(client, account, conversation_id, message_id):
    return client.post(
        f"/v1/conversations/{conversation_id}/read", json={"message_id": message_id}, headers=account.headers
    )


def follow(client, account, handle="cora"):
    assert client.post(f"/v1/creators/{handle}/follow", headers=account.headers).status_code == 204


def unread_total(client, account):
    return client.get("/v1/me/unread", headers=account.headers).get_json()["total"]


def set_policy(client, creator, policy, tier_ids=()):
    rv = client.patch(
        f"/v1/creators/{creator['handle']}",
        json={"dm_policy": policy, "dm_tier_ids": list(tier_ids)},
        headers=creator.headers,
    )
    assert rv.status_code == 200, rv.get_json()


@pytest.fixture
def chat(client, creator, alice):
    """Alice follows Cora and has started a conversation with her."""
    follow(client, alice)
    rv = start(client, alice, creator_handle="cora")
    assert rv.status_code == 201, rv.get_json()
    return rv.get_json()


# --- who may start a conversation ----------------------------------------------------

POLICY_MATRIX = {
    # policy: (follower, stranger, member of the DM tier, member of another tier)
    "everyone": (201, 201, 201, 201),
    "followers": (201, "dm_followers_only", 201, 201),
    "members": ("dm_members_only", "dm_members_only", 201, 201),
    "tiers": ("dm_tier_required", "dm_tier_required", 201, "dm_tier_required"),
    "nobody": ("dm_closed", "dm_closed", "dm_closed", "dm_closed"),
}


@pytest.mark.parametrize("policy", sorted(POLICY_MATRIX))
def test_dm_policy_decides_who_may_start_a_conversation(
    client, creator, signup, make_offering, memberships, policy
):
    gold, silver = make_offering(creator, title="Gold"), make_offering(creator, title="Silver")
    set_policy(client, creator, policy, [gold["id"]] if policy == "tiers" else [])
    follower, stranger, gold_member, silver_member = (signup() for _ in range(4))
    follow(client, follower)
    memberships.grant(gold_member.id, creator["creator"]["id"], gold["id"])
    memberships.grant(silver_member.id, creator["creator"]["id"], silver["id"])

    people = (follower, stranger, gold_member, silver_member)
    for person, expected in zip(people, POLICY_MATRIX[policy], strict=True):
        rv = start(client, person, creator_handle="cora")
        if expected == 201:
            assert rv.status_code == 201, (policy, rv.get_json())
        else:
            assert_problem(rv, 403, expected)


def test_dm_policy_applies_when_the_creator_is_named_by_user_id(client, creator, alice):
    set_policy(client, creator, "nobody")
    assert_problem(start(client, alice, user_id=creator.id), 403, "dm_closed")


def test_existing_conversation_survives_a_tighter_policy(client, creator, alice, chat):
    set_policy(client, creator, "nobody")
    rv = start(client, alice, creator_handle="cora")
    assert rv.status_code == 200
    assert rv.get_json()["id"] == chat["id"]
    assert send(client, alice, chat["id"], "Still here?").status_code == 201
    assert send(client, creator, chat["id"], "Yes").status_code == 201


def test_creator_starts_conversations_only_with_followers_and_members(
    client, creator, alice, bob, signup, memberships
):
    assert_problem(start(client, creator, user_id=bob.id), 403, "dm_audience_only")
    follow(client, bob)
    assert start(client, creator, user_id=bob.id).status_code == 201
    member = signup()
    memberships.grant(member.id, creator["creator"]["id"], str(uuid.uuid4()))
    assert start(client, creator, user_id=member.id).status_code == 201


def test_two_fans_cannot_start_a_conversation(client, alice, bob):
    assert_problem(start(client, alice, user_id=bob.id), 403, "dm_creators_only")


def test_starting_a_conversation_needs_exactly_one_target(client, creator, alice):
    assert_problem(start(client, alice), 422)
    assert_problem(start(client, alice, creator_handle="cora", user_id=creator.id), 422)
    assert_problem(start(client, alice, creator_handle="nobody_here"), 404)
    assert_problem(start(client, alice, user_id=str(uuid.uuid4())), 404)
    assert_problem(start(client, creator, creator_handle="cora"), 422, "cannot_message_self")


def test_concurrent_starts_make_one_conversation(app, creator, alice):
    follow(app.test_client(), alice)
    statuses, ids = [], set()

    def go():
        rv = start(app.test_client(), alice, creator_handle="cora")
        statuses.append(rv.status_code)
        ids.add(rv.get_json().get("id"))

    threads = [threading.Thread(target=go) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 5 + [201]
    assert len(ids) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Conversation)) == 1


# --- blocks --------------------------------------------------------------------------


def block(client, account, user_id):
    return client.post(f"/v1/users/{user_id}/block", headers=account.headers)


def unblock(client, account, user_id):
    return client.delete(f"/v1/users/{user_id}/block", headers=account.headers)


@pytest.mark.parametrize("blocker", ["creator", "fan"])
def test_a_block_either_way_stops_starting_and_sending(client, creator, alice, chat, blocker):
    by, other = (creator, alice) if blocker == "creator" else (alice, creator)
    assert block(client, by, other.id).status_code == 204
    assert_problem(start(client, alice, creator_handle="cora"), 403, "blocked")
    assert_problem(send(client, alice, chat["id"]), 403, "blocked")
    assert_problem(send(client, creator, chat["id"]), 403, "blocked")
    assert unblock(client, by, other.id).status_code == 204
    assert send(client, alice, chat["id"]).status_code == 201


def test_block_and_unblock_are_idempotent(client, alice, bob):
    assert block(client, alice, bob.id).status_code == 204
    assert block(client, alice, bob.id).status_code == 204
    assert unblock(client, alice, bob.id).status_code == 204
    assert unblock(client, alice, bob.id).status_code == 204


def test_blocking_yourself_or_nobody_is_refused(client, alice):
    assert_problem(block(client, alice, alice.id), 422, "cannot_block_self")
    assert_problem(block(client, alice, uuid.uuid4()), 404)


# --- only participants see a conversation ---------------------------------------------


def test_third_party_cannot_see_or_touch_a_conversation(client, creator, alice, bob, chat):
    message = send(client, alice, chat["id"]).get_json()
    follow(client, bob)
    assert_problem(messages(client, bob, chat["id"]), 404)
    assert_problem(send(client, bob, chat["id"]), 404)
    assert_problem(read(client, bob, chat["id"], message["id"]), 404)
    listed = client.get("/v1/conversations", headers=bob.headers).get_json()
    assert listed == {"data": [], "next_cursor": None}
    assert unread_total(client, bob) == 0


def test_an_empty_page_is_a_members_own_and_an_outsiders_404(client, creator, alice, bob, chat):
    assert messages(client, alice, chat["id"]).get_json() == {"data": [], "next_cursor": None}
    listed = client.get("/v1/conversations", headers=alice.headers).get_json()["data"]
    assert chat["last_message"] is None and [c["last_message"] for c in listed] == [None]
    assert_problem(messages(client, bob, chat["id"]), 404)
    for i in range(3):
        send(client, alice, chat["id"], f"m{i}")
    cursor = messages(client, alice, chat["id"], "?limit=2").get_json()["next_cursor"]
    last = messages(client, alice, chat["id"], f"?limit=2&cursor={cursor}").get_json()
    assert [m["body"] for m in last["data"]] == ["m0"]
    # A cursor of the member's does not open the conversation to anyone else.
    assert_problem(messages(client, bob, chat["id"], f"?limit=2&cursor={cursor}"), 404)
    past = messages(client, alice, chat["id"], "?limit=1").get_json()
    past = messages(client, alice, chat["id"], f"?limit=3&cursor={past['next_cursor']}").get_json()
    assert [m["body"] for m in past["data"]] == ["m1", "m0"] and past["next_cursor"] is None


def test_marking_read_a_message_of_another_conversation_is_404(client, creator, alice, bob, chat):
    follow(client, bob)
    other = start(client, bob, creator_handle="cora").get_json()
    foreign = send(client, bob, other["id"]).get_json()
    assert_problem(read(client, alice, chat["id"], foreign["id"]), 404)


# --- message bodies -------------------------------------------------------------------

ROUND_TRIP = [
    "Grüße aus Köln, ça va ?",
    "👩‍👩‍👧‍👦 family 🎉🇺🇦 skin tones 👍🏽",
    "مرحبا بالعالم",
    "שלום \u200f עולם (RTL mark)",
    "\u202eoverride\u202c and zero\u200dwidth joiner",
    "<script>alert('x')</script> & <b>bold</b>",
    "two\nlines\tand a tab",
    "x" * 5000,
    "😀" * 5000,
]


@pytest.mark.parametrize("body", ROUND_TRIP, ids=range(len(ROUND_TRIP)))
def test_bodies_round_trip_exactly(client, alice, chat, body):
    rv = send(client, alice, chat["id"], body)
    assert rv.status_code == 201, rv.get_json()
    assert rv.get_json()["body"] == body
    assert rv.mimetype == "application/json"
    assert messages(client, alice, chat["id"]).get_json()["data"][0]["body"] == body


def test_bodies_are_trimmed_and_control_characters_removed(client, alice, chat):
    rv = send(client, alice, chat["id"], "  \u0007hel\u001blo\r\nworld\u009f\t \n")
    assert rv.get_json()["body"] == "hello\nworld"


@pytest.mark.parametrize(
    "body", ["", "   ", "\n\t \r\n", "\u0007\u0008", "x" * 5001, "a\u0000b", "\ud800"], ids=range(7)
)
def test_unacceptable_bodies_return_422(client, alice, chat, body):
    assert_problem(send(client, alice, chat["id"], body), 422)
    assert messages(client, alice, chat["id"]).get_json()["data"] == []


# --- pagination, lists, unread counts -------------------------------------------------


def test_message_pages_skip_and_repeat_nothing_while_messages_arrive(client, creator, alice, chat):
    sent = [send(client, alice, chat["id"], f"m{i}").get_json()["id"] for i in range(25)]
    seen, cursor = [], None
    while True:
        query = "?limit=10" + (f"&cursor={cursor}" if cursor else "")
        page = messages(client, alice, chat["id"], query).get_json()
        seen += [m["id"] for m in page["data"]]
        send(client, creator, chat["id"], "arrived meanwhile")
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(sent))


def test_conversation_list_orders_by_activity_with_other_party_and_last_message(
    client, creator, alice, bob, signup, make_creator
):
    other_creator = make_creator(signup(display_name="Otto"), handle="otto")
    for fan in (alice, bob):
        follow(client, fan)
        send(
            client,
            fan,
            start(client, fan, creator_handle="cora").get_json()["id"],
            f"from {fan['user']['display_name']}",
        )
    follow(client, creator, "otto")
    chat_otto = start(client, creator, creator_handle="otto").get_json()
    send(client, other_creator, chat_otto["id"], "hi cora")

    data = client.get("/v1/conversations", headers=creator.headers).get_json()["data"]
    assert [c["other"]["display_name"] for c in data] == ["Otto", "Bob", "Alice"]
    assert data[0]["other"]["handle"] == "otto" and data[1]["other"]["handle"] is None
    assert [c["last_message"]["body"] for c in data] == ["hi cora", "from Bob", "from Alice"]
    assert [c["unread_count"] for c in data] == [1, 1, 1]
    first = client.get("/v1/conversations?limit=2", headers=creator.headers).get_json()
    rest = client.get(f"/v1/conversations?limit=2&cursor={first['next_cursor']}", headers=creator.headers)
    assert [c["id"] for c in first["data"] + rest.get_json()["data"]] == [c["id"] for c in data]


def _statements_for_list(app, client, account) -> int:
    with recorded_statements(app) as statements:
        rv = client.get("/v1/conversations?limit=100", headers=account.headers)
    assert rv.status_code == 200
    return len(statements)


def test_conversation_list_takes_the_same_number_of_queries_for_1_and_50(app, client, creator, signup):
    def converse(fan):
        follow(client, fan)
        send(client, fan, start(client, fan, creator_handle="cora").get_json()["id"])

    converse(signup())
    one = _statements_for_list(app, client, creator)
    for _ in range(49):
        converse(signup())
    fifty = _statements_for_list(app, client, creator)
    print(f"\nconversation list: {one} SQL statements for 1 conversation, {fifty} for 50")
    assert one == fifty
    data = client.get("/v1/conversations?limit=100", headers=creator.headers).get_json()["data"]
    assert len(data) == 50 and all(c["unread_count"] == 1 for c in data)


def test_a_page_of_messages_takes_the_same_number_of_queries_for_1_and_50(app, client, alice, chat):
    send(client, alice, chat["id"], "first")
    with recorded_statements(app) as one:
        assert len(messages(client, alice, chat["id"]).get_json()["data"]) == 1
    for i in range(49):
        send(client, alice, chat["id"], f"m{i}")
    with recorded_statements(app) as fifty:
        assert len(messages(client, alice, chat["id"], "?limit=50").get_json()["data"]) == 50
    print(f"\nmessages page: {len(one)} SQL statements for 1 message, {len(fifty)} for 50")
    assert len(one) == len(fifty)


def test_sending_takes_the_same_statements_for_2_or_30_messages_and_1_or_6_conversations(
    app, client, creator, alice, signup, chat
):
    def statements():
        with request_statements(app) as asked:
            assert send(client, alice, chat["id"], "question").status_code == 201
        with request_statements(app) as answered:
            assert send(client, creator, chat["id"], "answer").status_code == 201
        return len(asked), len(answered)

    # A recipient's first unread message opens a digest (a job and a notification more); later
    # ones join it. Each side writes once first, so both sizes compare messages that join one.
    send(client, alice, chat["id"], "first")
    send(client, creator, chat["id"], "welcome")
    two = statements()
    for i in range(26):
        send(client, alice, chat["id"], f"m{i}")
    for _ in range(5):
        fan = signup()
        follow(client, fan)
        send(client, fan, start(client, fan, creator_handle="cora").get_json()["id"])
    thirty = statements()
    print(
        f"\nsend, reply: {two} SQL statements with 2 messages and 1 conversation, "
        f"{thirty} with 30 messages and 6 conversations"
    )
    assert two == thirty


def test_a_message_compiles_no_statement_after_the_first(app, client, creator, alice, chat):
    """Sending is a hot path: each of its statements, the fan's event for the creator
    included, comes from SQLAlchemy's compiled cache rather than compiled again."""
    send(client, alice, chat["id"], "first")
    send(client, creator, chat["id"], "welcome")
    for account in (alice, creator):
        with compiled_anew(app) as compiled:
            assert send(client, account, chat["id"], "again").status_code == 201
        assert not compiled, compiled


def test_unread_counts_drop_as_messages_are_read(client, creator, alice, bob, chat):
    sent = [send(client, alice, chat["id"], f"m{i}").get_json() for i in range(3)]
    follow(client, bob)
    send(client, bob, start(client, bob, creator_handle="cora").get_json()["id"], "hey")
    assert unread_total(client, creator) == 4
    assert unread_total(client, alice) == 0  # your own messages are never unread

    assert read(client, creator, chat["id"], sent[1]["id"]).status_code == 204
    assert unread_total(client, creator) == 2
    read(client, creator, chat["id"], sent[0]["id"])  # an older message does not move the marker back
    assert unread_total(client, creator) == 2
    send(client, creator, chat["id"], "replying reads everything before")
    assert unread_total(client, creator) == 1
    assert unread_total(client, alice) == 1
    listed = client.get("/v1/conversations", headers=alice.headers).get_json()["data"]
    assert [c["unread_count"] for c in listed] == [1]


def _unread_from_scratch(app, conversation_id) -> dict[uuid.UUID, tuple[int, int]]:
    """Per member of the conversation: (stored counter, messages counted afresh after the marker)."""
    with app.app_context():
        members = db.session.scalars(
            select(ConversationMember).where(ConversationMember.conversation_id == uuid.UUID(conversation_id))
        ).all()
        found = {}
        for m in members:
            fresh = select(func.count(Message.id)).where(
                Message.conversation_id == m.conversation_id,
                tuple_(Message.created_at, Message.id) > tuple_(m.last_read_at, m.last_read_message_id),
                or_(Message.sender_id.is_(None), Message.sender_id != m.user_id),
            )
            found[m.user_id] = (m.unread_count, db.session.scalar(fresh))
        return found


def test_the_unread_badge_reads_only_conversations_with_unread_messages(app, creator, postgres_only):
    """Its statement carries the partial index's condition as written, so even the plan
    kept for every user (psycopg prepares a statement it runs often) reads the index
    alone; with a bound 0 in its place, that plan could not use the index at all."""
    numbered = conversations._UNREAD_TOTAL.compile(dialect=psycopg.dialect(paramstyle="numeric_dollar"))
    values = {**numbered.params, "user": uuid.UUID(creator.id)}
    # EXECUTE takes no bound parameters of its own: its values are written out.
    arguments = ", ".join(f"'{values[name]}'" for name in numbered.positiontup or ())
    with app.app_context():
        db.session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        db.session.execute(text("SET LOCAL enable_seqscan = off"))
        # Between the two indexes by user the planner chooses by costs that move with the
        # visibility map; without the other one, only this index's own condition decides.
        # The rollback puts it back.
        db.session.execute(text("DROP INDEX ix_conversation_members_user_activity"))
        db.session.execute(text(f"PREPARE unread_badge AS {numbered}"))
        plan = db.session.scalars(text(f"EXPLAIN EXECUTE unread_badge({arguments})")).all()
        db.session.execute(text("DEALLOCATE unread_badge"))
        db.session.rollback()
    assert any("using ix_conversation_members_unread" in line for line in plan), plan


def test_unread_counters_stay_exact_under_parallel_sends_and_reads(
    app, client, creator, alice, chat, postgres_only
):
    earlier = [send(client, alice, chat["id"], f"before {i}").get_json()["id"] for i in range(4)]
    calls = (
        [lambda c, i=i: send(c, alice, chat["id"], f"alice {i}") for i in range(6)]
        + [lambda c, i=i: send(c, creator, chat["id"], f"cora {i}") for i in range(6)]
        + [lambda c, m=m: read(c, creator, chat["id"], m) for m in earlier]
    )
    statuses = [rv.status_code for rv in run_parallel(app, calls)]
    assert statuses == [201] * 12 + [204] * 4
    counts = _unread_from_scratch(app, chat["id"])
    assert len(counts) == 2
    assert all(stored == fresh for stored, fresh in counts.values()), counts
    assert unread_total(client, alice) == counts[uuid.UUID(alice.id)][1]


# --- service purchases, reports, rate limits ------------------------------------------


def _purchase(user_id, creator_id, kind="service", purchase_id=None):
    offering = SimpleNamespace(id=uuid.uuid4(), kind=kind, title="One-to-one code review")
    return SimpleNamespace(
        id=purchase_id or uuid.uuid4(),
        user_id=uuid.UUID(user_id),
        creator_id=uuid.UUID(creator_id),
        offering=offering,
        amount_minor=5000,
        currency="eur",
    )


def test_service_purchase_opens_the_conversation_once(app, client, creator, alice):
    purchase = _purchase(alice.id, creator["creator"]["id"])
    with app.app_context():
        for _ in range(2):  # a retried webhook announces the same purchase again
            purchase_completed.send(purchase)
            db.session.commit()
        purchase_completed.send(_purchase(alice.id, creator["creator"]["id"], kind="product"))
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Message)) == 1

    listed = client.get("/v1/conversations", headers=alice.headers).get_json()["data"]
    assert len(listed) == 1
    note = listed[0]["last_message"]
    assert note["kind"] == "system" and note["sender_id"] is None
    assert "One-to-one code review" in note["body"]
    assert unread_total(client, creator) == 1 and unread_total(client, alice) == 1


def test_reports_go_to_the_queue_for_what_you_can_see(client, creator, alice, bob, chat):
    message = send(client, creator, chat["id"], "rude words").get_json()
    rv = client.post(
        "/v1/reports", json={"message_id": message["id"], "reason": "  Abuse  "}, headers=alice.headers
    )
    assert rv.status_code == 201
    assert rv.get_json()["status"] == "open" and rv.get_json()["reason"] == "Abuse"
    report_bob = {"user_id": bob.id, "reason": "spam"}
    assert client.post("/v1/reports", json=report_bob, headers=alice.headers).status_code == 201
    stranger_report = {"message_id": message["id"], "reason": "nosy"}
    assert_problem(client.post("/v1/reports", json=stranger_report, headers=bob.headers), 404)
    myself = {"user_id": alice.id, "reason": "me"}
    assert_problem(client.post("/v1/reports", json=myself, headers=alice.headers), 422, "cannot_report_self")
    both = {"user_id": bob.id, "message_id": message["id"], "reason": "x"}
    assert_problem(client.post("/v1/reports", json=both, headers=alice.headers), 422)


@pytest.fixture
def limits_on():
    limiter.enabled = True
    yield
    limiter.enabled = False


def test_sending_is_rate_limited_per_user(client, creator, alice, chat, limits_on):
    assert [send(client, alice, chat["id"]).status_code for _ in range(30)] == [201] * 30
    rv = send(client, alice, chat["id"])
    assert_problem(rv, 429)
    assert "Retry-After" in rv.headers
    assert send(client, creator, chat["id"]).status_code == 201


def test_starting_conversations_is_rate_limited_per_user(client, creator, alice, chat, limits_on):
    codes = [start(client, alice, creator_handle="cora").status_code for _ in range(20)]
    assert codes == [200] * 20
    assert_problem(start(client, alice, creator_handle="cora"), 429)


def test_deleting_an_account_anonymises_its_messages_and_export_lists_them(client, creator, alice):
    client.post("/v1/creators/cora/follow", headers=alice.headers)
    conversation = client.post(
        "/v1/conversations", json={"creator_handle": "cora"}, headers=alice.headers
    ).get_json()
    sent = client.post(
        f"/v1/conversations/{conversation['id']}/messages",
        json={"body": "my phone is 555-0100"},
        headers=alice.headers,
    )
    assert sent.status_code == 201
    export = client.get("/v1/me/export", headers=alice.headers).get_json()
    assert [m["body"] for m in export["messages_sent"]] == ["my phone is 555-0100"]
    assert client.delete("/v1/me", headers=alice.headers).status_code == 204
    messages = client.get(
        f"/v1/conversations/{conversation['id']}/messages", headers=creator.headers
    ).get_json()
    assert "555-0100" not in str(messages)
    assert messages["data"][0]["body"].startswith("This message was removed")
