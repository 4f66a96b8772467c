"""Posts: who may read what, teasers for the rest, the feed, and their cost in queries.

Memberships are real ones, bought through the local gateway over HTTP.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from service.common import clock

from .billing_helpers import buy, onboard, simulate
from .conftest import Account, assert_problem, recorded_statements

VISIBILITIES = ("public", "followers", "members", "tiers")


@pytest.fixture
def tiers(client, creator, make_offering):
    """Cora, onboarded, selling two membership tiers."""
    onboard(client, creator)
    return {
        "basic": make_offering(creator, title="Basic", amount=500, rank=0),
        "pro": make_offering(creator, title="Pro", amount=1500, rank=1),
    }


def post(client, owner, handle="cora", **fields):
    body = {"title": "A title", "body": "Some words", "visibility": "public", **fields}
    return client.post(f"/v1/creators/{handle}/posts", json=body, headers=owner.headers)


def publish(client, owner, handle="cora", **fields):
    rv = post(client, owner, handle, **fields)
    assert rv.status_code == 201, rv.get_json()
    return rv.get_json()


def one_of_each(client, creator, tiers):
    """One post per visibility; the `tiers` one is for Pro members only."""
    for visibility in VISIBILITIES:
        extra = {"tier_ids": [tiers["pro"]["id"]]} if visibility == "tiers" else {}
        publish(client, creator, title=visibility, body=f"{visibility} body", visibility=visibility, **extra)


def listed(client, headers=None, handle="cora", **query):
    rv = client.get(f"/v1/creators/{handle}/posts", query_string=query, headers=headers or {})
    assert rv.status_code == 200, rv.get_json()
    return rv.get_json()


def feed(client, headers, **query):
    rv = client.get("/v1/feed", query_string=query, headers=headers)
    assert rv.status_code == 200, rv.get_json()
    return rv.get_json()


def member(client, signup, tiers, tier="pro") -> tuple[Account, str]:
    """A new user holding a membership of this tier; returns them and the subscription id."""
    account = signup()
    return account, buy(client, account, tiers[tier]["price"]["id"])["subscription_id"]


def make_viewer(kind, *, app, client, signup, creator, tiers) -> Account | None:
    if kind == "anonymous":
        return None
    if kind == "owner":
        return creator
    if kind in ("non-follower", "follower"):
        account = signup()
        if kind == "follower":
            assert client.post("/v1/creators/cora/follow", headers=account.headers).status_code == 204
        return account
    account, sub_id = member(client, signup, tiers, "basic" if kind == "member of another tier" else "pro")
    if kind == "past-due member within grace":
        simulate(app, "fail", sub_id)
    if kind == "canceled former member":
        rv = client.post(
            f"/v1/subscriptions/{sub_id}/cancel", json={"at_period_end": False}, headers=account.headers
        )
        assert rv.get_json()["status"] == "canceled"
    return account


EVERYTHING = set(VISIBILITIES)
READABLE = {
    "anonymous": {"public"},
    "non-follower": {"public"},
    "follower": {"public", "followers"},
    "member of the right tier": EVERYTHING,
    "member of another tier": {"public", "followers", "members"},
    "past-due member within grace": EVERYTHING,
    "canceled former member": {"public"},
    "owner": EVERYTHING,
}
# Whose feed shows Cora's posts: followers and current members.
IN_FEED = {"follower", "member of the right tier", "member of another tier", "past-due member within grace"}


def assert_unlocked_exactly(posts, readable):
    for p in posts:
        if p["visibility"] in readable:
            assert p["locked"] is False and p["body"] == f"{p['visibility']} body", p
        else:
            assert p["locked"] is True and p["body"] is None, p


@pytest.mark.parametrize("kind", sorted(READABLE))
def test_visibility_matrix(app, client, signup, creator, tiers, kind):
    one_of_each(client, creator, tiers)
    viewer = make_viewer(kind, app=app, client=client, signup=signup, creator=creator, tiers=tiers)
    posts = listed(client, viewer.headers if viewer else None)["data"]
    assert [p["visibility"] for p in posts] == list(reversed(VISIBILITIES))
    assert_unlocked_exactly(posts, READABLE[kind])
    if viewer is not None and kind != "owner":
        in_feed = feed(client, viewer.headers)["data"]
        assert in_feed == (posts if kind in IN_FEED else [])


def test_teasers_keep_title_and_tiers_but_not_body(client, creator, tiers):
    publish(
        client, creator, title="For Pro", body="secret", visibility="tiers", tier_ids=[tiers["pro"]["id"]]
    )
    (teaser,) = listed(client)["data"]
    assert teaser["locked"] is True and teaser["body"] is None
    assert teaser["title"] == "For Pro" and teaser["tier_ids"] == [tiers["pro"]["id"]]
    assert teaser["creator"]["handle"] == "cora"
    assert "secret" not in client.get("/v1/creators/cora/posts").get_data(as_text=True)


def test_past_due_member_loses_access_after_the_grace_period(app, client, signup, creator, tiers):
    one_of_each(client, creator, tiers)
    account, sub_id = member(client, signup, tiers)
    simulate(app, "fail", sub_id)
    assert len(feed(client, account.headers)["data"]) == len(VISIBILITIES)
    clock.freeze(clock.utcnow() + timedelta(days=8))
    login = client.post("/v1/auth/login", json={"email": account["email"], "password": account["password"]})
    later = Account(login.get_json())
    assert_unlocked_exactly(listed(client, later.headers)["data"], {"public"})
    # No longer a member, and never a follower: the feed, built before, shows her nothing.
    assert feed(client, later.headers)["data"] == []


def test_owner_gets_the_post_back_unlocked(client, creator, tiers):
    rv = post(client, creator, title="  Hello  ", body="Members only", visibility="members")
    assert rv.status_code == 201
    body = rv.get_json()
    assert body["title"] == "Hello" and body["body"] == "Members only" and body["locked"] is False
    assert body["tier_ids"] == [] and body["published_at"] and body["created_at"]


def test_feed_shows_followed_and_member_creators_newest_first(
    client, signup, make_creator, creator, tiers, alice
):
    dan, fay = make_creator(signup(), handle="dan"), make_creator(signup(), handle="fay")
    client.post("/v1/creators/dan/follow", headers=alice.headers)
    buy(client, alice, tiers["basic"]["price"]["id"])  # a member of Cora without following her
    publish(client, creator, title="cora public")
    publish(client, dan, "dan", title="dan followers", visibility="followers")
    publish(client, fay, "fay", title="fay public")
    publish(client, creator, title="cora pro", visibility="tiers", tier_ids=[tiers["pro"]["id"]])
    publish(client, dan, "dan", title="dan members", visibility="members")
    posts = feed(client, alice.headers)["data"]
    titles = [(p["title"], p["locked"]) for p in posts]
    assert titles == [
        ("dan members", True),
        ("cora pro", True),
        ("dan followers", False),
        ("cora public", False),
    ]
    assert [p["creator"]["handle"] for p in posts] == ["dan", "cora", "dan", "cora"]


def test_feed_lists_a_post_once_for_a_member_who_also_follows(client, signup, creator, tiers):
    account, _ = member(client, signup, tiers, "basic")
    assert client.post("/v1/creators/cora/follow", headers=account.headers).status_code == 204
    one_of_each(client, creator, tiers)
    posts = feed(client, account.headers)["data"]
    assert [p["visibility"] for p in posts] == list(reversed(VISIBILITIES))
    assert_unlocked_exactly(posts, READABLE["member of another tier"])


def test_feed_needs_a_login(client):
    assert_problem(client.get("/v1/feed"), 401)


def walk(fetch, between=lambda: None):
    """Follow next_cursor to the end with limit 2, calling `between` after the first page."""
    first = fetch(limit=2)
    between()
    titles, cursor = [p["title"] for p in first["data"]], first["next_cursor"]
    while cursor:
        page = fetch(limit=2, cursor=cursor)
        titles += [p["title"] for p in page["data"]]
        cursor = page["next_cursor"]
    return titles


def test_list_pages_neither_skip_nor_repeat_when_posts_arrive(client, creator):
    for i in range(5):
        publish(client, creator, title=f"p{i}")

    def more():
        publish(client, creator, title="late 1")
        publish(client, creator, title="late 2")

    assert walk(lambda **q: listed(client, **q), between=more) == ["p4", "p3", "p2", "p1", "p0"]
    assert [p["title"] for p in listed(client)["data"]][:2] == ["late 2", "late 1"]


def test_feed_pages_neither_skip_nor_repeat_when_posts_arrive(client, signup, make_creator, creator, alice):
    dan = make_creator(signup(), handle="dan")
    for handle in ("cora", "dan"):
        client.post(f"/v1/creators/{handle}/follow", headers=alice.headers)
    for i in range(5):
        publish(client, creator if i % 2 else dan, "cora" if i % 2 else "dan", title=f"p{i}")

    def more():
        publish(client, creator, title="late cora")
        publish(client, dan, "dan", title="late dan")

    assert walk(lambda **q: feed(client, alice.headers, **q), between=more) == ["p4", "p3", "p2", "p1", "p0"]


def queries(app, fetch) -> int:
    with recorded_statements(app) as statements:
        assert fetch()["data"]
    return len(statements)


def test_a_page_of_posts_costs_the_same_queries_for_1_or_20_posts(
    app, client, signup, make_creator, creator, tiers
):
    account, _ = member(client, signup, tiers)
    dan = make_creator(signup(), handle="dan")
    client.post("/v1/creators/cora/follow", headers=account.headers)
    publish(client, dan, "dan", visibility="followers")
    one = queries(app, lambda: listed(client, account.headers, "dan"))
    for i in range(20):
        publish(client, creator, visibility=VISIBILITIES[i % 4], **tier_ids(i, tiers))
    twenty = queries(app, lambda: listed(client, account.headers, "cora", limit=20))
    print(f"creator posts page: {one} queries for 1 post, {twenty} for 20")
    assert one == twenty


def test_the_feed_costs_the_same_queries_for_1_or_many_creators_and_posts(
    app, client, signup, make_creator, creator, tiers
):
    account, _ = member(client, signup, tiers)
    publish(client, creator, visibility="members")
    one = queries(app, lambda: feed(client, account.headers))
    for i in range(4):
        handle = f"maker{i}"
        maker = make_creator(signup(), handle=handle)
        assert client.post(f"/v1/creators/{handle}/follow", headers=account.headers).status_code == 204
        for j in range(5):
            publish(client, maker, handle, visibility=VISIBILITIES[j % 3])
    many = queries(app, lambda: feed(client, account.headers, limit=20))
    print(f"feed: {one} SQL statements for 1 creator and 1 post, {many} for 5 creators and 21 posts")
    assert one == many


def tier_ids(i, tiers):
    return {"tier_ids": [tiers["pro"]["id"]]} if VISIBILITIES[i % 4] == "tiers" else {}


def test_a_feed_page_costs_the_same_queries_for_1_or_20_creators(
    app, client, signup, make_creator, creator, tiers
):
    account, _ = member(client, signup, tiers)
    publish(client, creator, visibility="members")
    one = queries(app, lambda: feed(client, account.headers))
    for i in range(19):
        other = make_creator(signup(), handle=f"creator_{i}")
        client.post(f"/v1/creators/creator_{i}/follow", headers=account.headers)
        publish(client, other, f"creator_{i}", visibility=VISIBILITIES[i % 3])
    page = feed(client, account.headers, limit=20)["data"]
    assert len({p["creator"]["id"] for p in page}) == 20
    twenty = queries(app, lambda: feed(client, account.headers, limit=20))
    print(f"feed page: {one} queries for 1 creator, {twenty} for 20 creators")
    assert one == twenty


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "t" * 201}, "title"),
        ({"body": ""}, "body"),
        ({"body": "b" * 20_001}, "body"),
        ({"body": "nul \x00 here"}, "body"),
        ({"body": "\ud800"}, "body"),
        ({"visibility": "friends"}, "visibility"),
        ({"visibility": "tiers"}, "tier_ids"),
        ({"visibility": "tiers", "tier_ids": []}, "tier_ids"),
        ({"visibility": "public", "tier_ids": ["00000000-0000-4000-8000-000000000000"]}, "tier_ids"),
        ({"pinned": True}, "pinned"),
    ],
)
def test_invalid_posts_return_422(client, creator, fields, field):
    body = assert_problem(post(client, creator, **fields), 422, "validation_failed")
    assert field in body["errors"], body


def test_longest_title_and_body_are_accepted(client, creator):
    assert post(client, creator, title="t" * 200, body="b" * 20_000).status_code == 201


def test_tiers_must_be_the_creators_own_memberships(
    client, signup, make_creator, make_offering, creator, tiers
):
    rival = make_creator(signup(), handle="rival")
    theirs = make_offering(rival, title="Their tier")
    service = make_offering(creator, kind="service", title="Review")
    for foreign in (theirs["id"], service["id"]):
        rv = post(client, creator, visibility="tiers", tier_ids=[tiers["pro"]["id"], foreign])
        body = assert_problem(rv, 422, "invalid_post_tiers")
        assert body["errors"]["tier_ids"] == [f"Not one of your tiers: {foreign}"]
    assert listed(client)["data"] == []


def test_only_the_owner_may_post(client, creator, alice):
    assert_problem(post(client, alice), 403)
    assert listed(client)["data"] == []


def test_unknown_creator_returns_404(client, alice):
    assert_problem(post(client, alice, "nobody_here"), 404)
    assert_problem(client.get("/v1/creators/nobody_here/posts"), 404)
