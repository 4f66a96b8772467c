from __future__ import annotations

import threading

from .conftest import assert_problem, compiled_anew, request_statements


def follow(client, account, handle="cora"):
    return client.post(f"/v1/creators/{handle}/follow", headers=account.headers)


def unfollow(client, account, handle="cora"):
    return client.delete(f"/v1/creators/{handle}/follow", headers=account.headers)


def count(client, handle="cora"):
    return client.get(f"/v1/creators/{handle}").get_json()["follower_count"]


def test_follow_is_idempotent_and_counted_once(client, creator, alice):
    assert follow(client, alice).status_code == 204
    assert follow(client, alice).status_code == 204
    assert count(client) == 1
    assert unfollow(client, alice).status_code == 204
    assert unfollow(client, alice).status_code == 204
    assert count(client) == 0


def test_following_yourself_returns_422(client, creator):
    assert_problem(follow(client, creator), 422, "cannot_follow_self")
    assert count(client) == 0


def test_following_unknown_creator_returns_404(client, alice):
    assert_problem(follow(client, alice, "nobody_here"), 404)


def test_my_following_lists_creators_newest_first(client, alice, signup, make_creator):
    for handle in ("first_c", "second_c", "third_c"):
        make_creator(signup(), handle=handle)
        follow(client, alice, handle)
    body = client.get("/v1/me/following", headers=alice.headers).get_json()
    assert [c["handle"] for c in body["data"]] == ["third_c", "second_c", "first_c"]
    page = client.get("/v1/me/following?limit=2", headers=alice.headers).get_json()
    rest = client.get(
        f"/v1/me/following?limit=2&cursor={page['next_cursor']}", headers=alice.headers
    ).get_json()
    assert [c["handle"] for c in page["data"] + rest["data"]] == ["third_c", "second_c", "first_c"]


def test_creator_sees_followers_without_private_data(client, creator, alice, bob):
    follow(client, alice)
    follow(client, bob)
    rv = client.get("/v1/creators/cora/followers", headers=creator.headers)
    data = rv.get_json()["data"]
    assert [f["user"]["display_name"] for f in data] == ["Bob", "Alice"]
    assert all(f["is_member"] is False and f["followed_at"] for f in data)
    assert "@example.com" not in rv.get_data(as_text=True)


def test_followers_list_is_for_the_owner_only(client, creator, alice):
    follow(client, alice)
    assert_problem(client.get("/v1/creators/cora/followers", headers=alice.headers), 403, "not_owner")


def test_access_reports_following_and_empty_purchases(client, creator, alice):
    assert client.get("/v1/creators/cora/access", headers=alice.headers).get_json() == {
        "following": False,
        "membership": None,
        "purchases": [],
    }
    follow(client, alice)
    assert client.get("/v1/creators/cora/access", headers=alice.headers).get_json()["following"] is True


def test_deleted_follower_leaves_the_list(client, creator, alice):
    follow(client, alice)
    client.delete("/v1/me", headers=alice.headers)
    assert client.get("/v1/creators/cora/followers", headers=creator.headers).get_json()["data"] == []


def test_concurrent_follows_lose_no_update(app, creator, signup):
    fans = [signup() for _ in range(8)]
    errors = []

    def go(account):
        client = app.test_client()
        for _ in range(3):  # the same user racing with themself too
            rv = follow(client, account)
            if rv.status_code != 204:
                errors.append(rv.status_code)

    threads = [threading.Thread(target=go, args=(fan,)) for fan in fans]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    followers = (
        app.test_client().get("/v1/creators/cora/followers?limit=100", headers=creator.headers).get_json()
    )
    assert len(followers["data"]) == 8
    assert count(app.test_client()) == 8


def test_follow_and_unfollow_take_the_same_statements_for_1_or_30_followers(
    app, client, creator, signup, make_creator
):
    def statements(fan):
        with request_statements(app) as followed:
            assert follow(client, fan).status_code == 204
        with request_statements(app) as unfollowed:
            assert unfollow(client, fan).status_code == 204
        return len(followed), len(unfollowed)

    one = statements(signup())
    for _ in range(29):
        assert follow(client, signup()).status_code == 204
    fan = signup()
    for _ in range(5):
        assert follow(client, fan, make_creator(signup())["handle"]).status_code == 204
    thirty = statements(fan)
    print(
        f"\nfollow, unfollow: {one} SQL statements for 1 follower following 1 creator, "
        f"{thirty} for 30 followers, the last following 6"
    )
    assert one == thirty


def test_follow_and_unfollow_compile_no_statement_after_the_first(app, client, creator, signup):
    """Following is a hot path, with its analytics and event bookkeeping: each statement comes
    from SQLAlchemy's compiled cache rather than compiled again."""
    first = signup()
    assert follow(client, first).status_code == 204 and unfollow(client, first).status_code == 204
    fan = signup()
    with compiled_anew(app) as compiled:
        assert follow(client, fan).status_code == 204
        assert unfollow(client, fan).status_code == 204
    assert not compiled, compiled


def test_no_content_answers_carry_no_body_type(client, creator, alice):
    for rv in (follow(client, alice), unfollow(client, alice)):
        assert rv.status_code == 204
        assert "Content-Type" not in rv.headers
        assert rv.get_data() == b""
