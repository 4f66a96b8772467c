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
