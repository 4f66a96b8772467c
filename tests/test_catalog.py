from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service.common import clock

from .conftest import assert_problem, recorded_statements

INVALID = "validation_failed"
MONTHLY = {"type": "recurring", "interval": "month"}
PRODUCT = {"kind": "product", "title": "Pack", "benefits": ["WAV", "Stems"], "capacity": 50, "rank": 3}


def create_offering(client, owner, **body):
    return client.post(f"/v1/creators/{owner['handle']}/offerings", json=body, headers=owner.headers)


def draft(client, owner, kind="membership"):
    rv = create_offering(client, owner, kind=kind, title=f"{kind} draft")
    assert rv.status_code == 201, rv.get_json()
    return rv.get_json()


def add_price(client, owner, offering_id, **body):
    return client.post(f"/v1/offerings/{offering_id}/prices", json=body, headers=owner.headers)


def post(client, path, account=None):
    return client.post(path, headers=account.headers if account else {})


def patch(client, offering_id, changes, account=None):
    headers = account.headers if account else {}
    return client.patch(f"/v1/offerings/{offering_id}", json=changes, headers=headers)


def as_owner(client, owner, offering_id):
    rv = client.get(f"/v1/offerings/{offering_id}", headers=owner.headers)
    assert rv.status_code == 200, rv.get_json()
    return rv.get_json()


def ids(rv):
    assert rv.status_code == 200, rv.get_json()
    return [o["id"] for o in rv.get_json()["data"]]


def owner_ids(client, owner, query=""):
    return ids(client.get(f"/v1/creators/{owner['handle']}/offerings{query}", headers=owner.headers))


def pick(body, *names):
    return {name: body[name] for name in names}


def test_create_offering_valid_returns_201_draft_with_fields_echoed(client, creator):
    rv = create_offering(client, creator, **{**PRODUCT, "title": "  Pack  "}, delivery="https://x.test/p.zip")
    assert rv.status_code == 201, rv.get_json()
    body = rv.get_json()
    assert pick(body, *PRODUCT, "delivery") == {**PRODUCT, "delivery": "https://x.test/p.zip"}
    assert (body["status"], body["published_at"], body["prices"]) == ("draft", None, [])
    assert body["creator_id"] == creator["creator"]["id"]
    assert as_owner(client, creator, body["id"])["title"] == "Pack"


@pytest.mark.parametrize(
    "body, field, code",
    [
        ({"kind": "course", "title": "T"}, "kind", INVALID),
        ({"kind": "service", "title": ""}, "title", INVALID),
        ({"kind": "service", "title": "   "}, "title", INVALID),
        ({"kind": "service", "title": "x" * 121}, "title", INVALID),
        ({"kind": "service"}, "title", INVALID),
        ({"kind": "service", "title": "T", "price": 500}, "price", INVALID),
        ({"kind": "service", "title": "T", "benefits": [""]}, "benefits", INVALID),
        ({"kind": "service", "title": "T", "capacity": 0}, "capacity", INVALID),
        ({"kind": "membership", "title": "T", "delivery": "x"}, "delivery", "delivery_only_for_products"),
        ({"kind": "service", "title": "T", "delivery": "x"}, "delivery", "delivery_only_for_products"),
    ],
)
def test_create_offering_invalid_body_returns_422_naming_the_field(client, creator, body, field, code):
    assert field in assert_problem(create_offering(client, creator, **body), 422, code)["errors"]
    assert owner_ids(client, creator) == []


@pytest.mark.parametrize("amount", [99, 1_000_001, -500, 0, 9.99, 100.0, "999", True, None, [500]])
def test_add_price_invalid_amount_returns_422_and_writes_nothing(client, creator, amount):
    offering = draft(client, creator)
    problem = assert_problem(add_price(client, creator, offering["id"], amount=amount, **MONTHLY), 422)
    assert "amount" in problem["errors"]
    assert as_owner(client, creator, offering["id"])["prices"] == []


@pytest.mark.parametrize("raw", [b"1e3", b"1E+3", b"1000.0", b"NaN", b"Infinity"])
def test_add_price_non_integer_json_number_returns_422_and_writes_nothing(client, creator, raw):
    offering = draft(client, creator)
    rv = client.post(
        f"/v1/offerings/{offering['id']}/prices",
        data=b'{"amount": ' + raw + b', "type": "recurring", "interval": "month"}',
        content_type="application/json",
        headers=creator.headers,
    )
    assert "amount" in assert_problem(rv, 422, "validation_failed")["errors"]
    assert as_owner(client, creator, offering["id"])["prices"] == []


