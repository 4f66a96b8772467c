"""Authorization harness, driven by the OpenAPI document so new routes are covered.

1. Every operation is either public (listed in PUBLIC) or declares bearer auth,
   and an anonymous call to it is a 401.
2. Every authenticated operation with a path parameter says what happens when
   someone else calls it on a resource they do not own: an entry in OWNED
   builds the resource as its owner and returns the request for the intruder,
   who must get 403 or 404. Routes on resources nobody owns (a public profile
   one follows, say) go in SHARED with the reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

PUBLIC = {
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("post", "/v1/auth/signup"),
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/refresh"),
}

# (method, path) -> builder(client, owner, intruder) -> (url, json body or None)
Builder = Callable[..., tuple[str, dict | None]]
OWNED: dict[tuple[str, str], Builder] = {}
SHARED: dict[tuple[str, str], str] = {}


def owned(method: str, path: str):
    def register(builder: Builder) -> Builder:
        OWNED[(method, path)] = builder
        return builder

    return register


@owned("delete", "/v1/me/api-keys/{key_id}")
def _api_key(client, owner, intruder):
    key = client.post("/v1/me/api-keys", json={"name": "k"}, headers=owner.headers).get_json()
    return f"/v1/me/api-keys/{key['id']}", None


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


@pytest.mark.parametrize("operation", sorted(OWNED), ids=lambda o: f"{o[0].upper()} {o[1]}")
def test_another_user_cannot_touch_what_is_not_theirs(client, signup, operation):
    owner, intruder = signup(display_name="Owner"), signup(display_name="Intruder")
    url, body = OWNED[operation](client, owner, intruder)
    rv = client.open(url, method=operation[0].upper(), json=body, headers=intruder.headers)
    assert rv.status_code in (403, 404), f"{operation} -> {rv.status_code}"
    assert rv.mimetype == "application/problem+json"
