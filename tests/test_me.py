from __future__ import annotations

from .conftest import TEST_PASSWORD, assert_problem


def test_get_me_returns_own_profile(client, alice):
    rv = client.get("/v1/me", headers=alice.headers)
    assert rv.status_code == 200
    body = rv.get_json()
    assert body == {
        "id": alice.id,
        "email": "alice@example.com",
        "email_verified": False,
        "pending_email": None,
        "display_name": "Alice",
        "creator": None,
        "created_at": body["created_at"],
    }
    assert body["created_at"].endswith("+00:00")
    assert rv.headers["Cache-Control"] == "no-store"


def test_get_me_without_token_returns_401_with_challenge(client):
    rv = client.get("/v1/me")
    assert_problem(rv, 401)
    assert rv.headers["WWW-Authenticate"].startswith("Bearer")


def test_patch_me_changes_display_name(client, alice):
    rv = client.patch("/v1/me", json={"display_name": "Alice L."}, headers=alice.headers)
    assert rv.status_code == 200
    assert rv.get_json()["display_name"] == "Alice L."


def test_patch_me_refuses_server_owned_fields(client, alice):
    rv = client.patch("/v1/me", json={"id": alice.id, "role": "admin"}, headers=alice.headers)
    body = assert_problem(rv, 422)
    assert set(body["errors"]) == {"id", "role"}
    assert client.get("/v1/me", headers=alice.headers).get_json()["email"] == "alice@example.com"


def test_password_change_needs_current_password(client, alice):
    rv = client.patch("/v1/me", json={"password": "a brand new secret"}, headers=alice.headers)
    assert "current_password" in assert_problem(rv, 422)["errors"]
    rv = client.patch(
        "/v1/me",
        json={"password": "a brand new secret", "current_password": "wrong one!"},
        headers=alice.headers,
    )
    assert_problem(rv, 403, "wrong_current_password")


def test_password_change_ends_other_sessions_but_keeps_this_one(client, alice):
    other = client.post(
        "/v1/auth/login", json={"email": "alice@example.com", "password": TEST_PASSWORD}
    ).get_json()
    rv = client.patch(
        "/v1/me",
        json={"password": "a brand new secret", "current_password": TEST_PASSWORD},
        headers=alice.headers,
    )
    assert rv.status_code == 200
    assert client.get("/v1/me", headers=alice.headers).status_code == 200
    assert (
        client.get("/v1/me", headers={"Authorization": f"Bearer {other['access_token']}"}).status_code == 401
    )
    assert client.post("/v1/auth/refresh", json={"refresh_token": other["refresh_token"]}).status_code == 401
    old = client.post("/v1/auth/login", json={"email": "alice@example.com", "password": TEST_PASSWORD})
    assert old.status_code == 401
    new = client.post("/v1/auth/login", json={"email": "alice@example.com", "password": "a brand new secret"})
    assert new.status_code == 200


def test_delete_me_anonymises_and_ends_every_token(client, alice, make_creator):
    make_creator(alice)
    key = client.post("/v1/me/api-keys", json={"name": "ci"}, headers=alice.headers).get_json()["key"]
    rv = client.delete("/v1/me", headers=alice.headers)
    assert rv.status_code == 204
    assert client.get("/v1/me", headers=alice.headers).status_code == 401
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    assert client.post("/v1/auth/refresh", json={"refresh_token": alice["refresh_token"]}).status_code == 401
    assert (
        client.post(
            "/v1/auth/login", json={"email": "alice@example.com", "password": TEST_PASSWORD}
        ).status_code
        == 401
    )
    # The address is free again.
    again = client.post(
        "/v1/auth/signup",
        json={"email": "alice@example.com", "password": TEST_PASSWORD, "display_name": "Alice 2"},
    )
    assert again.status_code == 201
    assert again.get_json()["user"]["id"] != alice.id


def test_export_lists_what_is_held_about_the_caller_only(client, alice, bob, make_creator):
    make_creator(alice)
    client.post("/v1/me/api-keys", json={"name": "laptop"}, headers=alice.headers)
    rv = client.get("/v1/me/export", headers=alice.headers)
    assert rv.status_code == 200
    data = rv.get_json()
    assert data["user"]["email"] == "alice@example.com"
    assert len(data["sessions"]) == 1
    assert [k["name"] for k in data["api_keys"]] == ["laptop"]
    assert "bob@example.com" not in rv.get_data(as_text=True)
    assert "hash" not in rv.get_data(as_text=True)