@pytest.mark.parametrize(
    "kind, body, field, code",
    [
        ("membership", {"type": "one_time"}, "type", "membership_price_not_recurring"),
        ("service", {"type": "monthly"}, "type", INVALID),
        ("service", {"type": "recurring"}, "interval", INVALID),
        ("service", {"type": "recurring", "interval": "week"}, "interval", INVALID),
        ("service", {"type": "one_time", "interval": "month"}, "interval", INVALID),
        ("service", {"type": "one_time", "interval_count": 1}, "interval_count", INVALID),
        ("service", {"type": "one_time", "trial_days": 7}, "trial_days", INVALID),
        (
            "service",
            {"type": "recurring", "interval": "year", "interval_count": 2},
            "interval_count",
            INVALID,
        ),
        ("service", {**MONTHLY, "interval_count": 13}, "interval_count", INVALID),
        ("service", {**MONTHLY, "interval_count": 0}, "interval_count", INVALID),
        ("service", {**MONTHLY, "trial_days": 91}, "trial_days", INVALID),
        ("service", {**MONTHLY, "trial_days": -1}, "trial_days", INVALID),
        ("service", {**MONTHLY, "currency": "usd"}, "currency", INVALID),
    ],
)
def test_add_price_invalid_terms_returns_422_naming_the_field(client, creator, kind, body, field, code):
    offering = draft(client, creator, kind=kind)
    problem = assert_problem(add_price(client, creator, offering["id"], amount=500, **body), 422, code)
    assert field in problem["errors"]
    assert as_owner(client, creator, offering["id"])["prices"] == []


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"amount": 100, "interval": "month"}, ("month", 1, None)),
        ({"amount": 1_000_000, "interval": "year"}, ("year", 1, None)),
        ({"amount": 900, "interval": "year", "interval_count": 1}, ("year", 1, None)),
        ({"amount": 900, "interval": "month", "interval_count": 3, "trial_days": 0}, ("month", 3, 0)),
        ({"amount": 900, "interval": "month", "trial_days": 90}, ("month", 1, 90)),
    ],
)
def test_add_recurring_price_valid_returns_201_in_creator_currency(client, creator, body, expected):
    offering = draft(client, creator)
    rv = add_price(client, creator, offering["id"], type="recurring", **body)
    assert rv.status_code == 201, rv.get_json()
    price = rv.get_json()
    assert (price["interval"], price["interval_count"], price["trial_days"]) == expected
    assert (price["amount"], price["active"]) == ({"amount": body["amount"], "currency": "eur"}, True)
    assert [p["id"] for p in as_owner(client, creator, offering["id"])["prices"]] == [price["id"]]


def test_add_price_for_usd_creator_is_in_usd(client, alice, make_creator):
    make_creator(alice, currency="usd")
    offering = draft(client, alice)
    assert (
        add_price(client, alice, offering["id"], amount=500, **MONTHLY).get_json()["amount"]["currency"]
        == "usd"
    )


@pytest.mark.parametrize("kind", ["service", "product"])
def test_services_and_products_are_sold_once_never_by_subscription(client, creator, kind):
    """A recurring product would bill every period and deliver nothing: refused."""
    offering = draft(client, creator, kind=kind)
    for terms in (MONTHLY, {"type": "recurring", "interval": "year"}):
        problem = assert_problem(add_price(client, creator, offering["id"], amount=900, **terms), 422)
        assert problem["type"] == "/problems/price_not_one_time" and "type" in problem["errors"]
    one_time = add_price(client, creator, offering["id"], amount=2500, type="one_time")
    assert one_time.status_code == 201
    assert (one_time.get_json()["interval"], one_time.get_json()["interval_count"]) == (None, None)
    prices = as_owner(client, creator, offering["id"])["prices"]
    assert [p["type"] for p in prices] == ["one_time"]


