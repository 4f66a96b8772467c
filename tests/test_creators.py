from __future__ import annotations

import uuid

import pytest

from .conftest import assert_problem


def create(client, account, **body):
    payload = {"handle": "cora", "display_name": "Cora", "currency": "eur", **body}
    return client.post("/v1/creators", json=payload, headers=account.headers)


def test_create_creator_returns_profile_and_shows_on_me(client, alice):
    rv = create(
        client, alice, handle="Alice_Makes", bio="I make things", purpose="Because", tags=["Pottery", "clay"]
    )
    assert rv.status_code == 201
    body = rv.get_json()
    assert body["handle"] == "alice_makes"
    assert body["tags"] == ["pottery", "clay"]
    assert body["currency"] == "eur" and body["dm_policy"] == "followers"
    assert body["follower_count"] == 0 and body["payouts_enabled"] is False
    me = client.get("/v1/me", headers=alice.headers).get_json()
    assert me["creator"] == {"handle": "alice_makes", "display_name": "Cora"}


def test_handle_is_nfkc_normalised(client, alice):
    rv = create(client, alice, handle="\uff23\uff4f\uff52\uff41\uff3f\uff11")  # full-width "Cora_1"
    assert rv.get_json()["handle"] == "cora_1"


@pytest.mark.parametrize(
    "handle",
    [
        "cre\u200bator",  # zero-width space
        "\u0430dmin_x",  # Cyrillic a
        "cora\u202e",  # right-to-left override
        "ab",
        "a" * 31,
        "has space",
        "dash-ed",
        "admin",
        "API",
        "me",
        "v1",
    ],
)
def test_bad_or_reserved_handles_return_422(client, alice, handle):
    body = assert_problem(create(client, alice, handle=handle), 422, "invalid_handle")
    assert "handle" in body["errors"]
    assert client.get("/v1/me", headers=alice.headers).get_json()["creator"] is None


def test_handle_clash_in_any_case_returns_409(client, alice, bob):
    assert create(client, alice, handle="cora").status_code == 201
    assert_problem(create(client, bob, handle="CORA"), 409, "handle_taken")


def test_second_profile_for_one_user_returns_409(client, alice):
    assert create(client, alice, handle="first").status_code == 201
    assert_problem(create(client, alice, handle="second"), 409, "already_creator")


@pytest.mark.parametrize("currency", ["xyz", "EURO", "", "usdt"])
def test_unknown_currency_returns_422(client, alice, currency):
    assert "currency" in assert_problem(create(client, alice, currency=currency), 422)["errors"]


def test_currency_is_lower_cased(client, alice):
    assert create(client, alice, currency="USD").get_json()["currency"] == "usd"


@pytest.mark.parametrize(
    "field, value",
    [
        ("tags", [f"t{i}" for i in range(11)]),
        ("tags", ["x" * 31]),
        ("tags", [""]),
        ("bio", "x" * 1001),
        ("display_name", "x" * 10_000),
        ("dm_policy", "friends"),
        ("bio", "nul\x00byte"),
    ],
)
def test_bad_profile_fields_return_422_and_write_nothing(client, alice, field, value):
    assert field in assert_problem(create(client, alice, **{field: value}), 422)["errors"]
    assert client.get("/v1/creators/cora").status_code == 404


def test_tags_are_deduplicated_after_normalising(client, alice):
    assert create(client, alice, tags=["Clay", "clay", " CLAY "]).get_json()["tags"] == ["clay"]


def test_markup_in_bio_comes_back_as_the_same_text(client, alice):
    bio = "<img src=x onerror=alert(1)> & <b>bold</b>"
    create(client, alice, bio=bio)
    assert client.get("/v1/creators/cora").get_json()["bio"] == bio


def test_owner_updates_profile(client, creator):
    rv = client.patch(
        "/v1/creators/cora", json={"bio": "New bio", "tags": ["ceramics"]}, headers=creator.headers
    )
    assert rv.status_code == 200
    page = client.get("/v1/creators/cora").get_json()
    assert page["bio"] == "New bio" and page["tags"] == ["ceramics"]


