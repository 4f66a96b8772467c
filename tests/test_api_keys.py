from __future__ import annotations

import pytest

from .conftest import assert_problem


@pytest.fixture(autouse=True)
def _alice_is_a_creator(alice, make_creator):
    make_creator(alice, handle="alice")


def create_key(client, account, name="script"):
    rv = client.post("/v1/me/api-keys", json={"name": name}, headers=account.headers)
    assert rv.status_code == 201, rv.get_json()
    return rv.get_json()


def test_api_key_is_shown_once_and_works_as_bearer(client, alice):
    created = create_key(client, alice)
    assert created["key"].startswith("csk_") and created["key"].startswith(created["prefix"])
    listed = client.get("/v1/me/api-keys", headers=alice.headers).get_json()
    assert listed["next_cursor"] is None
    assert [k["id"] for k in listed["data"]] == [created["id"]]
    assert "key" not in listed["data"][0]
    rv = client.get("/v1/me", headers={"Authorization": f"Bearer {created['key']}"})
    assert rv.status_code == 200 and rv.get_json()["id"] == alice.id


def test_revoked_api_key_stops_working_at_once(client, alice):
    created = create_key(client, alice)
    assert client.delete(f"/v1/me/api-keys/{created['id']}", headers=alice.headers).status_code == 204
    assert_problem(client.get("/v1/me", headers={"Authorization": f"Bearer {created['key']}"}), 401)
    assert client.get("/v1/me/api-keys", headers=alice.headers).get_json()["data"] == []
    assert_problem(client.delete(f"/v1/me/api-keys/{created['id']}", headers=alice.headers), 404)


def test_api_key_cannot_manage_the_account(client, alice):
    key = {"Authorization": f"Bearer {create_key(client, alice)['key']}"}
    assert_problem(
        client.post("/v1/me/api-keys", json={"name": "more"}, headers=key), 403, "api_key_not_allowed"
    )
    assert_problem(client.patch("/v1/me", json={"display_name": "x"}, headers=key), 403)
    assert_problem(client.delete("/v1/me", headers=key), 403)
    assert client.get("/v1/me", headers=alice.headers).status_code == 200


def test_another_users_key_cannot_be_revoked(client, alice, bob):
    created = create_key(client, alice)
    assert_problem(client.delete(f"/v1/me/api-keys/{created['id']}", headers=bob.headers), 404)
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {created['key']}"}).status_code == 200


def test_api_key_list_pages_with_a_cursor(client, alice):
    ids = [create_key(client, alice, f"k{i}")["id"] for i in range(5)]
    first = client.get("/v1/me/api-keys?limit=2", headers=alice.headers).get_json()
    second = client.get(
        f"/v1/me/api-keys?limit=2&cursor={first['next_cursor']}", headers=alice.headers
    ).get_json()
    third = client.get(
        f"/v1/me/api-keys?limit=2&cursor={second['next_cursor']}", headers=alice.headers
    ).get_json()
    seen = [k["id"] for k in first["data"] + second["data"] + third["data"]]
    assert sorted(seen) == sorted(ids) and len(set(seen)) == 5
    assert third["next_cursor"] is None


def test_tampered_cursor_returns_422(client, alice):
    create_key(client, alice)
    rv = client.get("/v1/me/api-keys?cursor=AAAAAAAAAAAAAAAAAAAAAAAAAAAA", headers=alice.headers)
    assert_problem(rv, 422, "invalid_cursor")


def test_limit_out_of_range_returns_422(client, alice):
    for limit in ("0", "-1", "101", "1000000000", "abc"):
        assert_problem(client.get(f"/v1/me/api-keys?limit={limit}", headers=alice.headers), 422)


def test_api_keys_are_for_creators_only(client, bob):
    rv = client.post("/v1/me/api-keys", json={"name": "k"}, headers=bob.headers)
    assert_problem(rv, 403, "not_a_creator")