def test_owner_actions_by_bob_return_403_or_404_and_change_nothing(client, creator, bob, make_offering):
    live = make_offering(creator, title="Live")
    hidden = make_offering(creator, title="Hidden", published=False)
    body = {"kind": "service", "title": "T"}
    rv = client.post("/v1/creators/cora/offerings", json=body, headers=bob.headers)
    assert_problem(rv, 403, "not_owner")
    assert_problem(client.post("/v1/creators/cora/offerings", json=body), 401)
    for offering, status in ((live, 403), (hidden, 404)):
        assert_problem(add_price(client, bob, offering["id"], amount=500, **MONTHLY), status)
        assert_problem(patch(client, offering["id"], {"title": "X"}, bob), status)
        assert_problem(patch(client, offering["id"], {"title": "X"}), 401)
        assert_problem(post(client, f"/v1/offerings/{offering['id']}/publish", bob), status)
        assert_problem(post(client, f"/v1/offerings/{offering['id']}/archive", bob), status)
        assert_problem(post(client, f"/v1/prices/{offering['price']['id']}/archive", bob), status)
    assert owner_ids(client, creator) == [live["id"], hidden["id"]]
    for offering, status in ((live, "published"), (hidden, "draft")):
        after = as_owner(client, creator, offering["id"])
        assert (after["title"], after["status"]) == (offering["title"], status)
        assert after["prices"] == [offering["price"]]


def test_publish_without_active_price_returns_422_and_stays_draft(client, creator):
    offering = draft(client, creator)
    assert_problem(post(client, f"/v1/offerings/{offering['id']}/publish", creator), 422, "no_active_price")
    price = add_price(client, creator, offering["id"], amount=500, **MONTHLY).get_json()
    assert post(client, f"/v1/prices/{price['id']}/archive", creator).status_code == 200
    assert_problem(post(client, f"/v1/offerings/{offering['id']}/publish", creator), 422, "no_active_price")
    after = as_owner(client, creator, offering["id"])
    assert (after["status"], after["published_at"]) == ("draft", None)
    assert_problem(client.get(f"/v1/offerings/{offering['id']}"), 404)


def test_publish_archive_and_republish_change_status(client, creator):
    offering = draft(client, creator)
    add_price(client, creator, offering["id"], amount=500, **MONTHLY)
    steps = [("publish", "published", 200), ("archive", "archived", 404), ("publish", "published", 200)]
    for action, status, public in steps:
        rv = post(client, f"/v1/offerings/{offering['id']}/{action}", creator)
        assert rv.status_code == 200 and rv.get_json()["status"] == status
        assert client.get(f"/v1/offerings/{offering['id']}").status_code == public
        assert as_owner(client, creator, offering["id"])["status"] == status
    assert rv.get_json()["published_at"] is not None


def test_add_price_to_archived_offering_returns_422(client, creator, make_offering):
    offering = make_offering(creator)
    post(client, f"/v1/offerings/{offering['id']}/archive", creator)
    rv = add_price(client, creator, offering["id"], amount=700, **MONTHLY)
    assert_problem(rv, 422, "offering_archived")
    assert as_owner(client, creator, offering["id"])["prices"] == [offering["price"]]


def test_archive_last_active_price_of_published_offering_returns_422(client, creator, make_offering):
    offering = make_offering(creator)
    rv = post(client, f"/v1/prices/{offering['price']['id']}/archive", creator)
    assert_problem(rv, 422, "last_active_price")
    assert [p["active"] for p in as_owner(client, creator, offering["id"])["prices"]] == [True]


def test_archive_one_of_two_prices_hides_it_from_everyone_but_the_owner(client, creator, bob, make_offering):
    offering = make_offering(creator)
    old = offering["price"]["id"]
    new = add_price(client, creator, offering["id"], amount=800, **MONTHLY).get_json()["id"]
    rv = post(client, f"/v1/prices/{old}/archive", creator)
    assert rv.status_code == 200 and rv.get_json()["active"] is False
    for headers in ({}, bob.headers):
        public = client.get(f"/v1/offerings/{offering['id']}", headers=headers).get_json()
        assert [p["id"] for p in public["prices"]] == [new]
    owned = as_owner(client, creator, offering["id"])["prices"]
    assert [(p["id"], p["active"]) for p in owned] == [(old, False), (new, True)]
    page = client.get("/v1/creators/cora", headers=creator.headers).get_json()
    assert [p["id"] for p in page["offerings"][0]["prices"]] == [new]
    assert_problem(post(client, f"/v1/prices/{new}/archive", creator), 422, "last_active_price")


def test_get_draft_offering_is_404_for_everyone_but_the_owner(client, creator, bob):
    offering = draft(client, creator)
    assert_problem(client.get(f"/v1/offerings/{offering['id']}"), 404)
    assert_problem(client.get(f"/v1/offerings/{offering['id']}", headers=bob.headers), 404)
    assert as_owner(client, creator, offering["id"])["status"] == "draft"
    assert_problem(client.get("/v1/offerings/00000000-0000-0000-0000-000000000000"), 404)


