"""The payment boundary: the simulator stays outside billing, and only the Stripe gateway knows Stripe."""

from __future__ import annotations

import ast
from pathlib import Path

from sqlalchemy import func, select

from service.billing.models import WebhookEvent
from service.extensions import db

from .conftest import assert_problem
from .fake_stripe import make_event, signed_event

SERVICE = Path(__file__).resolve().parent.parent / "service"
STRIPE_GATEWAY = {"billing/stripe_gateway.py", "billing/stripe_events.py"}


def _imports(path: Path) -> set[str]:
    """The modules a file imports, relative imports resolved within `service`."""
    package = ["service", *path.relative_to(SERVICE).parent.parts]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _modules() -> dict[str, set[str]]:
    return {str(p.relative_to(SERVICE)): _imports(p) for p in sorted(SERVICE.rglob("*.py"))}


def test_only_the_stripe_gateway_imports_stripe():
    importers = {
        name
        for name, imported in _modules().items()
        if any(m == "stripe" or m.startswith("stripe.") for m in imported)
    }
    assert importers == STRIPE_GATEWAY


def test_billing_never_imports_the_simulator():
    reaching = {
        name
        for name, imported in _modules().items()
        if name.startswith("billing/") and any(m.startswith("service.localpay") for m in imported)
    }
    assert reaching == set()


def test_the_local_gateway_refuses_webhooks_even_well_signed_ones(app, client):
    """The simulator records its own events in the inbox; nothing may come in from outside."""
    event = make_event("customer.created", {"id": "cus_1", "object": "customer"})
    payload, headers = signed_event(event)
    rv = client.post("/v1/webhooks/stripe", data=payload, headers=headers)
    assert_problem(rv, 400, "invalid_signature")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WebhookEvent)) == 0
