"""Property-based run of the whole API from its own OpenAPI document.

Every operation gets generated requests (valid and invalid) with a real bearer
token; none may produce a 5xx, and every response must match the documented
status codes, media types and schemas. New routes are covered automatically.
SCHEMATHESIS_MAX_EXAMPLES bounds the examples per operation (CI keeps it small).
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from . import factories

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "15"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="session")
def api_schema(app):
    return schemathesis.openapi.from_wsgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_document(case, app):
    # A fresh account for every example (one may delete it or log it out), made through the
    # services: the sign-up route itself is fuzzed like every other.
    with app.app_context():
        token = factories.signed_up(display_name="Fuzzer").access_token
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