def test_get_published_product_reveals_delivery_only_to_the_owner(client, creator, bob, make_offering):
    offering = make_offering(creator, kind="product", delivery="https://x.test/secret.zip")
    anonymous = client.get(f"/v1/offerings/{offering['id']}")
    assert anonymous.status_code == 200 and anonymous.get_json()["delivery"] is None
    assert client.get(f"/v1/offerings/{offering['id']}", headers=bob.headers).get_json()["delivery"] is None
    assert as_owner(client, creator, offering["id"])["delivery"] == "https://x.test/secret.zip"
    listed = client.get("/v1/creators/cora/offerings", headers=bob.headers).get_json()["data"]
    assert [o["delivery"] for o in listed] == [None]
    owned = client.get("/v1/creators/cora/offerings", headers=creator.headers).get_json()["data"]
    assert [o["delivery"] for o in owned] == ["https://x.test/secret.zip"]


def test_list_offerings_shows_drafts_and_archived_only_to_the_owner(client, creator, bob, make_offering):
    live = make_offering(creator, title="Live")["id"]
    hidden = make_offering(creator, title="Draft", published=False)["id"]
    gone = make_offering(creator, title="Gone")["id"]
    post(client, f"/v1/offerings/{gone}/archive", creator)
    for headers in ({}, bob.headers):
        for query in ("", "?status=draft", "?status=archived"):
            assert ids(client.get(f"/v1/creators/cora/offerings{query}", headers=headers)) == [live]
    assert owner_ids(client, creator) == [live, hidden, gone]
    assert owner_ids(client, creator, "?status=draft") == [hidden]
    assert owner_ids(client, creator, "?status=archived") == [gone]
    assert owner_ids(client, creator, "?status=published") == [live]


def test_list_offerings_bad_query_or_unknown_creator_returns_error(client, creator):
    assert "status" in assert_problem(client.get("/v1/creators/cora/offerings?status=bogus"), 422)["errors"]
    rv = client.get("/v1/creators/cora/offerings?status=bogus", headers=creator.headers)
    assert_problem(rv, 422, INVALID)
    assert_problem(client.get("/v1/creators/cora/offerings?cursor=AAAAAAAAAAAA"), 422, "invalid_cursor")
    assert_problem(client.get("/v1/creators/nobody_here/offerings"), 404)


def test_list_offerings_orders_by_rank_then_creation(client, creator, make_offering):
    made = [make_offering(creator, title=f"o{i}", rank=rank)["id"] for i, rank in enumerate([2, 0, 1, 0, 2])]
    expected = [made[i] for i in (1, 3, 2, 0, 4)]
    assert ids(client.get("/v1/creators/cora/offerings")) == expected
    assert owner_ids(client, creator) == expected


@pytest.mark.parametrize("as_creator, frozen", [(False, False), (True, False), (False, True)])
def test_list_offerings_pages_without_duplicates_or_gaps(client, creator, make_offering, as_creator, frozen):
    if frozen:
        clock.freeze(datetime(2025, 1, 1, tzinfo=UTC))
    made = [make_offering(creator, title=f"o{i}", rank=rank)["id"] for i, rank in enumerate([1, 0, 1, 0, 1])]
    headers = creator.headers if as_creator else {}
    seen, cursor, pages = [], None, 0
    while pages == 0 or cursor is not None:
        assert pages < 5
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(f"/v1/creators/cora/offerings{query}", headers=headers).get_json()
        seen += [o["id"] for o in body["data"]]
        pages, cursor = pages + 1, body["next_cursor"]
    rank0, rank1 = [made[i] for i in (1, 3)], [made[i] for i in (0, 2, 4)]
    assert pages == 3 and len(seen) == len(set(seen)) == 5
    assert seen == (sorted(rank0) + sorted(rank1) if frozen else rank0 + rank1)


def test_update_offering_by_owner_changes_fields(client, creator, make_offering):
    offering = make_offering(creator, capacity=10)
    changes = {"title": " Gold ", "benefits": ["Early access"], "capacity": 25, "rank": 4}
    rv = patch(client, offering["id"], changes, creator)
    assert rv.status_code == 200, rv.get_json()
    assert pick(as_owner(client, creator, offering["id"]), *changes) == {**changes, "title": "Gold"}
    rv = patch(client, offering["id"], {"capacity": None}, creator)
    assert rv.status_code == 200 and as_owner(client, creator, offering["id"])["capacity"] is None


