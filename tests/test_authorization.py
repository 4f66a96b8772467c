"""Authorization harness, driven by the OpenAPI document so new routes are covered.

1. Every operation is either public (listed in PUBLIC) or declares bearer auth,
   and an anonymous call to a protected one is a 401.
2. Every authenticated operation with a path parameter says what happens when
   someone else calls it on a resource they do not own: an entry in OWNED
   builds the resource as its owner (a creator) and returns the request; each
   kind of intruder — a follower of the owner, another creator, and another
   creator's API key — must get 403 or 404. Operations on resources that are
   not anybody's private business go in SHARED with the reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from .billing_helpers import buy, onboard, start_checkout
from .conftest import create_creator, sign_up

PUBLIC = {
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("post", "/v1/auth/signup"),
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/refresh"),
    ("get", "/v1/creators"),
    # Signed by Stripe instead of a bearer token.
    ("post", "/v1/webhooks/stripe"),
    # The local gateway's stand-ins for Stripe's hosted pages.
    ("get", "/local-checkout/{session_id}"),
    ("post", "/local-checkout/{session_id}/pay"),
    ("post", "/local-checkout/{session_id}/cancel"),
    ("get", "/local-connect/{link_id}"),
    ("post", "/local-connect/{link_id}"),
    ("get", "/local-portal/{portal_id}"),
}

SHARED = {
    ("get", "/v1/creators/{handle}"): "a creator's public page",
    ("get", "/v1/creators/{handle}/offerings"): "public list; drafts hidden (tests/test_catalog.py)",
    ("get", "/v1/offerings/{offering_id}"): "published offerings are public; drafts covered in OWNED_READS",
    ("post", "/v1/creators/{handle}/follow"): "acts on the caller's own follow",
    ("delete", "/v1/creators/{handle}/follow"): "acts on the caller's own follow",
    ("get", "/v1/creators/{handle}/access"): "answers about the caller only",
    ("post", "/v1/users/{user_id}/block"): "acts on the caller's own block list",
    ("delete", "/v1/users/{user_id}/block"): "acts on the caller's own block list",
    ("get", "/v1/creators/{handle}/posts"): "public list; locked teasers for others",
    ("get", "/v1/creators/{handle}/referral-link"): "the caller's own code for that creator",
}

# (method, path) -> builder(client, owner, make_offering) -> (url, json body or None)
Builder = Callable[..., tuple[str, dict[str, Any] | None]]
OWNED: dict[tuple[str, str], Builder] = {}


def owned(method: str, path: str):
    def register(builder: Builder) -> Builder:
        OWNED[(method, path)] = builder
        return builder

    return register


@owned("delete", "/v1/me/api-keys/{key_id}")
def _api_key(client, owner, make_offering):
    key = client.post("/v1/me/api-keys", json={"name": "k"}, headers=owner.headers).get_json()
    return f"/v1/me/api-keys/{key['id']}", None


@owned("patch", "/v1/creators/{handle}")
def _profile(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}", {"bio": "taken over"}


@owned("get", "/v1/creators/{handle}/followers")
def _followers(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/followers", None


@owned("post", "/v1/creators/{handle}/offerings")
def _new_offering(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/offerings", {"kind": "product", "title": "Fake"}


@owned("patch", "/v1/offerings/{offering_id}")
def _edit_offering(client, owner, make_offering):
    return f"/v1/offerings/{make_offering(owner)['id']}", {"title": "Mine now"}


@owned("post", "/v1/offerings/{offering_id}/publish")
def _publish(client, owner, make_offering):
    return f"/v1/offerings/{make_offering(owner, published=False)['id']}/publish", None


@owned("post", "/v1/offerings/{offering_id}/archive")
def _archive(client, owner, make_offering):
    return f"/v1/offerings/{make_offering(owner)['id']}/archive", None


@owned("post", "/v1/offerings/{offering_id}/prices")
def _add_price(client, owner, make_offering):
    return f"/v1/offerings/{make_offering(owner)['id']}/prices", {
        "amount": 100,
        "type": "recurring",
        "interval": "month",
    }


@owned("post", "/v1/prices/{price_id}/archive")
def _archive_price(client, owner, make_offering):
    return f"/v1/prices/{make_offering(owner, published=False)['price']['id']}/archive", None


def _conversation_with_a_fan(client, owner):
    """A follower of the owner starts a conversation and writes; returns (conversation, message)."""
    headers = sign_up(client, display_name="F").headers
    client.post(f"/v1/creators/{owner['handle']}/follow", headers=headers)
    conversation = client.post(
        "/v1/conversations", json={"creator_handle": owner["handle"]}, headers=headers
    ).get_json()
    message = client.post(
        f"/v1/conversations/{conversation['id']}/messages", json={"body": "hello"}, headers=headers
    ).get_json()
    return conversation, message


@owned("get", "/v1/conversations/{conversation_id}/messages")
def _read_messages(client, owner, make_offering):
    conversation, _ = _conversation_with_a_fan(client, owner)
    return f"/v1/conversations/{conversation['id']}/messages", None


@owned("post", "/v1/conversations/{conversation_id}/messages")
def _post_message(client, owner, make_offering):
    conversation, _ = _conversation_with_a_fan(client, owner)
    return f"/v1/conversations/{conversation['id']}/messages", {"body": "not my conversation"}


@owned("post", "/v1/conversations/{conversation_id}/read")
def _mark_read(client, owner, make_offering):
    conversation, message = _conversation_with_a_fan(client, owner)
    return f"/v1/conversations/{conversation['id']}/read", {"message_id": message["id"]}


@owned("post", "/v1/creators/{handle}/posts")
def _new_post(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/posts", {"title": "Not mine", "body": "x", "visibility": "public"}


@owned("post", "/v1/creators/{handle}/broadcasts")
def _broadcast(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/broadcasts", {"body": "Not from me", "audience": "followers"}


@owned("get", "/v1/creators/{handle}/broadcasts/{broadcast_id}")
def _broadcast_progress(client, owner, make_offering):
    rv = client.post(
        f"/v1/creators/{owner['handle']}/broadcasts",
        json={"body": "Mine", "audience": "followers"},
        headers=owner.headers,
    )
    assert rv.status_code == 202, rv.get_json()
    return f"/v1/creators/{owner['handle']}/broadcasts/{rv.get_json()['id']}", None


# Billing, on the local gateway (the app's default in tests). The buyer's own things
# (a checkout session, a subscription) are built with the owner as the buyer, paying
# another creator, so that the owner and the owner's API key may use them.

ONBOARDING_URLS = {
    "return_url": "https://app.example.com/payouts",
    "refresh_url": "https://app.example.com/again",
}


def _seller(client, creator=None):
    """A creator (a new one unless given) who finished payout onboarding and can sell."""
    creator = creator or create_creator(client, sign_up(client, display_name="Seller"))
    onboard(client, creator)
    return creator


def _owners_subscription(client, owner, make_offering):
    """The owner subscribes to another creator's tier; (subscription id, seller, tier)."""
    seller = _seller(client)
    tier = make_offering(seller, amount=500)
    return buy(client, owner, tier["price"]["id"])["subscription_id"], seller, tier


