"""The OpenAPI document and the URL map describe the same API, both ways."""

from __future__ import annotations

import re

# Routes that serve the documentation itself.
DOC_ENDPOINTS = {
    "static",
    "api-docs.openapi_json",
    "api-docs.openapi_swagger_ui",
    "docs_assets",
    "docs_root",
}


def _spec_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _url_map_operations(app):
    ops = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint in DOC_ENDPOINTS:
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            ops.add((method.lower(), _spec_path(rule.rule)))
    return ops


def _spec_operations(spec):
    return {
        (m, p)
        for p, item in spec["paths"].items()
        for m in item
        if m in {"get", "post", "put", "patch", "delete"}
    }


def test_every_route_is_documented_and_every_documented_route_exists(app, client):
    spec = client.get("/openapi.json").get_json()
    assert _url_map_operations(app) == _spec_operations(spec)


def test_document_is_openapi_3_1_with_bearer_security(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_every_operation_documents_its_errors_as_problem_json(client):
    spec = client.get("/openapi.json").get_json()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            assert op.get("summary"), f"{method} {path} has no summary"
            assert "default" in op["responses"], f"{method} {path}"
            if op.get("requestBody"):
                assert "422" in op["responses"], f"{method} {path} does not document 422"
            if {"bearerAuth": []} in op.get("security", []):
                assert "401" in op["responses"], f"{method} {path} does not document 401"
    problem = spec["components"]["responses"]["UNAUTHORIZED"]["content"]
    assert list(problem) == ["application/problem+json"]


def test_response_schemas_forbid_undeclared_properties(client):
    spec = client.get("/openapi.json").get_json()
    for name, schema in spec["components"]["schemas"].items():
        if name in {"Problem", "Export"}:
            continue
        assert schema.get("additionalProperties") is False, name


# The shape rules of every response, checked on the document so they hold for routes yet
# to come: money is the shared Money schema, never a bare number; a reference by id is
# named `*_id` (`*_ids` for a list), and a property named after a resource embeds it.
MONEY_WORDS = re.compile(
    r"amount|revenue|price|fee|credit|refund|mrr|cost|balance|payout|discount|earning|tax"
)
RESOURCE_NAMES = {
    "creator", "offering", "price", "purchase", "subscription", "user", "subscriber", "buyer",
    "referrer", "sender", "member", "tier", "payment", "refund", "dispute", "session", "conversation",
}  # fmt: skip
MONEY_REF = "#/components/schemas/Money"


def _response_schema_names(spec):
    """Names of the component schemas any response reaches, directly or nested."""
    found, todo = set(), []
    for item in spec["paths"].values():
        for method, op in item.items():
            if method == "parameters":
                continue
            for response in op["responses"].values():
                if isinstance(response, dict):
                    for media in response.get("content", {}).values():
                        todo.append(media.get("schema", {}))
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] not in found:
                name = ref.rsplit("/", 1)[1]
                found.add(name)
                todo.append(spec["components"]["schemas"][name])
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return found


def _alternatives(prop):
    """A property's schema and, for anyOf/oneOf, each of its alternatives but null."""
    options = prop.get("anyOf") or prop.get("oneOf") or [prop]
    return [o for o in options if o.get("type") != "null"]


def _types(schema):
    kind = schema.get("type")
    return set(kind) - {"null"} if isinstance(kind, list) else {kind} - {None}


def shape_violations(spec):
    problems = []
    for name in sorted(_response_schema_names(spec)):
        if name == "Money":
            continue
        for prop_name, prop in spec["components"]["schemas"][name].get("properties", {}).items():
            where = f"{name}.{prop_name}"
            options = _alternatives(prop)
            if not all(o.get("$ref") or _types(o) for o in options):
                problems.append(f"{where}: no type (a Function field?): its shape is unchecked")
            is_reference = prop_name == "id" or prop_name.endswith(("_id", "_ids"))
            for option in options:
                items = option.get("items", {}) if "array" in _types(option) else option
                if (
                    not is_reference
                    and MONEY_WORDS.search(prop_name)
                    and _types(items) & {"integer", "number"}
                ):
                    problems.append(f"{where}: money as a bare number, not {MONEY_REF}")
                if not is_reference and items.get("format") == "uuid":
                    problems.append(f"{where}: an id not named *_id")
                embedded = items.get("$ref", MONEY_REF) != MONEY_REF or "object" in _types(items)
                if prop_name in RESOURCE_NAMES and not embedded:
                    problems.append(f"{where}: names a resource but does not embed it (use {prop_name}_id)")
    return problems


def test_every_response_gives_money_as_money_and_references_as_ids(client):
    spec = client.get("/openapi.json").get_json()
    assert "Subscription" in _response_schema_names(spec)
    assert shape_violations(spec) == []


def test_the_shape_check_catches_bare_money_and_unnamed_references():
    thing = {
        "additionalProperties": False,
        "properties": {
            "price": {"type": "integer"},
            "amount": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
            "fees": {"type": "array", "items": {"type": "integer"}},
            "offering": {"type": "string", "format": "uuid"},
            "creator": {"type": "string"},
            "owner": {"type": "string", "format": "uuid"},
            "total": {},
            "price_id": {"type": "string", "format": "uuid"},
            "revenue": {"$ref": MONEY_REF},
        },
    }
    spec = {
        "paths": {"/things": {"get": {"responses": {"200": {"content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Thing"}}}}}}}},
        "components": {"schemas": {"Thing": thing, "Money": {}}},
    }  # fmt: skip
    assert shape_violations(spec) == [
        "Thing.price: money as a bare number, not #/components/schemas/Money",
        "Thing.price: names a resource but does not embed it (use price_id)",
        "Thing.amount: money as a bare number, not #/components/schemas/Money",
        "Thing.fees: money as a bare number, not #/components/schemas/Money",
        "Thing.offering: an id not named *_id",
        "Thing.offering: names a resource but does not embed it (use offering_id)",
        "Thing.creator: names a resource but does not embed it (use creator_id)",
        "Thing.owner: an id not named *_id",
        "Thing.total: no type (a Function field?): its shape is unchecked",
    ]
