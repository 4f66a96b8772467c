from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from service.accounts.models import ApiKey
from service.common import clock
from service.extensions import db

from .conftest import TEST_PASSWORD, assert_problem, recorded_statements


@pytest.fixture(autouse=True)
def _alice_is_a_creator(alice, make_creator):
    make_creator(alice, handle="alice")


def create_key(client, account, name="script", **fields):
    rv = client.post("/v1/me/api-keys", json={"name": name, **fields}, headers=account.headers)
    assert rv.status_code == 201, rv.get_json()
    return rv.get_json()


def bearer(created):
    return {"Authorization": f"Bearer {created['key']}"}


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


def test_a_key_made_without_scopes_can_only_read(client, alice):
    created = create_key(client, alice)
    assert created["scopes"] == ["read"]
    assert client.get("/v1/creators/alice/followers", headers=bearer(created)).status_code == 200
    rv = client.patch("/v1/creators/alice", json={"bio": "from a script"}, headers=bearer(created))
    problem = assert_problem(rv, 403, "insufficient_scope")
    assert problem["required_scope"] == "catalog" and "catalog" in problem["detail"]


def test_a_key_gets_the_scopes_asked_for_plus_read(client, alice):
    created = create_key(client, alice, scopes=["billing", "catalog"])
    assert created["scopes"] == ["read", "catalog", "billing"]
    assert client.get("/v1/me/api-keys", headers=alice.headers).get_json()["data"][0]["scopes"] == [
        "read",
        "catalog",
        "billing",
    ]
    rv = client.patch("/v1/creators/alice", json={"bio": "from a script"}, headers=bearer(created))
    assert rv.status_code == 200


@pytest.mark.parametrize("scopes", [["admin"], ["read", "everything"], "billing", [1]])
def test_unknown_scopes_are_refused(client, alice, scopes):
    rv = client.post("/v1/me/api-keys", json={"name": "k", "scopes": scopes}, headers=alice.headers)
    assert "scopes" in assert_problem(rv, 422)["errors"]


def test_a_key_stops_working_when_it_expires(client, alice):
    now = clock.utcnow()
    clock.freeze(now)
    created = create_key(client, alice, expires_in_days=30)
    assert datetime.fromisoformat(created["expires_at"]) == now + timedelta(days=30)
    clock.freeze(now + timedelta(days=29, hours=23))
    assert client.get("/v1/me", headers=bearer(created)).status_code == 200
    clock.freeze(now + timedelta(days=30))
    assert_problem(client.get("/v1/me", headers=bearer(created)), 401, "invalid_token")


def test_a_key_may_expire_at_a_given_time(client, alice):
    at = (clock.utcnow() + timedelta(hours=2)).replace(microsecond=0)
    created = create_key(client, alice, expires_at=at.isoformat())
    assert datetime.fromisoformat(created["expires_at"]) == at
    clock.freeze(at + timedelta(seconds=1))
    assert_problem(client.get("/v1/me", headers=bearer(created)), 401)


@pytest.mark.parametrize(
    "fields",
    [
        {"expires_at": "2020-01-01T00:00:00Z"},
        {"expires_at": "2999-01-01T00:00:00"},  # no zone: ambiguous
        {"expires_in_days": 0},
        {"expires_in_days": 3651},
        {"expires_in_days": 1.5},
        {"expires_in_days": 7, "expires_at": "2999-01-01T00:00:00Z"},
    ],
)
def test_a_bad_expiry_is_refused(client, alice, fields):
    rv = client.post("/v1/me/api-keys", json={"name": "k", **fields}, headers=alice.headers)
    assert_problem(rv, 422)


def test_last_used_is_kept_to_the_minute_without_a_write_per_request(client, alice, app):
    now = clock.utcnow()
    clock.freeze(now)
    created = create_key(client, alice)
    assert created["last_used_at"] is None

    def last_used_at():
        with app.app_context():
            return db.session.get(ApiKey, uuid.UUID(created["id"])).last_used_at

    client.get("/v1/me", headers=bearer(created))
    assert last_used_at() == now
    clock.freeze(now + timedelta(seconds=59))
    with recorded_statements(app) as statements:
        assert client.get("/v1/me", headers=bearer(created)).status_code == 200
    assert statements and not [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
    assert last_used_at() == now
    later = now + timedelta(minutes=1, seconds=1)
    clock.freeze(later)
    client.get("/v1/me", headers=bearer(created))
    assert last_used_at() == later
    listed = client.get("/v1/me/api-keys", headers=alice.headers).get_json()["data"][0]
    assert datetime.fromisoformat(listed["last_used_at"]) == later


def test_a_password_change_revokes_every_key(client, alice):
    created = create_key(client, alice, scopes=["catalog"])
    rv = client.patch(
        "/v1/me",
        json={"password": "a brand new passphrase", "current_password": TEST_PASSWORD},
        headers=alice.headers,
    )
    assert rv.status_code == 200, rv.get_json()
    assert_problem(client.get("/v1/me", headers=bearer(created)), 401)
    assert client.get("/v1/me/api-keys", headers=alice.headers).get_json()["data"] == []


def test_a_display_name_change_keeps_the_keys(client, alice):
    created = create_key(client, alice)
    assert client.patch("/v1/me", json={"display_name": "Al"}, headers=alice.headers).status_code == 200
    assert client.get("/v1/me", headers=bearer(created)).status_code == 200


def test_an_api_key_cannot_log_out_sessions(client, alice):
    key = bearer(create_key(client, alice))
    rv = client.post("/v1/auth/logout", json={"refresh_token": alice["refresh_token"]}, headers=key)
    assert_problem(rv, 403, "api_key_not_allowed")
    assert client.get("/v1/me", headers=alice.headers).status_code == 200