@owned("get", "/v1/checkout/sessions/{session_id}")
def _checkout_session(client, owner, make_offering):
    tier = make_offering(_seller(client), amount=500)
    rv = start_checkout(client, owner, tier["price"]["id"])
    assert rv.status_code == 201, rv.get_json()
    return f"/v1/checkout/sessions/{rv.get_json()['id']}", None


@owned("get", "/v1/subscriptions/{subscription_id}")
def _subscription(client, owner, make_offering):
    subscription_id, _, _ = _owners_subscription(client, owner, make_offering)
    return f"/v1/subscriptions/{subscription_id}", None


@owned("post", "/v1/subscriptions/{subscription_id}/cancel")
def _cancel_subscription(client, owner, make_offering):
    subscription_id, _, _ = _owners_subscription(client, owner, make_offering)
    return f"/v1/subscriptions/{subscription_id}/cancel", {}


@owned("post", "/v1/subscriptions/{subscription_id}/resume")
def _resume_subscription(client, owner, make_offering):
    subscription_id, _, _ = _owners_subscription(client, owner, make_offering)
    rv = client.post(f"/v1/subscriptions/{subscription_id}/cancel", json={}, headers=owner.headers)
    assert rv.status_code == 200, rv.get_json()
    return f"/v1/subscriptions/{subscription_id}/resume", None


