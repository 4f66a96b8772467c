"""Notifications in the app and by e-mail, through a real SMTP server where it matters."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from service.common import clock
from service.extensions import db
from service.notifications import mail, posts
from service.notifications.kinds import KINDS
from service.notifications.models import Email, LocalMail, Notification, Suppression
from service.notifications.service import notify

from .conftest import assert_problem, log_in
from .fake_memberships import fake_memberships
from .mailboxes import html_of, link_in, local_mail, run_due_jobs, smtp_server, text_of

# Past the digest period the tests choose, within an access token's 15 minutes.
DIGEST = timedelta(minutes=6)


def freeze_with_hours_left_today(hours: int) -> datetime:
    """Freeze the clock now, or earlier today if fewer than `hours` are left before the UTC
    midnight: never later, so that the tokens the fixtures hold stay valid."""
    now = clock.utcnow()
    at = min(now, now.replace(hour=23 - hours, minute=0, second=0, microsecond=0))
    clock.freeze(at)
    return at


@pytest.fixture(autouse=True)
def _short_digests(app, monkeypatch):
    monkeypatch.setitem(app.config, "DM_EMAIL_DIGEST_MINUTES", 5)


@pytest.fixture
def memberships(app):
    with fake_memberships(app) as fake:
        yield fake


@pytest.fixture
def smtp(app):
    with smtp_server(app) as recorder:
        yield recorder


def verify(client, app, account):
    """Open the link of the verification e-mail the account was sent."""
    [message] = [m for m in local_mail(app, to=account["email"]) if "Confirm" in m["Subject"]]
    rv = client.get(link_in(message, "/v1/auth/verify"))
    assert rv.status_code == 200, rv.get_data(as_text=True)
    return account


@pytest.fixture
def cora(client, app, creator):
    return verify(client, app, creator)


def talk(client, sender, *bodies, handle="cora"):
    """Follow the creator (who takes messages from followers) and write to them."""
    client.post(f"/v1/creators/{handle}/follow", headers=sender.headers)
    rv = client.post("/v1/conversations", json={"creator_handle": handle}, headers=sender.headers)
    assert rv.status_code in (200, 201), rv.get_json()
    conversation = rv.get_json()["id"]
    for body in bodies:
        rv = client.post(
            f"/v1/conversations/{conversation}/messages", json={"body": body}, headers=sender.headers
        )
        assert rv.status_code == 201, rv.get_json()
    return conversation


def notifications_of(client, account, **query):
    rv = client.get("/v1/me/notifications", query_string=query, headers=account.headers)
    assert rv.status_code == 200, rv.get_json()
    return rv.get_json()


def emails(app, **where):
    with app.app_context():
        stmt = select(Email)
        for name, value in where.items():
            stmt = stmt.where(getattr(Email, name) == value)
        return db.session.scalars(stmt).all()


# E-mail through SMTP ------------------------------------------------------------------


def test_a_digest_arrives_by_smtp_with_both_parts_and_one_click_unsubscribe(client, app, cora, alice):
    verify(client, app, alice)
    with smtp_server(app) as smtp:
        talk(client, alice, "Hi Cora", *[f"message {n}" for n in range(8)], "<b>last</b> & final")
        assert smtp.messages == []  # a digest waits for its period
        run_due_jobs(app, later=DIGEST)

        [message] = smtp.to("cora@example.com")
    assert message["From"] == "Creator Platform <no-reply@localhost>"
    assert message["To"] == "cora@example.com"
    assert message["Subject"] == "New message from Alice"
    assert message["Message-ID"].startswith("<") and message["Message-ID"].endswith("@localhost>")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = message["List-Unsubscribe"]
    assert unsubscribe.startswith("<http://") and unsubscribe.endswith(">")
    assert "10 messages" in text_of(message) and "<b>last</b> & final" in text_of(message)
    html = html_of(message)
    assert "&lt;b&gt;last&lt;/b&gt; &amp; final" in html and "<b>last</b>" not in html

    # RFC 8058: the mail client POSTs the link with this body, without any login.
    url = unsubscribe[1:-1].removeprefix("http://127.0.0.1:8000")
    rv = client.post(url, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert rv.status_code == 200, rv.get_data(as_text=True)
    assert rv.get_json() == {"kinds": ["direct_message"]}
    settings = client.get("/v1/me/notification-settings", headers=cora.headers).get_json()["kinds"]
    assert {s["kind"]: s["email"] for s in settings}["direct_message"] is False

    with smtp_server(app) as smtp:
        talk(client, alice, "Are you there?")
        run_due_jobs(app, later=DIGEST)
        assert smtp.messages == []
    assert notifications_of(client, cora)["unread_count"] == 2  # still told in the app


def test_a_permanent_refusal_suppresses_the_address_and_a_temporary_one_is_retried(
    client, app, alice, signup, make_creator
):
    # Its hours stay within one UTC day: past midnight, Lu's follower digest would be due too.
    freeze_with_hours_left_today(3)
    bo = make_creator(
        verify(client, app, signup(email="bounce-bo@example.com", display_name="Bo")), handle="bobo"
    )
    lu = make_creator(
        verify(client, app, signup(email="later-lu@example.com", display_name="Lu")), handle="lulu"
    )
    with smtp_server(app) as smtp:
        talk(client, alice, "Hello Bo", handle="bobo")
        talk(client, alice, "Hello Lu", handle="lulu")
        run_due_jobs(app, later=DIGEST)
        assert smtp.messages == []
        [bounced] = emails(app, user_id=uuid.UUID(bo.id), kind="direct_message")
        assert bounced.status == "failed" and bounced.reason.startswith("550")
        [waiting] = emails(app, user_id=uuid.UUID(lu.id), kind="direct_message")
        assert waiting.status == "pending" and waiting.attempts == 1 and waiting.reason.startswith("451")

        smtp.refuse_later = False
        run_due_jobs(app, later=timedelta(minutes=5))  # past the first retry's backoff
        assert len(smtp.to("later-lu@example.com")) == 1
        talk(client, alice, "Still there, Bo?", handle="bobo")
        run_due_jobs(app, later=DIGEST)
        run_due_jobs(app, later=timedelta(hours=2))
        assert len(smtp.to("later-lu@example.com")) == 1 and smtp.to("bounce-bo@example.com") == []
    with app.app_context():
        [suppressed] = db.session.scalars(select(Suppression)).all()
    assert (suppressed.address, suppressed.reason) == ("bounce-bo@example.com", "bounced")
    outcomes = sorted(
        (e.status, e.reason[:3]) for e in emails(app, user_id=uuid.UUID(bo.id), kind="direct_message")
    )
    assert outcomes == [("failed", "550"), ("skipped", "sup")]
    [sent] = emails(app, user_id=uuid.UUID(lu.id), kind="direct_message")
    assert (sent.status, sent.attempts) == ("sent", 2)


def test_a_batch_sent_again_sends_nothing_twice(client, app, cora, alice):
    with smtp_server(app) as smtp:
        talk(client, alice, "Once")
        run_due_jobs(app, later=DIGEST)
        [email] = emails(app, kind="direct_message")
        with app.app_context():
            mail.send_emails([str(email.id)])  # a retried or duplicated job
            mail.send_emails([str(email.id)])
        assert len(smtp.to("cora@example.com")) == 1


# Digests of direct messages ------------------------------------------------------------


def test_ten_messages_in_a_minute_make_one_email_and_one_notification(client, app, cora, alice):
    start = clock.utcnow()
    conversation = talk(client, alice)
    for n in range(10):
        clock.freeze(start + timedelta(seconds=6 * n))
        client.post(
            f"/v1/conversations/{conversation}/messages", json={"body": f"message {n}"}, headers=alice.headers
        )
    [told] = notifications_of(client, cora)["data"]
    assert told["kind"] == "direct_message" and told["data"]["sender_name"] == "Alice"
    assert told["data"]["excerpt"] == "message 0"
    run_due_jobs(app, later=DIGEST)
    [message] = [m for m in local_mail(app, to="cora@example.com") if "Confirm" not in m["Subject"]]
    assert "10 messages" in text_of(message) and "message 9" in text_of(message)


def test_read_before_the_digest_is_due_means_no_email(client, app, cora, alice):
    conversation = talk(client, alice, "Quick question", "Are you there?")
    page = client.get(f"/v1/conversations/{conversation}/messages", headers=cora.headers).get_json()["data"]
    newest = max(page, key=lambda m: m["created_at"])
    rv = client.post(
        f"/v1/conversations/{conversation}/read", json={"message_id": newest["id"]}, headers=cora.headers
    )
    assert rv.status_code in (200, 204), rv.get_json()
    run_due_jobs(app, later=DIGEST)
    assert [m for m in local_mail(app, to="cora@example.com") if "Confirm" not in m["Subject"]] == []
    talk(client, alice, "One more thing")  # a new period; its digest comes
    run_due_jobs(app, later=DIGEST)
    assert len([m for m in local_mail(app, to="cora@example.com") if "Confirm" not in m["Subject"]]) == 1


def test_an_unverified_address_gets_only_its_verification(client, app, alice, signup, make_creator):
    dan = make_creator(signup(email="dan@example.com", display_name="Dan"), handle="dandan")
    talk(client, alice, "Hi Dan", handle="dandan")
    run_due_jobs(app, later=DIGEST)
    [only] = local_mail(app, to="dan@example.com")
    assert only["Subject"] == "Confirm your e-mail address"
    assert "/v1/auth/verify?token=" in text_of(only) and "/v1/auth/verify?token=" in html_of(only)
    assert [(e.status, e.reason) for e in emails(app, kind="direct_message")] == [("skipped", "unverified")]
    assert notifications_of(client, dan)["unread_count"] == 1  # the app still tells


# Posts ----------------------------------------------------------------------------------


def post(client, creator, **body):
    rv = client.post(
        f"/v1/creators/{creator['handle']}/posts", json={"body": "Body text", **body}, headers=creator.headers
    )
    assert rv.status_code == 201, rv.get_json()
    return rv.get_json()


def follow(client, account, handle="cora"):
    assert client.post(f"/v1/creators/{handle}/follow", headers=account.headers).status_code == 204


def kinds_of(client, account):
    return [n["kind"] for n in notifications_of(client, account)["data"]]


def test_a_members_post_reaches_members_only_and_nobody_blocked(
    client, app, cora, memberships, make_offering, signup
):
    tier = make_offering(cora)
    member, follower, blocked = (verify(client, app, signup(display_name=n)) for n in ("Mia", "Fay", "Ben"))
    for account in (member, follower, blocked):
        follow(client, account)
    for account in (member, blocked):
        memberships.grant(account.id, cora["creator"]["id"], tier["id"])
    assert client.post(f"/v1/users/{blocked.id}/block", headers=cora.headers).status_code == 204

    members_post = post(client, cora, title="For members <3", visibility="members")
    assert kinds_of(client, member) == ["new_post"]
    assert (
        kinds_of(client, follower) == [] and kinds_of(client, blocked) == [] and kinds_of(client, cora) == []
    )
    [told] = notifications_of(client, member)["data"]
    assert told["data"]["post_id"] == members_post["id"] and told["data"]["title"] == "For members <3"
    [message] = [m for m in local_mail(app, to=member["email"]) if "Confirm" not in m["Subject"]]
    assert message["Subject"] == "Cora: For members <3"
    assert message["From"] == "Cora via Creator Platform <no-reply@localhost>"
    assert "For members &lt;3" in html_of(message)

    post(client, cora, title="Hello world", visibility="public")
    assert kinds_of(client, follower) == ["new_post"] and kinds_of(client, blocked) == []


def test_access_is_asked_again_when_the_email_leaves(client, app, cora, memberships, make_offering, signup):
    tier = make_offering(cora)
    member = verify(client, app, signup(display_name="Mia"))
    memberships.grant(member.id, cora["creator"]["id"], tier["id"])
    post(client, cora, title="Secret", visibility="members")
    [email] = emails(app, kind="new_post")
    assert (email.status, email.reason) == ("sent", None)
    memberships.tiers.clear()
    with app.app_context():
        notify(uuid.UUID(member.id), "new_post", "another-post", {**email.data})
        db.session.commit()
    outcomes = sorted((e.status, e.reason) for e in emails(app, kind="new_post"))
    assert outcomes == [("sent", None), ("skipped", "no_access")]


def test_a_big_post_fans_out_in_chunks_once_per_reader(client, app, cora, signup, monkeypatch):
    monkeypatch.setattr(posts, "CHUNK_SIZE", 2)
    readers = [signup(display_name=f"Reader {n}") for n in range(5)]
    for account in readers:
        follow(client, account)
    published = post(client, cora, title="To everyone", visibility="followers")
    with app.app_context():
        counts = dict(
            db.session.execute(
                select(Notification.user_id, func.count())
                .where(Notification.kind == "new_post")
                .group_by(Notification.user_id)
            ).all()
        )
        assert sorted(str(u) for u in counts) == sorted(a.id for a in readers) and set(counts.values()) == {1}
        posts.notify_readers(published["id"], [a.id for a in readers])  # a chunk run again
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Notification)) == 5
        # Unverified readers: each e-mail recorded once and skipped, none sent.
        assert db.session.scalar(select(func.count()).select_from(Email).where(Email.kind == "new_post")) == 5


# In the app -------------------------------------------------------------------------------


def test_notifications_page_newest_first_and_mark_read_up_to_one(client, app, alice, bob):
    start = clock.utcnow()
    with app.app_context():
        for n in range(5):
            clock.freeze(start + timedelta(seconds=n))
            notify(uuid.UUID(alice.id), "new_post", f"post-{n}", {"title": f"Post {n}"}, email=False)
        db.session.commit()
    first = notifications_of(client, alice, limit=2)
    assert [n["data"]["title"] for n in first["data"]] == ["Post 4", "Post 3"]
    assert first["unread_count"] == 5 and first["next_cursor"]
    second = notifications_of(client, alice, limit=2, cursor=first["next_cursor"])
    assert [n["data"]["title"] for n in second["data"]] == ["Post 2", "Post 1"]

    up_to = second["data"][0]["id"]  # Post 2 and everything older
    rv = client.post("/v1/me/notifications/read", json={"up_to_id": up_to}, headers=alice.headers)
    assert rv.status_code == 204
    listed = notifications_of(client, alice)
    assert listed["unread_count"] == 2
    assert [n["read"] for n in listed["data"]] == [False, False, True, True, True]

    rv = client.post("/v1/me/notifications/read", json={"up_to_id": up_to}, headers=bob.headers)
    assert_problem(rv, 422, "unknown_notification")
    rv = client.post("/v1/me/notifications/read", json={"up_to_id": str(uuid.uuid4())}, headers=alice.headers)
    assert_problem(rv, 422, "unknown_notification")


def test_settings_default_change_and_receipts_stay_on(client, alice):
    settings = client.get("/v1/me/notification-settings", headers=alice.headers).get_json()["kinds"]
    by_kind = {s["kind"]: s for s in settings}
    assert set(by_kind) == set(KINDS)
    assert by_kind["broadcast"]["email"] is False and by_kind["direct_message"]["email"] is True
    assert by_kind["receipt"]["email_required"] is True

    rv = client.patch(
        "/v1/me/notification-settings",
        json={
            "kinds": [
                {"kind": "new_post", "email": False, "in_app": False},
                {"kind": "broadcast", "email": True},
            ]
        },
        headers=alice.headers,
    )
    assert rv.status_code == 200, rv.get_json()
    changed = {s["kind"]: s for s in rv.get_json()["kinds"]}
    assert (changed["new_post"]["email"], changed["new_post"]["in_app"]) == (False, False)
    assert changed["broadcast"]["email"] is True

    rv = client.patch(
        "/v1/me/notification-settings",
        json={"kinds": [{"kind": "receipt", "email": False}]},
        headers=alice.headers,
    )
    assert_problem(rv, 422, "required_notification")
    rv = client.patch(
        "/v1/me/notification-settings", json={"kinds": [{"kind": "nope"}]}, headers=alice.headers
    )
    assert_problem(rv, 422)


def test_kinds_turned_off_in_the_app_are_not_listed(client, app, alice):
    with app.app_context():
        notify(uuid.UUID(alice.id), "new_post", "p", {"title": "T"}, email=False)
        notify(uuid.UUID(alice.id), "direct_message", "m", {"sender_name": "S"}, email=False)
        db.session.commit()
    client.patch(
        "/v1/me/notification-settings",
        json={"kinds": [{"kind": "new_post", "in_app": False}]},
        headers=alice.headers,
    )
    listed = notifications_of(client, alice)
    assert [n["kind"] for n in listed["data"]] == ["direct_message"] and listed["unread_count"] == 1


def test_unsubscribe_links_are_signed_and_a_browser_gets_a_button(client, app, cora, alice):
    assert_problem(client.post("/v1/notifications/unsubscribe?token=forged"), 400, "invalid_token")
    assert_problem(client.get("/v1/notifications/unsubscribe?token=forged"), 400, "invalid_token")
    talk(client, alice, "hello")
    run_due_jobs(app, later=DIGEST)
    [message] = [m for m in local_mail(app, to="cora@example.com") if "Confirm" not in m["Subject"]]
    url = message["List-Unsubscribe"][1:-1].removeprefix("http://127.0.0.1:8000")
    page = client.get(url)
    assert (
        page.status_code == 200
        and page.mimetype == "text/html"
        and 'method="post"' in page.get_data(as_text=True)
    )
    settings = client.get("/v1/me/notification-settings", headers=cora.headers).get_json()["kinds"]
    assert {s["kind"]: s["email"] for s in settings}["direct_message"] is True  # opening changes nothing


def test_the_unsubscribe_link_of_a_required_email_stops_everything_optional(client, app, alice):
    [verification] = local_mail(app, to="alice@example.com")
    url = verification["List-Unsubscribe"][1:-1].removeprefix("http://127.0.0.1:8000")
    stopped = client.post(url).get_json()["kinds"]
    assert set(stopped) == {k for k, kind in KINDS.items() if not kind.transactional}


# The local mailbox and templates ----------------------------------------------------------


def test_the_local_mailbox_lists_and_shows_what_was_sent(client, app, alice):
    page = client.get("/local-mail")
    assert page.status_code == 200 and "Confirm your e-mail address" in page.get_data(as_text=True)
    with app.app_context():
        [kept] = db.session.scalars(select(LocalMail)).all()
    shown = client.get(f"/local-mail/{kept.id}").get_data(as_text=True)
    assert "alice@example.com" in shown and "List-Unsubscribe" in shown and "sandbox" in shown
    assert client.get(f"/local-mail/{uuid.uuid4()}").status_code == 404


def test_every_kind_has_both_templates():
    from service.notifications.mail import _templates

    for kind in [*KINDS, "verify_email"]:
        for part in ("txt", "html"):
            assert _templates.get_template(f"email/{kind}.{part}")


def test_new_followers_come_in_a_daily_digest(client, app, cora, signup):
    day = freeze_with_hours_left_today(1)
    for n in range(3):
        follow(client, signup(display_name=f"Fan {n}"))
    assert kinds_of(client, cora) == []
    midnight = day.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    run_due_jobs(app, at=midnight + timedelta(minutes=5))
    log_in(client, cora)
    [told] = notifications_of(client, cora)["data"]
    assert told["kind"] == "new_follower" and told["data"]["count"] == 3
    assert len(told["data"]["names"]) == 3
    [message] = [m for m in local_mail(app, to="cora@example.com") if "Confirm" not in m["Subject"]]
    assert message["Subject"] == f"3 new followers on {day.date().isoformat()}"


def test_a_broadcast_is_told_in_the_app_and_e_mailed_only_to_who_chose_it(client, app, cora, alice, bob):
    for fan in (alice, bob):
        verify(client, app, fan)
        follow(client, fan)
    rv = client.patch(
        "/v1/me/notification-settings",
        json={"kinds": [{"kind": "broadcast", "email": True}]},
        headers=bob.headers,
    )
    assert rv.status_code == 200
    rv = client.post(
        "/v1/creators/cora/broadcasts",
        json={"body": "New <video> is out", "audience": "followers"},
        headers=cora.headers,
    )
    assert rv.status_code == 202, rv.get_json()
    rv = client.post(
        "/v1/creators/cora/broadcasts",
        json={"body": "And another", "audience": "followers"},
        headers=cora.headers,
    )
    assert kinds_of(client, alice) == ["broadcast", "broadcast"] and kinds_of(client, bob) == [
        "broadcast",
        "broadcast",
    ]
    run_due_jobs(app, later=DIGEST)
    assert [m for m in local_mail(app, to="alice@example.com") if "Confirm" not in m["Subject"]] == []
    [message] = [m for m in local_mail(app, to="bob@example.com") if "Confirm" not in m["Subject"]]
    assert message["Subject"] == "Cora sent a message"
    assert "And another" in text_of(message)


def test_old_e_mails_are_forgotten_but_pending_ones_kept(client, app, cora, alice):
    with app.app_context():
        db.session.add(
            Email(key="waiting", user_id=uuid.UUID(alice.id), kind="new_post", data={}, status="pending")
        )
        db.session.commit()
        clock.freeze(clock.utcnow() + timedelta(days=31))
        assert mail.purge_old() == 2  # the two verification e-mails, sent a month ago
        assert [e.key for e in db.session.scalars(select(Email))] == ["waiting"]
        assert db.session.scalar(select(func.count()).select_from(LocalMail)) == 0
