"""Authorization harness, driven by the OpenAPI document so new routes are covered.

1. Every operation is either public (listed in PUBLIC) or declares bearer auth,
   and an anonymous call to a protected one is a 401.
2. Every authenticated operation with a path parameter says what happens when
   someone else calls it on a resource they do not own: an entry in OWNED
   builds the resource as its owner (a creator) and returns the request; each
   kind of intruder — a follower of the owner, another creator, and another
   creator's API key — must get 403 or 404. Operations on resources that are
   not anybody's private business go in SHARED with the reason.
3. Every authenticated operation names in `x-api-key-scope` what an API key needs
   to call it; a key with only `read` can do no write, and the owner's key with
   exactly the named scope can do what the owner can.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from service.extensions import db
from service.growth.models import UpgradeOffer
from service.messaging.models import Broadcast

from .billing_helpers import buy, onboard, start_checkout
from .conftest import assert_problem, create_creator, sign_up

PUBLIC = {
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("post", "/v1/auth/signup"),
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/refresh"),
    # Opened from a mail client; the signed token is the authority.
    ("get", "/v1/auth/verify"),
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
    # The signed token in the link is the authority (RFC 8058 one-click, from a mail client).
    ("get", "/v1/notifications/unsubscribe"),
    ("post", "/v1/notifications/unsubscribe"),
    # The development mailbox (EMAIL_BACKEND=local, refused in production).
    ("get", "/local-mail"),
    ("get", "/local-mail/{mail_id}"),
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
# What an intruder gets (docs/authorization.md): 403 not_owner where the resource is public
# (a handle, a published offering), 404 where they may not know it exists.
PUBLIC_RESOURCE: set[tuple[str, str]] = set()


def owned(method: str, path: str, *, public: bool = False):
    def register(builder: Builder) -> Builder:
        OWNED[(method, path)] = builder
        if public:
            PUBLIC_RESOURCE.add((method, path))
        return builder

    return register


ALL_SCOPES = ["read", "catalog", "messaging", "billing"]


def api_key_headers(client, account, scopes: list[str] | None = None) -> dict[str, str]:
    """A Bearer header with a new API key of the account's (`read` only unless told)."""
    body: dict[str, Any] = {"name": "k"} if scopes is None else {"name": "k", "scopes": scopes}
    rv = client.post("/v1/me/api-keys", json=body, headers=account.headers)
    assert rv.status_code == 201, rv.get_json()
    return {"Authorization": f"Bearer {rv.get_json()['key']}"}


@owned("delete", "/v1/me/api-keys/{key_id}")
def _api_key(client, owner, make_offering):
    key = client.post("/v1/me/api-keys", json={"name": "k"}, headers=owner.headers).get_json()
    return f"/v1/me/api-keys/{key['id']}", None


@owned("patch", "/v1/creators/{handle}", public=True)
def _profile(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}", {"bio": "taken over"}