@owned("post", "/v1/subscriptions/{subscription_id}/change")
def _change_subscription(client, owner, make_offering):
    subscription_id, seller, tier = _owners_subscription(client, owner, make_offering)
    body = {"amount": 900, "type": "recurring", "interval": "month"}
    rv = client.post(f"/v1/offerings/{tier['id']}/prices", json=body, headers=seller.headers)
    assert rv.status_code == 201, rv.get_json()
    return f"/v1/subscriptions/{subscription_id}/change", {"price_id": rv.get_json()["id"]}


@owned("post", "/v1/purchases/{purchase_id}/refund")
def _refund_purchase(client, owner, make_offering):
    product = make_offering(_seller(client, owner), kind="product", amount=1500)
    purchase_id = buy(client, sign_up(client, display_name="Buyer"), product["price"]["id"])["purchase_id"]
    return f"/v1/purchases/{purchase_id}/refund", {}


@owned("get", "/v1/creators/{handle}/members")
def _members(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/members", None


@owned("get", "/v1/creators/{handle}/sales")
def _sales(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/sales", None


@owned("post", "/v1/creators/{handle}/upgrade-offers")
def _upgrade_offer(client, owner, make_offering):
    product, tier = make_offering(owner, kind="product"), make_offering(owner)
    body = {"from_offering_id": product["id"], "to_price_id": tier["price"]["id"], "credit": {"percent": 10}}
    return f"/v1/creators/{owner['handle']}/upgrade-offers", {**body, "valid_days": 7}


@owned("get", "/v1/creators/{handle}/referral-reward")
def _get_reward(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/referral-reward", None


@owned("put", "/v1/creators/{handle}/referral-reward")
def _set_reward(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/referral-reward", {"after_paid_referrals": 1}


@owned("get", "/v1/creators/{handle}/payouts")
def _payouts(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/payouts", None


@owned("post", "/v1/creators/{handle}/payouts/onboarding")
def _payout_onboarding(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/payouts/onboarding", ONBOARDING_URLS


@owned("get", "/v1/creators/{handle}/analytics/summary")
def _analytics_summary(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/analytics/summary", None


@owned("get", "/v1/creators/{handle}/analytics/timeseries")
def _analytics_timeseries(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/analytics/timeseries?metric=mrr", None


@owned("get", "/v1/creators/{handle}/members.csv")
def _members_csv(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/members.csv", None


# A documentation address (TEST-NET-1): refused at send time without any lookup or traffic.
HOOK = {"url": "https://192.0.2.1/hooks", "events": ["follower.created"]}


def _hook(client, owner) -> str:
    rv = client.post(f"/v1/creators/{owner['handle']}/webhook-endpoints", json=HOOK, headers=owner.headers)
    assert rv.status_code == 201, rv.get_json()
    return f"/v1/creators/{owner['handle']}/webhook-endpoints/{rv.get_json()['id']}"


@owned("post", "/v1/creators/{handle}/webhook-endpoints")
def _new_hook(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/webhook-endpoints", HOOK


@owned("get", "/v1/creators/{handle}/webhook-endpoints")
def _hooks(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/webhook-endpoints", None


@owned("get", "/v1/creators/{handle}/webhook-endpoints/{endpoint_id}")
def _get_hook(client, owner, make_offering):
    return _hook(client, owner), None


@owned("patch", "/v1/creators/{handle}/webhook-endpoints/{endpoint_id}")
def _edit_hook(client, owner, make_offering):
    return _hook(client, owner), {"events": ["member.created"]}


@owned("delete", "/v1/creators/{handle}/webhook-endpoints/{endpoint_id}")
def _delete_hook(client, owner, make_offering):
    return _hook(client, owner), None


@owned("post", "/v1/creators/{handle}/webhook-endpoints/{endpoint_id}/test")
def _ping_hook(client, owner, make_offering):
    return _hook(client, owner) + "/test", None


@owned("post", "/v1/creators/{handle}/webhook-endpoints/{endpoint_id}/rotate-secret")
def _rotate_hook(client, owner, make_offering):
    return _hook(client, owner) + "/rotate-secret", None


@owned("get", "/v1/creators/{handle}/webhook-endpoints/{endpoint_id}/deliveries")
def _hook_log(client, owner, make_offering):
    return _hook(client, owner) + "/deliveries", None


@owned("post", "/v1/creators/{handle}/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/retry")
def _retry_hook(client, owner, make_offering):
    url = _hook(client, owner)
    ping = client.post(url + "/test", headers=owner.headers)
    assert ping.status_code == 202, ping.get_json()
    return f"{url}/deliveries/{ping.get_json()['id']}/retry", None


@owned("get", "/v1/creators/{handle}/events")
def _events(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/events", None


# Reads that are public once published but private while a draft.
OWNED_READS: dict[str, Builder] = {
    "draft offering": lambda client, owner, make_offering: (
        f"/v1/offerings/{make_offering(owner, published=False)['id']}",
        None,
    ),
}


def _spec(client):
    return client.get("/openapi.json").get_json()


def _operations(spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield method, path, op


def _requires_auth(op) -> bool:
    return op.get("security") == [{"bearerAuth": []}]


def _fill(path: str) -> str:
    out = path
    while "{" in out:
        start, end = out.index("{"), out.index("}")
        name = out[start + 1 : end]
        value = str(uuid.uuid4()) if name.endswith("id") else "nobody_here"
        out = out[:start] + value + out[end + 1 :]
    return out


def test_every_operation_is_public_by_decision_or_protected(client):
    for method, path, op in _operations(_spec(client)):
        if (method, path) in PUBLIC:
            assert not _requires_auth(op), f"{method} {path} is listed public but requires auth"
        else:
            assert op.get("security"), f"{method.upper()} {path} has no auth: protect it or list it in PUBLIC"


def test_anonymous_calls_to_protected_operations_get_401(client):
    checked = 0
    for method, path, op in _operations(_spec(client)):
        if not _requires_auth(op):
            continue
        body = {} if method in {"post", "put", "patch"} else None
        rv = client.open(_fill(path), method=method.upper(), json=body)
        assert rv.status_code == 401, f"{method.upper()} {path} -> {rv.status_code}"
        assert rv.mimetype == "application/problem+json"
        checked += 1
    assert checked > 0


def test_every_protected_operation_on_a_resource_is_in_the_harness(client):
    for method, path, op in _operations(_spec(client)):
        if "{" in path and op.get("security") and (method, path) not in PUBLIC:
            assert (method, path) in OWNED or (method, path) in SHARED, (
                f"{method.upper()} {path}: add an OWNED builder (intruder gets 403/404) or a SHARED reason"
            )


@pytest.fixture(params=["follower", "other creator", "other creator's API key"])
def intruder(request, client, signup, make_creator):
    """Someone who is not the owner, in each of the ways that matter."""

    def _make(owner):
        account = signup(display_name="Intruder")
        if request.param == "follower":
            client.post(f"/v1/creators/{owner['handle']}/follow", headers=account.headers)
            return account.headers
        make_creator(account)
        if request.param == "other creator":
            return account.headers
        key = client.post("/v1/me/api-keys", json={"name": "k"}, headers=account.headers).get_json()["key"]
        return {"Authorization": f"Bearer {key}"}

    return _make


@pytest.fixture
def owner(signup, make_creator):
    return make_creator(signup(display_name="Owner"))


@pytest.mark.parametrize("operation", sorted(OWNED), ids=lambda o: f"{o[0].upper()} {o[1]}")
def test_intruders_cannot_touch_what_is_not_theirs(client, owner, intruder, make_offering, operation):
    url, body = OWNED[operation](client, owner, make_offering)
    rv = client.open(url, method=operation[0].upper(), json=body, headers=intruder(owner))
    assert rv.status_code in (403, 404), f"{operation} -> {rv.status_code}"
    assert rv.mimetype == "application/problem+json"


@pytest.mark.parametrize("name", sorted(OWNED_READS))
def test_intruders_cannot_read_private_things(client, owner, intruder, make_offering, name):
    url, _ = OWNED_READS[name](client, owner, make_offering)
    assert client.get(url, headers=intruder(owner)).status_code == 404
    assert client.get(url).status_code == 404


# Account management (/v1/me/…) needs a password login by design.
CREATOR_OPERATIONS = sorted(op for op in OWNED if not op[1].startswith("/v1/me/"))


@pytest.mark.parametrize("operation", CREATOR_OPERATIONS, ids=lambda o: f"{o[0].upper()} {o[1]}")
def test_owner_api_key_can_do_what_the_owner_can(client, owner, make_offering, operation):
    url, body = OWNED[operation](client, owner, make_offering)
    key = client.post("/v1/me/api-keys", json={"name": "k"}, headers=owner.headers).get_json()["key"]
    rv = client.open(url, method=operation[0].upper(), json=body, headers={"Authorization": f"Bearer {key}"})
    assert rv.status_code < 300, (operation, rv.get_json())