@pytest.mark.parametrize(
    "changes, code",
    [
        ({"capacity": 0}, INVALID),
        ({"capacity": -1}, INVALID),
        ({"title": ""}, INVALID),
        ({"title": None}, INVALID),
        ({"kind": "service"}, INVALID),
        ({"status": "published"}, INVALID),
        ({"delivery": "https://x.test"}, "delivery_only_for_products"),
    ],
)
def test_update_offering_invalid_change_returns_422_unchanged(client, creator, make_offering, changes, code):
    offering = make_offering(creator, capacity=10, title="Silver")
    problem = assert_problem(patch(client, offering["id"], changes, creator), 422, code)
    assert set(changes) <= set(problem["errors"])
    after = as_owner(client, creator, offering["id"])
    assert (after["kind"], after["title"], after["capacity"]) == ("membership", "Silver", 10)
    assert (after["status"], after["delivery"]) == ("published", None)


def test_creator_page_shows_published_offerings_active_prices(client, signup, make_creator, make_offering):
    owner = make_creator(signup(display_name="Cora"), handle="cora", tags=["Music", "synths"], bio="Hi")
    live = make_offering(owner, title="Live", rank=1)
    add_price(client, owner, live["id"], amount=5000, type="recurring", interval="year")
    post(client, f"/v1/prices/{live['price']['id']}/archive", owner)
    product = make_offering(owner, kind="product", title="Pack", rank=0, delivery="https://x.test/p")
    make_offering(owner, title="Draft", published=False)
    post(client, f"/v1/offerings/{make_offering(owner, title='Gone')['id']}/archive", owner)
    for headers in ({}, owner.headers):
        rv = client.get("/v1/creators/CORA", headers=headers)
        assert rv.status_code == 200, rv.get_json()
        page = rv.get_json()
        assert (page["handle"], page["display_name"], page["bio"]) == ("cora", "Cora", "Hi")
        assert (page["currency"], page["dm_policy"]) == ("eur", "followers")
        assert (page["tags"], page["member_count"], page["follower_count"]) == (["music", "synths"], 0, 0)
        assert page["payouts_enabled"] is False
        assert [o["id"] for o in page["offerings"]] == [product["id"], live["id"]]
        assert [[p["amount"]["amount"] for p in o["prices"]] for o in page["offerings"]] == [[500], [5000]]
        assert all(p["active"] for o in page["offerings"] for p in o["prices"])
    assert client.get("/v1/creators/cora").get_json()["offerings"][0]["delivery"] is None


@pytest.mark.parametrize("handle", ["nobody_here", "c%C3%B6ra", "%00", "co", "c%20ora", "cora%00"])
def test_creator_page_unknown_or_odd_handle_returns_404(client, creator, handle):
    assert_problem(client.get(f"/v1/creators/{handle}"), 404)
    assert client.get("/v1/creators/cora").status_code == 200


def test_creator_page_after_account_deletion_returns_404(client, creator, make_offering):
    offering = make_offering(creator)
    assert client.delete("/v1/me", headers=creator.headers).status_code == 204
    assert_problem(client.get("/v1/creators/cora"), 404)
    assert_problem(client.get("/v1/creators/cora/offerings"), 404)
    assert_problem(client.get(f"/v1/offerings/{offering['id']}"), 404)


def count_page_queries(app, client, headers):
    with recorded_statements(app) as statements:
        rv = client.get("/v1/creators/cora", headers=headers)
    assert rv.status_code == 200, rv.get_json()
    return len(statements), len(rv.get_json()["offerings"])


@pytest.mark.parametrize("viewer", ["anonymous", "bob"])
def test_creator_page_query_count_is_constant(app, client, creator, bob, make_offering, viewer):
    headers = bob.headers if viewer == "bob" else {}
    counts = []
    for i in range(20):
        offering = make_offering(creator, title=f"t{i}", rank=i)
        add_price(client, creator, offering["id"], amount=9000, type="recurring", interval="year")
        if i in (0, 19):
            count, shown = count_page_queries(app, client, headers)
            assert shown == i + 1
            counts.append(count)
    print(f"\nGET /v1/creators/cora as {viewer}: {counts[0]} SQL statements, 1 offering; {counts[1]}, 20")
    assert counts[0] == counts[1] <= 6
