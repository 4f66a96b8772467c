"""The anonymous creator page: from the shared cache, with an ETag, fresh after a change;
and the SQL a creator page or members list costs does not grow with the members."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from service.common.cache import RedisCache

from .billing_helpers import buy, onboard
from .conftest import recorded_statements
from .test_jobs import redis_server, redis_url  # noqa: F401 (fixtures)


def count_statements(app, call: Callable[[], Any]) -> tuple[int, Any]:
    with recorded_statements(app) as statements:
        result = call()
    return len(statements), result


@pytest.fixture(params=["memory", "redis"])
def cache_backend(request, app, monkeypatch) -> str:
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        monkeypatch.setitem(app.extensions, "cache", RedisCache(url))
    return str(request.param)


def test_the_anonymous_page_has_an_etag_and_answers_304(client, creator, cache_backend):
    rv = client.get("/v1/creators/cora")
    assert rv.status_code == 200 and rv.get_json()["handle"] == "cora"
    assert rv.headers["Cache-Control"] == "public, max-age=30"
    assert rv.headers["Vary"] == "Authorization"
    again = client.get("/v1/creators/CORA", headers={"If-None-Match": rv.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b""
    assert client.get("/v1/creators/cora", headers={"If-None-Match": '"other"'}).status_code == 200


def test_a_cached_page_runs_no_sql(app, client, creator, cache_backend):
    first = client.get("/v1/creators/cora")
    count, again = count_statements(app, lambda: client.get("/v1/creators/cora"))
    assert count == 0
    assert again.get_data() == first.get_data() and again.headers["ETag"] == first.headers["ETag"]


def test_changes_to_the_creator_offerings_and_prices_show_at_once(
    client, creator, make_offering, cache_backend
):
    def page() -> Any:
        return client.get("/v1/creators/cora")

    before = page()
    tier = make_offering(creator, title="Zines", amount=500)
    added = page()
    assert [o["title"] for o in added.get_json()["offerings"]] == ["Zines"]
    assert added.headers["ETag"] != before.headers["ETag"]
    price = {"amount": 4500, "type": "recurring", "interval": "year"}
    added_price = client.post(f"/v1/offerings/{tier['id']}/prices", json=price, headers=creator.headers)
    assert added_price.status_code == 201
    shown = [p["id"] for p in page().get_json()["offerings"][0]["prices"]]
    assert added_price.get_json()["id"] in shown and len(shown) == 2
    bio = client.patch("/v1/creators/cora", json={"bio": "New bio"}, headers=creator.headers)
    assert bio.status_code == 200
    assert page().get_json()["bio"] == "New bio"
    assert client.delete("/v1/me", headers=creator.headers).status_code == 204
    assert page().status_code == 404


def test_the_logged_in_page_is_not_public(client, creator, bob):
    rv = client.get("/v1/creators/cora", headers=bob.headers)
    assert rv.status_code == 200 and "ETag" not in rv.headers
    assert "public" not in rv.headers.get("Cache-Control", "")


@pytest.mark.parametrize(
    "path, viewer",
    [("/v1/creators/cora", "bob"), ("/v1/creators/cora/members?limit=2", "creator")],
)
def test_sql_statements_per_request_do_not_grow_with_members(
    app, client, creator, bob, signup, make_offering, path, viewer
):
    onboard(client, creator)
    tier = make_offering(creator, amount=500)
    headers = {"bob": bob, "creator": creator}[viewer].headers
    counts = []
    for new_members in (1, 4):  # 1 member, then 5
        for _ in range(new_members):
            buy(client, signup(), tier["price"]["id"])
        count, rv = count_statements(app, lambda: client.get(path, headers=headers))
        assert rv.status_code == 200, rv.get_json()
        counts.append(count)
    assert counts[0] == counts[1], counts


def test_new_follower_and_member_counts_show_at_once(client, creator, alice, make_offering, cache_backend):
    onboard(client, creator)
    tier = make_offering(creator, amount=500)
    assert client.get("/v1/creators/cora").get_json()["follower_count"] == 0
    assert client.post("/v1/creators/cora/follow", headers=alice.headers).status_code == 204
    assert client.get("/v1/creators/cora").get_json()["follower_count"] == 1
    buy(client, alice, tier["price"]["id"])
    assert client.get("/v1/creators/cora").get_json()["member_count"] == 1


def test_a_logged_in_viewer_with_nothing_personal_gets_the_shared_page_for_one_query(
    app, client, creator, bob, make_offering, cache_backend
):
    make_offering(creator, kind="service", amount=900)
    anonymous = client.get("/v1/creators/cora")
    count, rv = count_statements(app, lambda: client.get("/v1/creators/cora", headers=bob.headers))
    assert count == 1  # the token, its session, the user and their creator profile
    assert rv.get_data() == anonymous.get_data()


def test_owners_and_buyers_of_a_product_still_see_what_is_theirs(client, creator, bob, alice, make_offering):
    onboard(client, creator)
    product = make_offering(creator, kind="product", amount=900, delivery="https://x.test/pack.zip")
    buy(client, bob, product["price"]["id"])

    def delivery(account):
        page = client.get("/v1/creators/cora", headers=account.headers).get_json()
        return [o["delivery"] for o in page["offerings"]]

    assert delivery(bob) == ["https://x.test/pack.zip"]
    assert delivery(creator) == ["https://x.test/pack.zip"]
    assert delivery(alice) == [None]
    assert [o["delivery"] for o in client.get("/v1/creators/cora").get_json()["offerings"]] == [None]