@owned("get", "/v1/creators/{handle}/followers", public=True)
def _followers(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/followers", None


@owned("post", "/v1/creators/{handle}/offerings", public=True)
def _new_offering(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/offerings", {"kind": "product", "title": "Fake"}


@owned("patch", "/v1/offerings/{offering_id}", public=True)
def _edit_offering(client, owner, make_offering):
    return f"/v1/offerings/{make_offering(owner)['id']}", {"title": "Mine now"}


@owned("post", "/v1/offerings/{offering_id}/publish")
def _publish(client, owner, make_offering):
    return f"/v1/offerings/{make_offering(owner, published=False)['id']}/publish", None


@owned("post", "/v1/offerings/{offering_id}/archive", public=True)
def _archive(client, owner, make_offering):
    return f"/v1/offerings/{make_offering(owner)['id']}/archive", None


@owned("post", "/v1/offerings/{offering_id}/prices", public=True)
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


@owned("post", "/v1/creators/{handle}/posts", public=True)
def _new_post(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/posts", {"title": "Not mine", "body": "x", "visibility": "public"}


@owned("post", "/v1/creators/{handle}/broadcasts", public=True)
def _broadcast(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/broadcasts", {"body": "Not from me", "audience": "followers"}


@owned("get", "/v1/creators/{handle}/broadcasts/{broadcast_id}", public=True)
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


@owned("get", "/v1/creators/{handle}/members", public=True)
def _members(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/members", None


@owned("get", "/v1/creators/{handle}/sales", public=True)
def _sales(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/sales", None


@owned("post", "/v1/creators/{handle}/upgrade-offers", public=True)
def _upgrade_offer(client, owner, make_offering):
    product, tier = make_offering(owner, kind="product"), make_offering(owner)
    body = {"from_offering_id": product["id"], "to_price_id": tier["price"]["id"], "credit": {"percent": 10}}
    return f"/v1/creators/{owner['handle']}/upgrade-offers", {**body, "valid_days": 7}


@owned("get", "/v1/creators/{handle}/referral-reward", public=True)
def _get_reward(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/referral-reward", None


@owned("put", "/v1/creators/{handle}/referral-reward", public=True)
def _set_reward(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/referral-reward", {"after_paid_referrals": 1}


@owned("get", "/v1/creators/{handle}/payouts", public=True)
def _payouts(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/payouts", None


@owned("post", "/v1/creators/{handle}/payouts/onboarding", public=True)
def _payout_onboarding(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/payouts/onboarding", ONBOARDING_URLS


@owned("get", "/v1/creators/{handle}/analytics/summary", public=True)
def _analytics_summary(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/analytics/summary", None


@owned("get", "/v1/creators/{handle}/analytics/timeseries", public=True)
def _analytics_timeseries(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/analytics/timeseries?metric=mrr", None


@owned("get", "/v1/creators/{handle}/members.csv", public=True)
def _members_csv(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/members.csv", None


# A documentation address (TEST-NET-1): refused at send time without any lookup or traffic.
HOOK = {"url": "https://192.0.2.1/hooks", "events": ["follower.created"]}


def _hook(client, owner) -> str:
    rv = client.post(f"/v1/creators/{owner['handle']}/webhook-endpoints", json=HOOK, headers=owner.headers)
    assert rv.status_code == 201, rv.get_json()
    return f"/v1/creators/{owner['handle']}/webhook-endpoints/{rv.get_json()['id']}"


@owned("post", "/v1/creators/{handle}/webhook-endpoints", public=True)
def _new_hook(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/webhook-endpoints", HOOK


@owned("get", "/v1/creators/{handle}/webhook-endpoints", public=True)
def _hooks(client, owner, make_offering):
    return f"/v1/creators/{owner['handle']}/webhook-endpoints", None


@owned("get", "/v1/creators/{handle}/webhook-endpoints/{endpoint_id}", public=True)
def _get_hook(client, owner, make_offering):
    return _hook(client, owner), None


@owned("patch", "/v1/creators/{handle}/webhook-endpoints/{endpoint_id}", public=True)
def _edit_hook(client, owner, make_offering):
    return _hook(client, owner), {"events": ["member.created"]}


@owned("delete", "/v1/creators/{handle}/webhook-endpoints/{endpoint_id}", public=True)
def _delete_hook(client, owner, make_offering):
    return _hook(client, owner), None


@owned("post", "/v1/creators/{handle}/webhook-endpoints/{endpoint_id}/test", public=True)
def _ping_hook(client, owner, make_offering):
    return _hook(client, owner) + "/test", None


@owned("post", "/v1/creators/{handle}/webhook-endpoints/{endpoint_id}/rotate-secret", public=True)
def _rotate_hook(client, owner, make_offering):
    return _hook(client, owner) + "/rotate-secret", None


@owned("get", "/v1/creators/{handle}/webhook-endpoints/{endpoint_id}/deliveries", public=True)
def _hook_log(client, owner, make_offering):
    return _hook(client, owner) + "/deliveries", None


@owned(
    "post",
    "/v1/creators/{handle}/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/retry",
    public=True,
)
def _retry_hook(client, owner, make_offering):
    url = _hook(client, owner)
    ping = client.post(url + "/test", headers=owner.headers)
    assert ping.status_code == 202, ping.get_json()
    return f"{url}/deliveries/{ping.get_json()['id']}/retry", None


@owned("get", "/v1/creators/{handle}/events", public=True)
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
    """Someone who is not the owner, in each of the ways that matter; `.kind` says which."""

    def _make(owner):
        account = signup(display_name="Intruder")
        if request.param == "follower":
            client.post(f"/v1/creators/{owner['handle']}/follow", headers=account.headers)
            return account.headers
        make_creator(account)
        if request.param == "other creator":
            return account.headers
        return api_key_headers(client, account, ALL_SCOPES)  # scopes are not what is tested here

    _make.kind = request.param  # type: ignore[attr-defined]
    return _make


@pytest.fixture
def owner(signup, make_creator):
    return make_creator(signup(display_name="Owner"))


@pytest.mark.parametrize("operation", sorted(OWNED), ids=lambda o: f"{o[0].upper()} {o[1]}")
def test_intruders_cannot_touch_what_is_not_theirs(client, owner, intruder, make_offering, operation):
    url, body = OWNED[operation](client, owner, make_offering)
    rv = client.open(url, method=operation[0].upper(), json=body, headers=intruder(owner))
    if intruder.kind == "other creator's API key":
        # What a key may do at all (password-only routes, its scopes) is decided before
        # the resource is looked up, so either refusal may come first.
        assert rv.status_code in (403, 404), f"{operation} -> {rv.status_code}"
        assert rv.mimetype == "application/problem+json"
    elif operation in PUBLIC_RESOURCE:
        assert_problem(rv, 403, "not_owner")
    else:
        assert_problem(rv, 404)


@pytest.mark.parametrize("name", sorted(OWNED_READS))
def test_intruders_cannot_read_private_things(client, owner, intruder, make_offering, name):
    url, _ = OWNED_READS[name](client, owner, make_offering)
    assert client.get(url, headers=intruder(owner)).status_code == 404
    assert client.get(url).status_code == 404


# Account management (/v1/me/…) needs a password login by design.
CREATOR_OPERATIONS = sorted(op for op in OWNED if not op[1].startswith("/v1/me/"))


def _scope(client, method: str, path: str) -> str:
    return _spec(client)["paths"][path][method]["x-api-key-scope"]


@pytest.mark.parametrize("operation", CREATOR_OPERATIONS, ids=lambda o: f"{o[0].upper()} {o[1]}")
def test_owner_api_key_with_the_scope_can_do_what_the_owner_can(client, owner, make_offering, operation):
    url, body = OWNED[operation](client, owner, make_offering)
    scope = _scope(client, *operation)
    headers = api_key_headers(client, owner, ALL_SCOPES if scope == "none" else [scope])
    rv = client.open(url, method=operation[0].upper(), json=body, headers=headers)
    if scope == "none":  # a login-only route: even the owner's key with every scope is refused
        assert_problem(rv, 403, "api_key_not_allowed")
    else:
        assert rv.status_code < 300, (operation, rv.get_json())


def test_every_authenticated_operation_names_its_scope_and_writes_need_more_than_read(client):
    spec = _spec(client)
    for method, path, op in _operations(spec):
        if not op.get("security") or (method, path) in PUBLIC:
            continue
        scope = op.get("x-api-key-scope")
        assert scope in {*ALL_SCOPES, "none"}, f"{method.upper()} {path} names no API key scope"
        if method != "get":
            assert scope != "read", f"{method.upper()} {path} writes with a read-only key"
    # The scopes are explained where clients read about authentication.
    description = spec["components"]["securitySchemes"]["bearerAuth"]["description"]
    assert all(f"`{scope}`" in description for scope in ALL_SCOPES)


def test_a_read_only_key_can_do_no_write(client, owner):
    headers = api_key_headers(client, owner)
    checked = 0
    for method, path, op in _operations(_spec(client)):
        if method == "get" or not _requires_auth(op):
            continue
        body = {} if method in {"post", "put", "patch"} else None
        rv = client.open(_fill(path), method=method.upper(), json=body, headers=headers)
        expected = "api_key_not_allowed" if op["x-api-key-scope"] == "none" else "insufficient_scope"
        assert_problem(rv, 403, expected)
        if expected == "insufficient_scope":
            assert rv.get_json()["required_scope"] == op["x-api-key-scope"]
            assert rv.get_json()["type"] == "/problems/insufficient_scope"
        checked += 1
    assert checked > 30


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("post", "/v1/purchases/{purchase_id}/refund", "billing"),
        ("post", "/v1/creators/{handle}/payouts/onboarding", "billing"),
        ("post", "/v1/checkout/sessions", "billing"),
        ("post", "/v1/subscriptions/{subscription_id}/change", "billing"),
        ("post", "/v1/creators/{handle}/offerings", "catalog"),
        ("post", "/v1/conversations/{conversation_id}/messages", "messaging"),
    ],
)
def test_money_and_writes_need_their_own_scope(client, owner, method, path, scope):
    assert _scope(client, method, path) == scope
    others = [s for s in ALL_SCOPES if s != scope]
    headers = api_key_headers(client, owner, others)
    rv = client.open(_fill(path), method=method.upper(), json={}, headers=headers)
    assert_problem(rv, 403, "insufficient_scope")


# The other party of a two-sided resource may see it but not act on the other side: 403
# with a type that says who may (docs/authorization.md), and nothing changes.


def _a_member_of(client, seller, make_offering):
    """A new subscriber to one of the seller's tiers; (subscriber, tier, subscription id)."""
    tier = make_offering(seller, amount=500)
    subscriber = sign_up(client, display_name="Subscriber")
    return subscriber, tier, buy(client, subscriber, tier["price"]["id"])["subscription_id"]


@pytest.mark.parametrize("action", ["cancel", "resume", "change"])
def test_a_creator_cannot_act_as_the_subscriber(client, make_offering, action):
    seller = _seller(client)
    subscriber, tier, sub_id = _a_member_of(client, seller, make_offering)
    body: dict[str, Any] | None = {"at_period_end": False}
    if action == "resume":
        client.post(f"/v1/subscriptions/{sub_id}/cancel", json={}, headers=subscriber.headers)
        body = None
    if action == "change":
        price = {"amount": 900, "type": "recurring", "interval": "month"}
        rv = client.post(f"/v1/offerings/{tier['id']}/prices", json=price, headers=seller.headers)
        body = {"price_id": rv.get_json()["id"]}
    before = client.get(f"/v1/subscriptions/{sub_id}", headers=seller.headers)
    assert before.status_code == 200  # the creator may read it: one of their members

    rv = client.post(f"/v1/subscriptions/{sub_id}/{action}", json=body, headers=seller.headers)
    assert_problem(rv, 403, "not_subscriber")
    assert client.get(f"/v1/subscriptions/{sub_id}", headers=seller.headers).get_json() == before.get_json()


def test_a_buyer_cannot_refund_their_own_purchase(client, make_offering):
    seller = _seller(client)
    product = make_offering(seller, kind="product", amount=1500)
    buyer = sign_up(client, display_name="Buyer")
    purchase_id = buy(client, buyer, product["price"]["id"])["purchase_id"]
    rv = client.post(f"/v1/purchases/{purchase_id}/refund", json={}, headers=buyer.headers)
    assert_problem(rv, 403, "not_owner")
    (mine,) = client.get("/v1/me/purchases", headers=buyer.headers).get_json()["data"]
    assert mine["id"] == purchase_id and mine["status"] == "paid"


@pytest.mark.parametrize("operation", sorted(PUBLIC_RESOURCE), ids=lambda o: f"{o[0].upper()} {o[1]}")
def test_a_member_cannot_act_on_the_creators_side(client, owner, make_offering, operation):
    member, _, _ = _a_member_of(client, _seller(client, owner), make_offering)
    url, body = OWNED[operation](client, owner, make_offering)
    rv = client.open(url, method=operation[0].upper(), json=body, headers=member.headers)
    assert_problem(rv, 403, "not_owner")


# Ids in request bodies: another creator's are refused with 422 naming the field, and
# nothing is done with them.


def test_another_creators_ids_in_a_body_are_refused_and_not_used(app, client, owner, make_offering):
    other = create_creator(client, sign_up(client, display_name="Other"), handle="other_shop")
    their_product, their_tier = make_offering(other, kind="product"), make_offering(other)
    my_product, my_tier = make_offering(owner, kind="product"), make_offering(owner)
    handle = owner["handle"]
    offer = {"credit": {"percent": 10}, "valid_days": 7}
    cases = [
        (
            "post",
            f"/v1/creators/{handle}/upgrade-offers",
            {**offer, "from_offering_id": their_product["id"], "to_price_id": my_tier["price"]["id"]},
            "invalid_upgrade_offer",
            "from_offering_id",
        ),
        (
            "post",
            f"/v1/creators/{handle}/upgrade-offers",
            {**offer, "from_offering_id": my_product["id"], "to_price_id": their_tier["price"]["id"]},
            "invalid_upgrade_offer",
            "to_price_id",
        ),
        (
            "post",
            f"/v1/creators/{handle}/posts",
            {"title": "T", "body": "x", "visibility": "tiers", "tier_ids": [their_tier["id"]]},
            "invalid_post_tiers",
            "tier_ids",
        ),
        (
            "post",
            f"/v1/creators/{handle}/broadcasts",
            {"body": "hello", "audience": "tiers", "tier_ids": [their_tier["id"]]},
            "invalid_broadcast_tiers",
            "tier_ids",
        ),
        (
            "patch",
            f"/v1/creators/{handle}",
            {"dm_policy": "tiers", "dm_tier_ids": [their_tier["id"]]},
            "invalid_dm_tiers",
            "dm_tier_ids",
        ),
    ]
    for method, url, body, code, field in cases:
        rv = client.open(url, method=method.upper(), json=body, headers=owner.headers)
        assert field in assert_problem(rv, 422, code)["errors"], (url, body)

    assert client.get(f"/v1/creators/{handle}/posts").get_json()["data"] == []
    assert client.get(f"/v1/creators/{handle}").get_json()["dm_policy"] == "followers"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(UpgradeOffer)) == 0
        assert db.session.scalar(select(func.count()).select_from(Broadcast)) == 0


def test_a_subscription_cannot_change_to_another_creators_price(client, owner, make_offering):
    sub_id, _, _ = _owners_subscription(client, owner, make_offering)
    foreign = make_offering(_seller(client), amount=2000)
    rv = client.post(
        f"/v1/subscriptions/{sub_id}/change", json={"price_id": foreign["price"]["id"]}, headers=owner.headers
    )
    assert "price_id" in assert_problem(rv, 422, "invalid_target_price")["errors"]
    sub = client.get(f"/v1/subscriptions/{sub_id}", headers=owner.headers).get_json()
    assert sub["pending_price_id"] is None and sub["scheduled_change"] is None


def test_an_upgrade_offer_of_another_price_is_refused_at_checkout(client, owner, make_offering):
    seller = _seller(client)
    product, tier = make_offering(seller, kind="product"), make_offering(seller)
    offer = client.post(
        f"/v1/creators/{seller['handle']}/upgrade-offers",
        json={
            "from_offering_id": product["id"],
            "to_price_id": tier["price"]["id"],
            "credit": {"percent": 50},
            "valid_days": 7,
        },
        headers=seller.headers,
    ).get_json()
    other_tier = make_offering(_seller(client))
    rv = start_checkout(client, owner, other_tier["price"]["id"], upgrade_offer_id=offer["id"])
    assert "upgrade_offer_id" in assert_problem(rv, 422, "upgrade_offer_not_for_price")["errors"]
    rv = start_checkout(client, owner, other_tier["price"]["id"], upgrade_offer_id=str(uuid.uuid4()))
    assert_problem(rv, 422, "upgrade_offer_not_for_price")
    assert client.get("/v1/me/subscriptions", headers=owner.headers).get_json()["data"] == []
