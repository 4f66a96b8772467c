"""Idempotency-Key on money-moving POSTs: one effect per key, even under concurrency.

A request claims its key before doing the work; a concurrent request with the
same key gets 409 and a later one the stored answer. Failed requests give the
key back; keys expire after 24 hours. Refunds run against the local fake of
Stripe, which records every refund it is asked for.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from service.billing import idempotency
from service.billing.models import IdempotentRequest, Refund
from service.common import clock
from service.extensions import db

from .concurrency import run_parallel
from .conftest import assert_problem
from .fake_stripe import buy

ROUNDS = 20


@pytest.fixture
def purchase_id(client, alice, product, stripe_mode):
    return buy(client, stripe_mode, alice, product["price"]["id"])


def refund(client, seller, purchase_id, key=None, **body):
    headers = {**seller.headers, **({"Idempotency-Key": key} if key else {})}
    return client.post(f"/v1/purchases/{purchase_id}/refund", json=body, headers=headers)


def refunds_at_stripe(fake):
    return len(fake.requests_to("/v1/refunds", "POST"))


def refund_rows(app, purchase_id):
    with app.app_context():
        return db.session.scalar(
            select(func.count()).select_from(Refund).where(Refund.purchase_id == uuid.UUID(purchase_id))
        )


def claims(app):
    with app.app_context():
        rows = db.session.execute(
            select(IdempotentRequest.key, IdempotentRequest.state).order_by(IdempotentRequest.key)
        )
        return [tuple(row) for row in rows]


def backdate(app, hours):
    """Age every stored key, as if it had been sent `hours` ago."""
    with app.app_context():
        db.session.execute(
            update(IdempotentRequest).values(created_at=clock.utcnow() - timedelta(hours=hours))
        )
        db.session.commit()


# Sequential: both databases ---------------------------------------------------------------


def test_replay_after_completion_returns_the_stored_answer_without_calling_stripe(
    app, client, seller, purchase_id, stripe_mode
):
    first = refund(client, seller, purchase_id, "r-1", amount=1000)
    again = refund(client, seller, purchase_id, "r-1", amount=1000)
    assert first.status_code == again.status_code == 200, first.get_json()
    assert again.get_json() == first.get_json()
    assert first.get_json()["amount_refunded"]["amount"] == 1000
    assert refunds_at_stripe(stripe_mode) == 1
    assert refund_rows(app, purchase_id) == 1
    assert claims(app) == [("r-1", "done")]


def test_a_key_whose_request_failed_may_be_retried(app, client, seller, purchase_id, stripe_mode):
    assert_problem(refund(client, seller, purchase_id, "r-1", amount=99999), 422, "invalid_refund_amount")
    assert claims(app) == []
    rv = refund(client, seller, purchase_id, "r-1", amount=1000)
    assert rv.status_code == 200, rv.get_json()
    assert refunds_at_stripe(stripe_mode) == 1


def test_a_key_whose_request_raised_is_given_back(app, client, seller, purchase_id, stripe_mode):
    stripe_mode.fail_next("/v1/refunds", status=500, times=3)
    assert_problem(refund(client, seller, purchase_id, "r-1"), 502, "payment_provider_error")
    assert claims(app) == [] and refund_rows(app, purchase_id) == 0
    rv = refund(client, seller, purchase_id, "r-1")
    assert rv.status_code == 200, rv.get_json()
    assert rv.get_json()["status"] == "refunded"
    assert refund_rows(app, purchase_id) == 1


def test_the_same_key_with_another_body_is_refused(app, client, seller, purchase_id, stripe_mode):
    assert refund(client, seller, purchase_id, "r-1", amount=1000).status_code == 200
    assert_problem(refund(client, seller, purchase_id, "r-1", amount=500), 422, "idempotency_key_reused")
    assert refunds_at_stripe(stripe_mode) == 1


def test_a_key_still_in_progress_answers_409(app, client, seller, purchase_id, stripe_mode):
    assert refund(client, seller, purchase_id, "r-1", amount=1000).status_code == 200
    # As if the first request were still running: claimed, no answer yet.
    with app.app_context():
        db.session.execute(update(IdempotentRequest).values(state="in_progress", status_code=None, body=None))
        db.session.commit()
    rv = refund(client, seller, purchase_id, "r-1", amount=1000)
    assert_problem(rv, 409, "idempotency_key_in_use")
    assert rv.headers["Retry-After"] == "1"
    assert refunds_at_stripe(stripe_mode) == 1
    assert claims(app) == [("r-1", "in_progress")]  # the running request keeps its claim


def test_an_expired_key_runs_anew(app, client, seller, purchase_id, stripe_mode):
    assert refund(client, seller, purchase_id, "r-1", amount=1000).status_code == 200
    backdate(app, hours=24)
    rv = refund(client, seller, purchase_id, "r-1", amount=1000)
    assert rv.status_code == 200, rv.get_json()
    assert rv.get_json()["amount_refunded"]["amount"] == 2000
    assert refunds_at_stripe(stripe_mode) == 2
    # The fresh answer replaces the old one and is replayed from now on.
    assert refund(client, seller, purchase_id, "r-1", amount=1000).get_json() == rv.get_json()
    assert claims(app) == [("r-1", "done")]


def test_an_expired_claim_that_never_finished_does_not_block_the_key(app, client, seller, purchase_id):
    assert refund(client, seller, purchase_id, "r-1", amount=1000).status_code == 200
    with app.app_context():
        db.session.execute(update(IdempotentRequest).values(state="in_progress", status_code=None, body=None))
        db.session.commit()
    backdate(app, hours=25)
    assert refund(client, seller, purchase_id, "r-1", amount=500).status_code == 200
    assert claims(app) == [("r-1", "done")]


def test_purge_removes_only_expired_keys(app, client, seller, purchase_id):
    for key in ("old-1", "old-2"):
        assert refund(client, seller, purchase_id, key, amount=100).status_code == 200
    backdate(app, hours=24)
    assert refund(client, seller, purchase_id, "fresh", amount=100).status_code == 200
    with app.app_context():
        assert idempotency.purge_expired(now=clock.utcnow() - timedelta(hours=1)) == 0
        assert idempotency.purge_expired() == 2
        db.session.commit()
    assert claims(app) == [("fresh", "done")]


def test_purge_command_prints_how_many_keys_went(app, client, seller, purchase_id):
    assert refund(client, seller, purchase_id, "old", amount=100).status_code == 200
    backdate(app, hours=30)
    assert refund(client, seller, purchase_id, "fresh", amount=100).status_code == 200
    result = app.test_cli_runner().invoke(args=["billing", "purge-idempotency-keys"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "purged 1 idempotency keys"
    assert claims(app) == [("fresh", "done")]


def test_decorated_routes_document_the_header_and_the_409(client):
    spec = client.get("/openapi.json").get_json()
    operation = spec["paths"]["/v1/purchases/{purchase_id}/refund"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in operation["parameters"]]
    assert "409" in operation["responses"]


# Concurrent: PostgreSQL, real threads against the app ------------------------------------


def parallel_refunds(app, seller, purchase_id, keys, **body):
    return run_parallel(app, [lambda c, k=key: refund(c, seller, purchase_id, k, **body) for key in keys])


@pytest.mark.slow
@pytest.mark.usefixtures("postgres_only")
def test_parallel_refunds_with_one_key_refund_once(app, client, signup, seller, product, stripe_mode):
    in_use = 0
    for round_ in range(ROUNDS):
        # A new buyer each time: one who still owns the product cannot buy it again.
        purchase_id = buy(client, stripe_mode, signup(), product["price"]["id"])
        before = refunds_at_stripe(stripe_mode)
        # A part of the price, so that only the key (not the amount left) can stop a second refund.
        answers = parallel_refunds(app, seller, purchase_id, [f"refund-{round_}"] * 3, amount=500)

        done = [rv for rv in answers if rv.status_code == 200]
        busy = [rv for rv in answers if rv.status_code != 200]
        assert done, [rv.get_json() for rv in answers]
        assert all(rv.get_json() == done[0].get_json() for rv in done), round_
        assert done[0].get_json()["amount_refunded"]["amount"] == 500
        for rv in busy:
            assert_problem(rv, 409, "idempotency_key_in_use")
            assert rv.headers["Retry-After"] == "1"
        assert refunds_at_stripe(stripe_mode) - before == 1, round_
        assert refund_rows(app, purchase_id) == 1, round_
        in_use += len(busy)
    assert in_use, "no request ever met a running one: the requests did not overlap"


@pytest.mark.slow
@pytest.mark.usefixtures("postgres_only")
def test_parallel_full_refunds_without_a_shared_key_refund_once(
    app, client, alice, seller, product, stripe_mode
):
    for round_ in range(ROUNDS):
        purchase_id = buy(client, stripe_mode, alice, product["price"]["id"])
        before = refunds_at_stripe(stripe_mode)
        answers = parallel_refunds(app, seller, purchase_id, [f"a-{round_}", f"b-{round_}", None])

        assert sorted(rv.status_code for rv in answers) == [200, 422, 422], [rv.get_json() for rv in answers]
        for rv in answers:
            if rv.status_code == 422:
                assert_problem(rv, 422, "invalid_refund_amount")
        assert refunds_at_stripe(stripe_mode) - before == 1, round_
        assert refund_rows(app, purchase_id) == 1, round_
