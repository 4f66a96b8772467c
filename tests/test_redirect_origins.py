"""success_url, cancel_url, return_url and refresh_url may only lead back to our own sites."""

from __future__ import annotations

import pytest

from service.config import ConfigError, load_config

from .billing_helpers import CANCEL, SUCCESS, onboard
from .conftest import assert_problem

FOREIGN = [
    "https://evil.example/thanks",
    "https://app.example.evil.example/thanks",
    "https://app.example@evil.example/thanks",
    "http://app.example/thanks",  # another scheme is another origin
    "https://app.example:8443/thanks",
]


@pytest.fixture
def shop(client, creator, make_offering):
    onboard(client, creator)
    return make_offering(creator, amount=500)


@pytest.mark.parametrize("url", FOREIGN)
@pytest.mark.parametrize("field", ["success_url", "cancel_url"])
def test_checkout_refuses_a_foreign_redirect(client, bob, shop, field, url):
    body = {"price_id": shop["price"]["id"], "success_url": SUCCESS, "cancel_url": CANCEL, field: url}
    problem = assert_problem(client.post("/v1/checkout/sessions", json=body, headers=bob.headers), 422)
    assert list(problem["errors"]) == [field]
    assert "https://app.example" in problem["errors"][field][0]


@pytest.mark.parametrize("field", ["return_url", "refresh_url"])
def test_payout_onboarding_refuses_a_foreign_redirect(client, creator, field):
    body = {"return_url": "https://app.example/done", "refresh_url": "https://app.example/again"}
    rv = client.post(
        f"/v1/creators/{creator['handle']}/payouts/onboarding",
        json={**body, field: "https://evil.example/"},
        headers=creator.headers,
    )
    assert list(assert_problem(rv, 422)["errors"]) == [field]


def test_billing_portal_refuses_a_foreign_redirect(client, bob):
    rv = client.post("/v1/billing/portal", json={"return_url": "https://evil.example/"}, headers=bob.headers)
    assert list(assert_problem(rv, 422)["errors"]) == ["return_url"]


def test_an_allowed_origin_is_matched_without_case_or_default_port(client, bob, shop):
    body = {
        "price_id": shop["price"]["id"],
        "success_url": "https://APP.example:443/thanks",
        "cancel_url": "https://app.example.com/back",
    }
    assert client.post("/v1/checkout/sessions", json=body, headers=bob.headers).status_code == 201


def test_default_origins_are_the_public_base_url_and_cors_origins(monkeypatch, tmp_path):
    monkeypatch.delenv("ALLOWED_REDIRECT_ORIGINS", raising=False)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://api.example.com/")
    monkeypatch.setenv("CORS_ORIGINS", "https://app.example.com, http://localhost:3000")
    assert load_config(str(tmp_path))["ALLOWED_REDIRECT_ORIGINS"] == [
        "https://api.example.com",
        "https://app.example.com",
        "http://localhost:3000",
    ]


def test_set_origins_replace_the_default(monkeypatch, tmp_path):
    monkeypatch.setenv("ALLOWED_REDIRECT_ORIGINS", "https://shop.example:443,https://www.shop.example")
    assert load_config(str(tmp_path))["ALLOWED_REDIRECT_ORIGINS"] == [
        "https://shop.example",
        "https://www.shop.example",
    ]


@pytest.mark.parametrize("raw", ["shop.example", "ftp://shop.example", "https://"])
def test_an_origin_that_is_not_http_is_refused_at_start(monkeypatch, tmp_path, raw):
    monkeypatch.setenv("ALLOWED_REDIRECT_ORIGINS", raw)
    with pytest.raises(ConfigError, match="ALLOWED_REDIRECT_ORIGINS"):
        load_config(str(tmp_path))