@pytest.mark.parametrize("field", ["handle", "currency", "follower_count", "payouts_enabled"])
def test_fixed_or_server_fields_cannot_be_patched(client, creator, field):
    value = {"handle": "other", "currency": "usd", "follower_count": 999, "payouts_enabled": True}[field]
    assert (
        field
        in assert_problem(
            client.patch("/v1/creators/cora", json={field: value}, headers=creator.headers), 422
        )["errors"]
    )
    page = client.get("/v1/creators/cora").get_json()
    assert page["handle"] == "cora" and page["currency"] == "eur" and page["follower_count"] == 0


def test_someone_else_cannot_patch_the_profile(client, creator, bob):
    assert_problem(
        client.patch("/v1/creators/cora", json={"bio": "hacked"}, headers=bob.headers), 403, "not_owner"
    )
    assert client.get("/v1/creators/cora").get_json()["bio"] == ""


def test_tiers_dm_policy_needs_own_membership_tiers(client, creator, make_offering, signup, make_creator):
    assert_problem(
        client.patch("/v1/creators/cora", json={"dm_policy": "tiers"}, headers=creator.headers), 422
    )
    other = make_creator(signup(display_name="Other"))
    foreign_tier = make_offering(other)["id"]
    rv = client.patch(
        "/v1/creators/cora",
        json={"dm_policy": "tiers", "dm_tier_ids": [foreign_tier]},
        headers=creator.headers,
    )
    assert_problem(rv, 422, "invalid_dm_tiers")
    product = make_offering(creator, kind="product")["id"]
    rv = client.patch(
        "/v1/creators/cora", json={"dm_policy": "tiers", "dm_tier_ids": [product]}, headers=creator.headers
    )
    assert_problem(rv, 422, "invalid_dm_tiers")
    tier = make_offering(creator)["id"]
    rv = client.patch(
        "/v1/creators/cora", json={"dm_policy": "tiers", "dm_tier_ids": [tier]}, headers=creator.headers
    )
    assert rv.status_code == 200
    assert rv.get_json()["dm_tier_ids"] == [tier]


def test_dm_tier_ids_go_with_the_tiers_policy_only(client, creator, make_offering):
    """Given with another policy they would be ignored: refused instead."""
    tier = make_offering(creator)["id"]
    for policy in ("everyone", "followers", "members", "nobody"):
        rv = client.patch(
            "/v1/creators/cora", json={"dm_policy": policy, "dm_tier_ids": [tier]}, headers=creator.headers
        )
        assert "dm_tier_ids" in assert_problem(rv, 422, "invalid_dm_tiers")["errors"]
    rv = client.patch(
        "/v1/creators/cora", json={"dm_policy": "tiers", "dm_tier_ids": [tier]}, headers=creator.headers
    )
    assert rv.status_code == 200
    rv = client.patch("/v1/creators/cora", json={"dm_tier_ids": [tier]}, headers=creator.headers)
    assert rv.status_code == 200  # still the tiers policy
    # Leaving the tiers policy lets its tiers go, and they cannot come back without it.
    rv = client.patch("/v1/creators/cora", json={"dm_policy": "members"}, headers=creator.headers)
    assert rv.status_code == 200 and rv.get_json()["dm_tier_ids"] == []
    rv = client.patch("/v1/creators/cora", json={"dm_tier_ids": [tier]}, headers=creator.headers)
    assert_problem(rv, 422, "invalid_dm_tiers")


def test_creating_a_profile_with_dm_tier_ids_but_another_policy_is_refused(client, signup):
    rv = create(client, signup(), dm_policy="members", dm_tier_ids=[str(uuid.uuid4())])
    assert_problem(rv, 422, "invalid_dm_tiers")


def test_deleted_account_takes_its_creator_page_down(client, creator):
    assert client.delete("/v1/me", headers=creator.headers).status_code == 204
    assert_problem(client.get("/v1/creators/cora"), 404)
    assert client.get("/v1/creators?q=cora").get_json()["data"] == []


def test_page_of_unknown_or_odd_handle_is_404(client):
    for handle in ("nobody_here", "c%C3%B6ra", "%E2%80%AEx", "x" * 300):
        assert_problem(client.get(f"/v1/creators/{handle}"), 404)
