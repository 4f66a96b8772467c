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

PUBLIC = {
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("post", "/v1/auth/signup"),
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/refresh"),
    ("get", "/v1/creators"),
}

SHARED = {
    ("get", "/v1/creators/{handle}"): "a creator's public page",
    ("get", "/v1/creators/{handle}/offerings"): "public list; drafts hidden (tests/test_catalog.py)",
    ("get", "/v1/offerings/{offering_id}"): "published offerings are public; drafts covered in OWNED_READS",
    ("post", "/v1/creators/{handle}/follow"): "acts on the caller's own follow",
    ("delete", "/v1/creators/{handle}/follow"): "acts on the caller's own follow",
    ("get", "/v1/creators/{handle}/access"): "answers about the caller only",
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
