"""A local HTTP fake of the Stripe API, for tests that run the real SDK offline.

The fake is stateful (objects in a dict, by id), records every request it gets
(method, path, form parameters parsed into nested dicts and lists, headers),
replays the first answer for a repeated `Idempotency-Key` as Stripe does, and
answers in the shapes of the SDK's pinned API version (endive): billing periods
on the subscription items, an invoice's subscription under
`parent.subscription_details.subscription`, invoice payments as their own
objects.

Every object starts as a copy of Stripe's own example of its resource
(`shared/stripe/fixtures3.json`, next to the repository) with the scenario's
fields set on top, so the code under test meets every key Stripe sends,
decimal strings included. Placeholders that would mislead it (timestamps in a
live subscription's `canceled_at`, a paused collection, a pending update...)
are replaced by realistic values.

Tests drive the "other side" of Stripe through helper methods: completing a
checkout, changing a subscription or an account, refunds and disputes made at
Stripe, scripting failures, and building signed webhook events.
"""

from __future__ import annotations

import functools
import itertools
import json
import pickle
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import stripe
import stripe._http_client as stripe_http
from werkzeug.datastructures import Headers
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from service.billing.stripe_gateway import StripeGateway

from .billing_helpers import checkout_status, start_checkout

API_VERSION = stripe.api_version
WEBHOOK_SECRET = "whsec_test"
DAY = 86400
FIXTURES_PATH = Path(__file__).resolve().parents[2] / "shared" / "stripe" / "fixtures3.json"

Obj = dict[str, Any]


# Stripe's fixtures ----------------------------------------------------------------


def _clone(value: Any) -> Any:
    """A private deep copy of JSON-shaped data (a pickle round trip: several times faster than
    `copy.deepcopy`, which the fake would otherwise spend much of its time in)."""
    return pickle.loads(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))  # noqa: S301 (our own bytes)


@functools.cache
def _fixture_set() -> dict[str, Obj]:
    with FIXTURES_PATH.open(encoding="utf-8") as file:
        resources: dict[str, Obj] = json.load(file)["resources"]
    return resources


@functools.cache
def _pickled_fixture(resource: str) -> bytes:
    return pickle.dumps(_fixture_set()[resource], pickle.HIGHEST_PROTOCOL)


def stripe_fixture(resource: str) -> Obj:
    """A private copy of Stripe's example object of `resource` ("invoice", "checkout.session"...)."""
    obj: Obj = pickle.loads(_pickled_fixture(resource))  # noqa: S301 (our own bytes)
    return obj


def _override(base: Obj, **fields: Any) -> Obj:
    """`base` with `fields` set. Each must be a key Stripe sends: a typo must not invent one."""
    unknown = fields.keys() - base.keys()
    if unknown:
        raise KeyError(f"not in Stripe's shape: {sorted(unknown)}")
    base.update(fields)
    return base


def _build(resource: str, **fields: Any) -> Obj:
    """A new object of `resource`: the fixture with `fields` on top. The fixture's creation
    time and live mode are placeholders that would mislead (events and lists order by
    `created`; test keys never see live objects), so both default to realistic values."""
    obj = stripe_fixture(resource)
    defaults = {key: value for key, value in (("created", _now()), ("livemode", False)) if key in obj}
    return _override(obj, **(defaults | fields))


def _list(data: list[Obj], url: str) -> Obj:
    return {"object": "list", "data": data, "has_more": False, "url": url}


# Form encoding ----------------------------------------------------------------


def _listify(value: Any) -> Any:
    """Dicts keyed 0..n (Stripe's `a[0][b]` arrays) become lists, recursively."""
    if not isinstance(value, dict):
        return value
    items = {k: _listify(v) for k, v in value.items()}
    if items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


def parse_form(body: str) -> dict[str, Any]:
    """`a[b][0][c]=v&x=y` -> {"a": {"b": [{"c": "v"}]}, "x": "y"} (values stay strings);
    `a[]=v` appends to a list, as PHP-style clients send arrays."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        head, _, rest = key.partition("[")
        parts = [head] + (re.findall(r"([^\[\]]*)\]", rest) if rest else [])
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part or str(len(node)), {})
        node[parts[-1] or str(len(node))] = value
    return _listify(root)


def _bool(value: Any) -> bool:
    return value in (True, "true")


def _int(value: Any, default: int | None = None) -> int | None:
    return default if value in (None, "") else int(value)


def _expanded(params: dict[str, Any]) -> set[str]:
    """The `expand` parameter, however the client spelled the array."""
    value = params.get("expand") or []
    if isinstance(value, str):
        return {value}
    return set(value.values() if isinstance(value, dict) else value)


# Recording ---------------------------------------------------------------------


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict[str, Any]
    headers: Headers
    status: int = 0
    response: dict[str, Any] | None = None

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("Idempotency-Key")

    @property
    def stripe_version(self) -> str | None:
        return self.headers.get("Stripe-Version")


class StripeFault(Exception):
    """An error answer, in Stripe's error shape."""

    def __init__(
        self, status: int, message: str, *, type_: str = "invalid_request_error", code: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": type_, "message": message, **({"code": code} if code else {})}}


def _missing(kind: str, object_id: str) -> StripeFault:
    return StripeFault(404, f"No such {kind}: '{object_id}'", code="resource_missing")


class _QuietHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


# Builders of nested parts (no state of the fake needed) ------------------------------


def _requirements(due: list[str], disabled_reason: str | None) -> Obj:
    return _override(
        stripe_fixture("account")["requirements"],
        currently_due=list(due),
        eventually_due=list(due),
        past_due=list(due),
        disabled_reason=disabled_reason,
        current_deadline=None,
    )


def _recurring(interval: str, interval_count: int) -> Obj:
    return _override(stripe_fixture("price")["recurring"], interval=interval, interval_count=interval_count)


def _plan(price: Obj) -> Obj | None:
    """The legacy `plan` Stripe still puts next to a recurring price on subscription items."""
    recurring = price["recurring"]
    if not recurring:
        return None
    return _build(
        "plan",
        id=price["id"],
        active=price["active"],
        amount=price["unit_amount"],
        amount_decimal=price["unit_amount_decimal"],
        currency=price["currency"],
        interval=recurring["interval"],
        interval_count=recurring["interval_count"],
        usage_type=recurring["usage_type"],
        product=price["product"],
        metadata=dict(price["metadata"]),
        transform_usage=None,
        created=price["created"],
    )


def _subscription_item(item_id: str, *, sub_id: str, price: Obj, start: int, end: int) -> Obj:
    return _build(
        "subscription_item",
        id=item_id,
        subscription=sub_id,
        price=_clone(price),
        plan=_plan(price),
        quantity=1,
        current_period_start=start,
        current_period_end=end,
        billing_thresholds=None,
        created=start,
    )


def _set_item_price(item: Obj, price: Obj) -> None:
    item.update(price=_clone(price), plan=_plan(price))


def _sync_cancel_at(sub: Obj) -> None:
    """Stripe shows a cancellation at the period end as `cancel_at` = that end."""
    ending = sub["cancel_at_period_end"]
    sub["cancel_at"] = sub["items"]["data"][0]["current_period_end"] if ending else None
    sub["cancellation_details"]["reason"] = "cancellation_requested" if ending else None


def _line_item(line_id: str, *, invoice_id: str, sub: Obj, amount: int, proration: bool, name: str) -> Obj:
    """The invoice line of the subscription's (first) item for its current period."""
    item = sub["items"]["data"][0]
    price = item["price"]
    details = _override(
        stripe_fixture("line_item")["parent"]["subscription_item_details"],
        invoice_item=None,
        proration=proration,
        proration_details={"credited_items": None},
        subscription=sub["id"],
        subscription_item=item["id"],
    )
    return _build(
        "line_item",
        id=line_id,
        invoice=invoice_id,
        amount=amount,
        subtotal=amount,
        currency=price["currency"],
        description=f"1 × {name}",
        period={"start": item["current_period_start"], "end": item["current_period_end"]},
        quantity=1,
        quantity_decimal="1",
        subscription=sub["id"],
        # Stripe copies the subscription's metadata onto its lines.
        metadata=dict(sub["metadata"]),
        pretax_credit_amounts=[],
        taxes=[],
        parent={
            "type": "subscription_item_details",
            "invoice_item_details": None,
            "subscription_item_details": details,
        },
        pricing={
            "type": "price_details",
            "price_details": {"price": price["id"], "product": price["product"]},
            "unit_amount_decimal": str(amount),
        },
    )


def _invoice_parent(sub: Obj) -> Obj:
    details = {"metadata": dict(sub["metadata"]), "subscription": sub["id"]}
    return {"type": "subscription_details", "quote_details": None, "subscription_details": details}


def _charge_outcome(paid: bool) -> Obj:
    return _override(
        stripe_fixture("charge")["outcome"],
        network_status="approved_by_network" if paid else None,
        seller_message="Payment complete." if paid else None,
        type="authorized" if paid else "manual_review",
    )


def _dispute_card_details(status: str) -> Obj:
    details = stripe_fixture("dispute")["payment_method_details"]
    details["card"]["case_type"] = "inquiry" if status.startswith("warning_") else "chargeback"
    return details


# The fake -----------------------------------------------------------------------


class FakeStripe:
    def __init__(self) -> None:
        self.objects: dict[str, Obj] = {}
        self.requests: list[RecordedRequest] = []
        self.url = ""
        self._private: dict[str, Obj] = {}  # what Stripe keeps but does not show
        self._replies: dict[str, tuple[tuple[Any, ...], int, Obj]] = {}
        self._failures: list[Obj] = []
        self._lock = threading.RLock()
        self._counter = itertools.count(1)
        self._server: Any = None
        routes: list[tuple[str, str, Callable[..., Obj]]] = [
            ("POST", r"/v1/customers", self._create_customer),
            ("GET", r"/v1/customers/([^/]+)", self._retrieve("customer")),
            ("POST", r"/v1/accounts", self._create_account),
            ("GET", r"/v1/accounts/([^/]+)", self._retrieve("account")),
            ("POST", r"/v1/account_links", self._create_account_link),
            ("POST", r"/v1/prices", self._create_price),
            ("GET", r"/v1/prices/([^/]+)", self._retrieve("price")),
            ("GET", r"/v1/products/([^/]+)", self._retrieve("product")),
            ("POST", r"/v1/checkout/sessions", self._create_checkout_session),
            ("GET", r"/v1/checkout/sessions/([^/]+)", self._retrieve("checkout.session")),
            ("POST", r"/v1/checkout/sessions/([^/]+)/expire", self._expire_checkout_session),
            ("POST", r"/v1/billing_portal/sessions", self._create_portal_session),
            ("GET", r"/v1/subscriptions/([^/]+)", self._retrieve("subscription")),
            ("POST", r"/v1/subscriptions/([^/]+)", self._update_subscription),
            ("DELETE", r"/v1/subscriptions/([^/]+)", self._cancel_subscription),
            ("POST", r"/v1/subscription_schedules", self._create_schedule),
            ("GET", r"/v1/subscription_schedules/([^/]+)", self._retrieve("subscription_schedule")),
            ("POST", r"/v1/subscription_schedules/([^/]+)", self._update_schedule),
            ("GET", r"/v1/invoices/([^/]+)", self._get_invoice),
            ("GET", r"/v1/invoice_payments", self._list_invoice_payments),
            ("GET", r"/v1/invoice_payments/([^/]+)", self._retrieve("invoice_payment")),
            ("GET", r"/v1/payment_intents/([^/]+)", self._retrieve("payment_intent")),
            ("GET", r"/v1/charges/([^/]+)", self._retrieve("charge")),
            ("POST", r"/v1/refunds", self._create_refund),
            ("GET", r"/v1/refunds/([^/]+)", self._retrieve("refund")),
            ("GET", r"/v1/disputes/([^/]+)", self._retrieve("dispute")),
            ("POST", r"/v1/coupons", self._create_coupon),
            ("GET", r"/v1/coupons/([^/]+)", self._retrieve("coupon")),
        ]
        self._routes = [(method, re.compile(f"^{pattern}$"), handler) for method, pattern, handler in routes]

    # Server -------------------------------------------------------------------
    def start(self) -> None:
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        # `stop()` waits for the loop to look up, once per poll interval: keep it short.
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.005}, daemon=True
        ).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        params = parse_form(request.query_string.decode())
        if request.method == "POST":
            params.update(parse_form(request.get_data(as_text=True)))
        with self._lock:
            recorded = RecordedRequest(request.method, request.path, params, Headers(request.headers))
            self.requests.append(recorded)
            status, body, extra = self._dispatch(recorded)
            recorded.status, recorded.response = status, body  # a private snapshot already
        response = Response(json.dumps(body), status=status, mimetype="application/json", headers=extra)
        response.headers["Request-Id"] = f"req_{secrets.token_hex(7)}"
        return response(environ, start_response)

    def _dispatch(self, req: RecordedRequest) -> tuple[int, Obj, dict[str, str]]:
        for failure in self._failures:
            if failure["times"] > 0 and req.path.startswith(failure["prefix"]):
                failure["times"] -= 1
                fault = StripeFault(failure["status"], failure["message"], type_="api_error")
                return failure["status"], fault.body, {}
        key = req.idempotency_key if req.method == "POST" else None
        fingerprint = (req.method, req.path, json.dumps(req.params, sort_keys=True))
        if key and key in self._replies:
            first, status, body = self._replies[key]
            if first != fingerprint:
                message = f"Keys for idempotent requests can only be used with the same parameters ({key})."
                fault = StripeFault(400, message, type_="idempotency_error")
                return 400, fault.body, {}
            return status, _clone(body), {"Idempotent-Replayed": "true"}
        status, body = self._route(req)
        if key:
            self._replies[key] = (fingerprint, status, _clone(body))
        return status, body, {}

    def _route(self, req: RecordedRequest) -> tuple[int, Obj]:
        for method, pattern, handler in self._routes:
            match = pattern.match(req.path)
            if method == req.method and match:
                try:
                    return 200, _clone(handler(req.params, *match.groups()))
                except StripeFault as fault:
                    return fault.status, fault.body
        return 404, StripeFault(404, f"Unrecognized request URL ({req.method}: {req.path}).").body

    # Helpers for tests: the fake itself -------------------------------------------
    def fail_next(self, path_prefix: str, status: int = 500, times: int = 1, message: str = "") -> None:
        """The next `times` requests under `path_prefix` fail with `status` (before any effect)."""
        message = message or f"Fake internal failure {secrets.token_hex(4)} on {path_prefix}"
        with self._lock:
            self._failures.append(
                {"prefix": path_prefix, "status": status, "times": times, "message": message}
            )

    def requests_to(self, path_prefix: str, method: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r.path.startswith(path_prefix) and (method is None or r.method == method.upper())
            ]

    def get(self, object_id: str) -> Obj:
        """A copy of a stored object, as a retrieve would return it."""
        with self._lock:
            return _clone(self.objects[object_id])

    def only(self, object_type: str) -> list[Obj]:
        with self._lock:
            return [_clone(o) for o in self._all(object_type)]

    # Helpers for tests: what happens at Stripe ---------------------------------------
    def add_price(self, amount: int, currency: str = "eur", interval: str | None = "month") -> Obj:
        """A price made at Stripe outside our API (e.g. in the Dashboard)."""
        params: dict[str, Any] = {
            "unit_amount": str(amount),
            "currency": currency,
            "product_data": {"name": "X"},
        }
        if interval:
            params["recurring"] = {"interval": interval}
        with self._lock:
            return _clone(self._create_price(params))

    def complete_session(self, session_id: str, paid: bool = True) -> Obj:
        """The buyer finished the hosted page: a payment intent with its charge (payment mode)
        or a subscription with its first invoice (subscription mode) now exists. Returns the session."""
        with self._lock:
            session = self.objects[session_id]
            session.update(
                status="complete",
                payment_status="paid" if paid else "unpaid",
                customer_details=self._customer_details(session["customer"]),
            )
            if session["mode"] == "payment":
                session["payment_intent"] = self._pay_session(session, paid)["id"]
            else:
                self._subscribe_session(session, paid)
            return _clone(session)

    def expire_session(self, session_id: str) -> Obj:
        """The hosted page was left open until Stripe expired it."""
        with self._lock:
            return _clone(self._expire_checkout_session({}, session_id))

    def add_subscription(
        self,
        *,
        price: str,
        customer: str | None = None,
        metadata: dict[str, str] | None = None,
        status: str = "active",
        trial_days: int = 0,
        start: int | None = None,
    ) -> Obj:
        """A subscription that exists at Stripe (made by Checkout, the Dashboard or the portal)."""
        with self._lock:
            price_obj = self.objects[price]
            start = start or _now()
            end = start + trial_days * DAY if trial_days else _period_end(start, price_obj)
            sub_id = self._id("sub")
            item = _subscription_item(self._id("si"), sub_id=sub_id, price=price_obj, start=start, end=end)
            sub = _build(
                "subscription",
                id=sub_id,
                customer=customer or self._id("cus"),
                status="trialing" if trial_days else status,
                metadata=dict(metadata or {}),
                currency=price_obj["currency"],
                items=_list([item], f"/v1/subscription_items?subscription={sub_id}"),
                created=start,
                start_date=start,
                billing_cycle_anchor=end if trial_days else start,
                billing_cycle_anchor_config=None,
                trial_start=start if trial_days else None,
                trial_end=end if trial_days else None,
                # A live subscription: nothing cancelled, paused, pending or scheduled.
                cancel_at_period_end=False,
                cancel_at=None,
                canceled_at=None,
                ended_at=None,
                pause_collection=None,
                pending_update=None,
                schedule=None,
                discounts=[],
                latest_invoice=None,
                next_pending_invoice_item_invoice=None,
                pending_invoice_item_interval=None,
                application_fee_percent=None,
                transfer_data=None,
                billing_thresholds=None,
                billing_schedules=[],
                billing_mode={"type": "flexible", "flexible": {"proration_discounts": "included"}},
                managed_payments={"enabled": False},
            )
            return _clone(self._save(sub))

    def set_subscription(self, sub_id: str, **fields: Any) -> Obj:
        """Change a subscription at Stripe (renewal, dunning, portal...). `price` and the
        `current_period_*` fields go to the item, everything else to the subscription."""
        with self._lock:
            sub = self.objects[sub_id]
            item = sub["items"]["data"][0]
            if "price" in fields:
                _set_item_price(item, self.objects[fields.pop("price")])
            for name in ("current_period_start", "current_period_end"):
                if name in fields:
                    item[name] = fields.pop(name)
            sub.update(fields)
            if "cancel_at_period_end" in fields and "cancel_at" not in fields:
                _sync_cancel_at(sub)
            return _clone(sub)

    def set_account(self, account_id: str, **fields: Any) -> Obj:
        with self._lock:
            self.objects[account_id].update(fields)
            return _clone(self.objects[account_id])

    def enable_account(self, account_id: str) -> Obj:
        """Onboarding finished: the account can take charges and receive payouts."""
        return self.set_account(
            account_id,
            charges_enabled=True,
            payouts_enabled=True,
            details_submitted=True,
            capabilities={"transfers": "active", "card_payments": "active"},
            requirements=_requirements([], None),
        )

    def make_invoice(
        self,
        sub_id: str,
        *,
        amount: int | None = None,
        billing_reason: str = "subscription_cycle",
        paid: bool = True,
    ) -> Obj:
        """An invoice of the subscription for its current period, now its latest invoice. A paid
        one with something to pay was paid by a payment intent (with its charge), linked to it
        by an invoice payment, as Stripe does since basil."""
        with self._lock:
            sub = self.objects[sub_id]
            price = sub["items"]["data"][0]["price"]
            amount = price["unit_amount"] if amount is None else amount
            invoice = self._save(self._invoice(sub, amount=amount, billing_reason=billing_reason, paid=paid))
            sub["latest_invoice"] = invoice["id"]
            if paid and amount > 0:
                self._pay_invoice(invoice, sub)
            return _clone(invoice)

    def invoice_payment_intent(self, invoice_id: str) -> str | None:
        """The payment intent that paid an invoice (None for unpaid and free ones)."""
        with self._lock:
            for payment in self._invoice_payments(invoice=invoice_id):
                return str(payment["payment"]["payment_intent"])
            return None

    def charge_for(self, payment_intent: str, *, amount_refunded: int | None = None) -> Obj:
        """The charge of a payment intent, as `charge.*` events carry it. `amount_refunded`
        changes the returned copy only: a snapshot of another moment, Stripe's truth unchanged."""
        with self._lock:
            charge = self.get(self.objects[payment_intent]["latest_charge"])
        if amount_refunded is not None:
            charge.update(amount_refunded=amount_refunded, refunded=amount_refunded >= charge["amount"])
        return charge

    def refund_at_stripe(self, payment_intent: str, amount: int | None = None) -> Obj:
        """A refund made in the Dashboard (not through our API): the charge shows it at once."""
        params: dict[str, Any] = {"payment_intent": payment_intent}
        if amount is not None:
            params["amount"] = amount
        with self._lock:
            return _clone(self._create_refund(params))

    def fail_refund(self, refund_id: str) -> Obj:
        """The card network gave the refund back: Stripe marks it failed and the charge's
        `amount_refunded` goes back down by its amount."""
        with self._lock:
            refund = self.objects[refund_id]
            refund.update(
                status="failed",
                failure_reason="expired_or_canceled_card",
                failure_balance_transaction=self._id("txn"),
            )
            self._refresh_refunds(self.objects[refund["charge"]])
            return _clone(refund)

    def open_dispute(
        self, payment_intent: str, *, status: str = "needs_response", include_payment_intent: bool = True
    ) -> Obj:
        """The buyer disputed the payment with their bank. Real disputes sometimes carry no
        `payment_intent` (`include_payment_intent=False`): then only the charge leads to it."""
        with self._lock:
            charge = self.objects[self.objects[payment_intent]["latest_charge"]]
            dispute = _build(
                "dispute",
                id=self._id("dp"),
                amount=charge["amount"],
                currency=charge["currency"],
                charge=charge["id"],
                payment_intent=payment_intent if include_payment_intent else None,
                status=status,
                reason="fraudulent",
                is_charge_refundable=False,
                balance_transactions=[],
                enhanced_eligibility_types=[],
                evidence_details=_override(
                    stripe_fixture("dispute")["evidence_details"], due_by=_now() + 7 * DAY
                ),
                payment_method_details=_dispute_card_details(status),
            )
            charge["disputed"] = True
            return _clone(self._save(dispute))

    def set_dispute(self, dispute_id: str, **fields: Any) -> Obj:
        """A dispute moves on at Stripe (e.g. status won, lost, warning_closed, prevented)."""
        with self._lock:
            self.objects[dispute_id].update(fields)
            return _clone(self.objects[dispute_id])

    def dispute_for(self, payment_intent: str, *, status: str = "needs_response") -> Obj:
        """The dispute of a payment intent's charge (opened now if there is none), in `status`."""
        with self._lock:
            charge_id = self.objects[payment_intent]["latest_charge"]
            found = next((d for d in self._all("dispute") if d["charge"] == charge_id), None)
            dispute_id = found["id"] if found else self.open_dispute(payment_intent, status=status)["id"]
            return self.set_dispute(dispute_id, status=status)

    # Storage -------------------------------------------------------------------
    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._counter):06d}{secrets.token_hex(6)}"

    def _save(self, obj: Obj) -> Obj:
        self.objects[obj["id"]] = obj
        return obj

    def _all(self, object_type: str) -> Iterator[Obj]:
        return (o for o in self.objects.values() if o.get("object") == object_type)

    def _find(self, object_id: str, object_type: str) -> Obj:
        obj = self.objects.get(object_id)
        if obj is None or obj.get("object") != object_type:
            raise _missing(re.sub(r"[._]", " ", object_type), object_id)
        return obj

    def _retrieve(self, object_type: str) -> Callable[..., Obj]:
        def handler(p: dict[str, Any], object_id: str) -> Obj:
            return self._find(object_id, object_type)

        return handler

    # Money movements -------------------------------------------------------------
    def _new_payment(
        self,
        *,
        amount: int,
        currency: str,
        customer: str | None,
        paid: bool,
        metadata: dict[str, str],
        fee: int | None,
        destination: str | None,
        description: str | None = None,
    ) -> Obj:
        """A payment intent and its charge; destination charges carry the connected account."""
        intent_id, charge_id = self._id("pi"), self._id("ch")
        intent = _build(
            "payment_intent",
            id=intent_id,
            amount=amount,
            amount_received=amount if paid else 0,
            currency=currency,
            customer=customer,
            status="succeeded" if paid else "processing",
            latest_charge=charge_id,
            payment_method=self._id("pm"),
            application_fee_amount=fee,
            transfer_data={"destination": destination} if destination else None,
            transfer_group=f"group_{intent_id}" if destination else None,
            metadata=dict(metadata),
            description=description,
            client_secret=f"{intent_id}_secret_{secrets.token_urlsafe(18)}",
            canceled_at=None,
            last_payment_error=None,
            next_action=None,
            processing=None,
            shipping=None,
            payment_method_configuration_details=None,
            managed_payments={"enabled": False},
        )
        self._save(intent)
        self._save(self._charge(charge_id, intent))
        return intent

    def _charge(self, charge_id: str, intent: Obj) -> Obj:
        paid = intent["status"] == "succeeded"
        destination = (intent["transfer_data"] or {}).get("destination")
        fee = intent["application_fee_amount"]
        return _build(
            "charge",
            id=charge_id,
            amount=intent["amount"],
            amount_captured=intent["amount"],
            amount_refunded=0,
            refunded=False,
            refunds=_list([], f"/v1/charges/{charge_id}/refunds"),
            captured=True,
            paid=paid,
            status="succeeded" if paid else "pending",
            outcome=_charge_outcome(paid),
            disputed=False,
            currency=intent["currency"],
            customer=intent["customer"],
            payment_intent=intent["id"],
            payment_method=intent["payment_method"],
            description=intent["description"],
            metadata=dict(intent["metadata"]),
            application_fee=self._id("fee") if fee else None,
            application_fee_amount=fee,
            transfer_data={"amount": None, "destination": destination} if destination else None,
            transfer_group=intent["transfer_group"],
            balance_transaction=self._id("txn"),
            receipt_url=f"https://pay.stripe.com/receipts/payment/{secrets.token_urlsafe(24)}",
            # Payment intent charges have no legacy source.
            source=None,
            shipping=None,
        )

    def _refundable_charge(self, p: dict[str, Any]) -> Obj:
        if p.get("charge"):
            return self._find(p["charge"], "charge")
        if not p.get("payment_intent"):
            raise StripeFault(
                400, "One of `charge` or `payment_intent` is required.", code="parameter_missing"
            )
        intent = self._find(p["payment_intent"], "payment_intent")
        return self._find(intent["latest_charge"] or "", "charge")

    def _refresh_refunds(self, charge: Obj) -> None:
        """The charge's refund totals and list, from its refunds: failed ones count no more."""
        refunds = [r for r in self._all("refund") if r["charge"] == charge["id"]]
        counted = sum(r["amount"] for r in refunds if r["status"] in ("pending", "succeeded"))
        charge.update(amount_refunded=counted, refunded=counted >= charge["amount"])
        charge["refunds"]["data"] = _clone(refunds[::-1])  # newest first, as Stripe lists

    def _pay_session(self, session: Obj, paid: bool) -> Obj:
        data = self._private[session["id"]].get("payment_intent_data") or {}
        return self._new_payment(
            amount=session["amount_total"],
            currency=session["currency"],
            customer=session["customer"],
            paid=paid,
            metadata=data.get("metadata") or {},
            fee=_int(data.get("application_fee_amount")),
            destination=(data.get("transfer_data") or {}).get("destination"),
        )

    def _subscribe_session(self, session: Obj, paid: bool) -> None:
        private = self._private[session["id"]]
        price = self.objects[private["price"]]
        data = private.get("subscription_data") or {}
        sub_id = self.add_subscription(
            price=price["id"],
            customer=session["customer"],
            metadata=data.get("metadata") or {},
            trial_days=_int(data.get("trial_period_days"), 0) or 0,
            status="active" if paid else "incomplete",
        )["id"]
        sub = self.objects[sub_id]
        destination = (data.get("transfer_data") or {}).get("destination")
        sub["application_fee_percent"] = float(data.get("application_fee_percent") or 0)
        sub["transfer_data"] = {"amount_percent": None, "destination": destination} if destination else None
        invoice = self.make_invoice(
            sub_id,
            amount=0 if sub["status"] == "trialing" else price["unit_amount"],
            billing_reason="subscription_create",
            paid=paid,
        )
        session.update(invoice=invoice["id"], subscription=sub_id)

    def _pay_invoice(self, invoice: Obj, sub: Obj) -> None:
        amount, percent = invoice["amount_paid"], sub["application_fee_percent"]
        first = invoice["billing_reason"] == "subscription_create"
        intent = self._new_payment(
            amount=amount,
            currency=invoice["currency"],
            customer=invoice["customer"],
            paid=True,
            metadata={},
            fee=round(amount * percent / 100) if percent else None,
            destination=(sub["transfer_data"] or {}).get("destination"),
            description="Subscription creation" if first else "Subscription update",
        )
        payment = _build(
            "invoice_payment",
            id=self._id("inpay"),
            invoice=invoice["id"],
            amount_paid=amount,
            amount_requested=amount,
            currency=invoice["currency"],
            is_default=True,
            payment={"type": "payment_intent", "payment_intent": intent["id"]},
            status="paid",
            status_transitions={"canceled_at": None, "paid_at": _now()},
        )
        self._save(payment)

    def _invoice_payments(self, *, invoice: str | None = None, payment: Obj | None = None) -> list[Obj]:
        wanted = payment or {}
        return [
            p
            for p in self._all("invoice_payment")
            if (not invoice or p["invoice"] == invoice)
            and all(p["payment"].get(key) == value for key, value in wanted.items())
        ][::-1]

    # Builders of stored objects ----------------------------------------------------
    def _invoice(self, sub: Obj, *, amount: int, billing_reason: str, paid: bool) -> Obj:
        invoice_id, now = self._id("in"), _now()
        item = sub["items"]["data"][0]
        customer = self.objects.get(sub["customer"]) or {}
        product = self.objects.get(item["price"]["product"]) or {}
        line = _line_item(
            self._id("il"),
            invoice_id=invoice_id,
            sub=sub,
            amount=amount,
            proration=billing_reason == "subscription_update",
            name=product.get("name") or "Subscription",
        )
        token = secrets.token_hex(8)
        return _build(
            "invoice",
            id=invoice_id,
            customer=sub["customer"],
            customer_email=customer.get("email"),
            customer_name=customer.get("name"),
            customer_shipping=None,
            status="paid" if paid else "open",
            amount_due=amount,
            amount_paid=amount if paid else 0,
            amount_remaining=0 if paid else amount,
            amount_overpaid=0,
            subtotal=amount,
            subtotal_excluding_tax=amount,
            total=amount,
            total_excluding_tax=amount,
            total_taxes=[],
            total_pretax_credit_amounts=[],
            currency=item["price"]["currency"],
            billing_reason=billing_reason,
            attempt_count=1,
            attempted=True,
            auto_advance=not paid,
            next_payment_attempt=None if paid else now + 3 * DAY,
            due_date=None,
            effective_at=now,
            ending_balance=0,
            number=f"{secrets.token_hex(4).upper()}-0001",
            hosted_invoice_url=f"https://invoice.stripe.com/i/{token}",
            invoice_pdf=f"https://pay.stripe.com/invoice/{token}/pdf",
            last_finalization_error=None,
            from_invoice=None,
            shipping_cost=None,
            shipping_details=None,
            status_transitions={
                "finalized_at": now,
                "marked_uncollectible_at": None,
                "paid_at": now if paid else None,
                "voided_at": None,
            },
            webhooks_delivered_at=None,
            period_start=item["current_period_start"],
            period_end=item["current_period_end"],
            parent=_invoice_parent(sub),
            lines=_list([line], f"/v1/invoices/{invoice_id}/lines"),
            created=now,
        )

    def _customer_details(self, customer_id: str | None) -> Obj:
        customer = self.objects.get(customer_id or "") or {}
        return _override(
            stripe_fixture("checkout.session")["customer_details"],
            email=customer.get("email"),
            name=customer.get("name"),
        )

    def _phase(self, *, start: int, end: int, prices: list[str], sub: Obj) -> Obj:
        template = stripe_fixture("subscription_schedule")["phases"][0]
        item_template = template["items"][0]
        items = [_override(_clone(item_template), price=p, plan=p, billing_thresholds=None) for p in prices]
        return _override(
            template,
            start_date=start,
            end_date=end,
            items=items,
            currency=sub["currency"],
            application_fee_percent=sub["application_fee_percent"],
            transfer_data=_clone(sub["transfer_data"]),
            invoice_settings=None,
            billing_thresholds=None,
        )

    # Handlers -------------------------------------------------------------------
    def _create_customer(self, p: dict[str, Any]) -> Obj:
        customer = _build(
            "customer",
            id=self._id("cus"),
            email=p.get("email"),
            name=p.get("name"),
            metadata=p.get("metadata") or {},
            address=None,
            currency=None,
            discount=None,
            shipping=None,
            invoice_prefix=secrets.token_hex(4).upper(),
        )
        return self._save(customer)

    def _create_account(self, p: dict[str, Any]) -> Obj:
        account_id, type_ = self._id("acct"), p.get("type", "express")
        requested = p.get("capabilities") or {}
        controller = {
            "fees": {"payer": "application"},
            "is_controller": True,
            "losses": {"payments": "application"},
            "requirement_collection": "stripe",
            "stripe_dashboard": {"type": type_},
            "type": "application",
        }
        account = _build(
            "account",
            id=account_id,
            type=type_,
            email=p.get("email"),
            country=p.get("country", "DE"),
            default_currency="eur",
            controller=controller,
            charges_enabled=False,
            payouts_enabled=False,
            details_submitted=False,
            capabilities={name: "inactive" for name in requested},
            requirements=_requirements(["external_account", "tos_acceptance.date"], "requirements.past_due"),
            external_accounts=_list([], f"/v1/accounts/{account_id}/external_accounts"),
            metadata=p.get("metadata") or {},
        )
        return self._save(account)

    def _create_account_link(self, p: dict[str, Any]) -> Obj:
        account = self._find(p.get("account", ""), "account")
        return _build(
            "account_link",
            expires_at=_now() + 300,
            url=f"https://connect.stripe.com/setup/e/{account['id']}/{secrets.token_urlsafe(12)}",
        )

    def _create_price(self, p: dict[str, Any]) -> Obj:
        product_id = p.get("product") or self._create_product(p.get("product_data") or {})["id"]
        recurring = p.get("recurring")
        if recurring:
            recurring = _recurring(recurring["interval"], _int(recurring.get("interval_count"), 1) or 1)
        amount = _int(p["unit_amount"])
        price = _build(
            "price",
            id=self._id("price"),
            currency=p["currency"],
            unit_amount=amount,
            unit_amount_decimal=str(amount),
            product=product_id,
            recurring=recurring,
            type="recurring" if recurring else "one_time",
            custom_unit_amount=None,
            transform_quantity=None,
        )
        return self._save(price)

    def _create_product(self, data: dict[str, Any]) -> Obj:
        now = _now()
        product = _build(
            "product",
            id=self._id("prod"),
            name=data.get("name"),
            description=None,
            default_price=None,
            package_dimensions=None,
            type="service",
            created=now,
            updated=now,
        )
        return self._save(product)

    def _create_checkout_session(self, p: dict[str, Any]) -> Obj:
        line_items = p.get("line_items") or []
        if p.get("mode") not in ("payment", "subscription", "setup") or len(line_items) != 1:
            raise StripeFault(400, "Invalid checkout session parameters.")
        price = self._find(line_items[0].get("price", ""), "price")
        if p.get("customer"):
            self._find(p["customer"], "customer")
        session_id = self._id("cs_test")
        self._private[session_id] = {
            "price": price["id"],
            "payment_intent_data": p.get("payment_intent_data"),
            "subscription_data": p.get("subscription_data"),
        }
        payment_mode = p["mode"] == "payment"
        invoice_creation = stripe_fixture("checkout.session")["invoice_creation"]
        invoice_creation["enabled"] = False
        session = _build(
            "checkout.session",
            id=session_id,
            url=f"https://checkout.stripe.com/c/pay/{session_id}",
            mode=p["mode"],
            status="open",
            payment_status="unpaid",
            customer=p.get("customer"),
            customer_details=None,  # filled in by the buyer on the hosted page
            client_reference_id=p.get("client_reference_id"),
            metadata=p.get("metadata") or {},
            success_url=p.get("success_url"),
            cancel_url=p.get("cancel_url"),
            amount_subtotal=price["unit_amount"],
            amount_total=price["unit_amount"],
            currency=price["currency"],
            discounts=[{"coupon": d.get("coupon"), "promotion_code": None} for d in p.get("discounts") or []],
            total_details={"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            subscription=None,
            payment_intent=None,
            invoice=None,
            invoice_creation=invoice_creation if payment_mode else None,
            payment_method_collection="always",
            after_expiration=None,
            automatic_tax={"enabled": False, "liability": None, "provider": None, "status": None},
            consent=None,
            consent_collection=None,
            custom_text={
                "after_submit": None,
                "shipping_address": None,
                "submit": None,
                "terms_of_service_acceptance": None,
            },
            shipping_address_collection=None,
            shipping_cost=None,
            collected_information=None,
            currency_conversion=None,
            payment_method_configuration_details=None,
            saved_payment_method_options=None,
            adaptive_pricing={"enabled": False},
            managed_payments={"enabled": False},
            ui_mode="hosted_page",
            expires_at=_now() + DAY,
        )
        return self._save(session)

    def _expire_checkout_session(self, p: dict[str, Any], session_id: str) -> Obj:
        session = self._find(session_id, "checkout.session")
        if session["status"] != "open":
            message = (
                f'Only Checkout Sessions with a status in ["open"] can be expired ({session["status"]}).'
            )
            raise StripeFault(400, message, code="checkout_session_not_open")
        session["status"] = "expired"
        return session

    def _create_portal_session(self, p: dict[str, Any]) -> Obj:
        self._find(p.get("customer", ""), "customer")
        portal_id = self._id("bps")
        portal = _build(
            "billing_portal.session",
            id=portal_id,
            configuration=self._id("bpc"),
            customer=p["customer"],
            flow=None,
            return_url=p.get("return_url"),
            url=f"https://billing.stripe.com/p/session/test_{portal_id}",
        )
        return self._save(portal)

    def _update_subscription(self, p: dict[str, Any], sub_id: str) -> Obj:
        sub = self._find(sub_id, "subscription")
        if sub["status"] in ("canceled", "incomplete_expired") and set(p) - {"metadata"}:
            raise StripeFault(400, "A canceled subscription can only update its metadata.")
        if "cancel_at_period_end" in p:
            sub["cancel_at_period_end"] = _bool(p["cancel_at_period_end"])
            _sync_cancel_at(sub)
        for change in p.get("items") or []:
            item = next((i for i in sub["items"]["data"] if i["id"] == change.get("id")), None)
            if item is None:
                raise _missing("subscription item", change.get("id", ""))
            if change.get("price"):
                _set_item_price(item, self._find(change["price"], "price"))
        if p.get("items") and p.get("proration_behavior") == "always_invoice":
            self.make_invoice(sub_id, billing_reason="subscription_update")
        if "discounts" in p:
            sub["discounts"] = [self._discount(d) for d in p["discounts"] or []]
        sub["metadata"].update(p.get("metadata") or {})
        return sub

    def _discount(self, wanted: dict[str, Any]) -> str:
        """A subscription's discounts are shown as the ids of the discounts they made."""
        if wanted.get("coupon"):
            self._find(wanted["coupon"], "coupon")
        return self._id("di")

    def _cancel_subscription(self, p: dict[str, Any], sub_id: str) -> Obj:
        sub = self._find(sub_id, "subscription")
        if sub["status"] != "canceled":
            sub.update(status="canceled", canceled_at=_now(), ended_at=_now())
            sub["cancellation_details"]["reason"] = "cancellation_requested"
        return sub

    def _create_schedule(self, p: dict[str, Any]) -> Obj:
        sub = self._find(p.get("from_subscription", ""), "subscription")
        if sub.get("schedule"):
            raise StripeFault(400, "The subscription is already attached to a schedule.")
        item = sub["items"]["data"][0]
        start, end = item["current_period_start"], item["current_period_end"]
        default_settings = _override(
            stripe_fixture("subscription_schedule")["default_settings"],
            application_fee_percent=sub["application_fee_percent"],
            transfer_data=_clone(sub["transfer_data"]),
            billing_thresholds=None,
        )
        schedule = _build(
            "subscription_schedule",
            id=self._id("sub_sched"),
            subscription=sub["id"],
            customer=sub["customer"],
            status="active",
            end_behavior="release",
            phases=[self._phase(start=start, end=end, prices=[item["price"]["id"]], sub=sub)],
            current_phase={"start_date": start, "end_date": end},
            default_settings=default_settings,
            billing_mode=_clone(sub["billing_mode"]),
            canceled_at=None,
            completed_at=None,
            released_at=None,
        )
        sub["schedule"] = schedule["id"]
        return self._save(schedule)

    def _update_schedule(self, p: dict[str, Any], schedule_id: str) -> Obj:
        schedule = self._find(schedule_id, "subscription_schedule")
        sub = self.objects[schedule["subscription"]]
        if "phases" in p:
            phases: list[Obj] = []
            for phase in p["phases"]:
                prices = [self._find(i.get("price", ""), "price") for i in phase.get("items") or []]
                # A phase without dates follows the previous one for one billing period.
                start = _int(phase.get("start_date")) or (phases[-1]["end_date"] if phases else _now())
                end = _int(phase.get("end_date")) or _period_end(start, prices[0] if prices else {})
                phases.append(self._phase(start=start, end=end, prices=[x["id"] for x in prices], sub=sub))
            schedule["phases"] = phases
        if "end_behavior" in p:
            schedule["end_behavior"] = p["end_behavior"]
        return schedule

    def _get_invoice(self, p: dict[str, Any], invoice_id: str) -> Obj:
        invoice = self._find(invoice_id, "invoice")
        if "payments" not in _expanded(p):
            return invoice
        # `payments` is includable: Stripe adds it only when asked.
        payments = _list(self._invoice_payments(invoice=invoice_id), f"/v1/invoices/{invoice_id}/payments")
        return {**invoice, "payments": payments}

    def _list_invoice_payments(self, p: dict[str, Any]) -> Obj:
        found = self._invoice_payments(invoice=p.get("invoice"), payment=p.get("payment"))
        limit = _int(p.get("limit"), 10) or 10
        listed = _list(found[:limit], "/v1/invoice_payments")
        listed["has_more"] = len(found) > limit
        return listed

    def _create_refund(self, p: dict[str, Any]) -> Obj:
        charge = self._refundable_charge(p)
        for flag in ("reverse_transfer", "refund_application_fee"):
            if flag in p and p[flag] not in (True, False, "true", "false"):
                raise StripeFault(400, f"Invalid boolean: {p[flag]}", code="parameter_invalid_boolean")
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining <= 0:
            raise StripeFault(
                400, f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
            )
        amount = _int(p.get("amount"), remaining) or 0
        if amount > remaining:
            raise StripeFault(
                400, "Refund amount is greater than the unrefunded amount.", code="amount_too_large"
            )
        reverses = _bool(p.get("reverse_transfer")) and charge["transfer_data"] is not None
        refund = _build(
            "refund",
            id=self._id("re"),
            amount=amount,
            currency=charge["currency"],
            charge=charge["id"],
            payment_intent=charge["payment_intent"],
            customer=charge["customer"],
            payment_method=charge["payment_method"],
            status="succeeded",
            reason=p.get("reason"),
            metadata=p.get("metadata") or {},
            balance_transaction=self._id("txn"),
            transfer_reversal=self._id("trr") if reverses else None,
        )
        self._save(refund)
        self._refresh_refunds(charge)
        return refund

    def _create_coupon(self, p: dict[str, Any]) -> Obj:
        percent_off = p.get("percent_off")
        coupon = _build(
            "coupon",
            id=secrets.token_hex(4).upper(),
            amount_off=_int(p.get("amount_off")),
            percent_off=float(percent_off) if percent_off not in (None, "") else None,
            currency=p.get("currency"),
            duration=p.get("duration", "once"),
            duration_in_months=_int(p.get("duration_in_months")),
            max_redemptions=_int(p.get("max_redemptions")),
            name=p.get("name"),
            redeem_by=_int(p.get("redeem_by")),
            metadata=p.get("metadata") or {},
        )
        return self._save(coupon)


def _now() -> int:
    return int(time.time())


def _period_end(start: int, price: Obj) -> int:
    recurring = price.get("recurring") or {"interval": "month", "interval_count": 1}
    days = 365 if recurring["interval"] == "year" else 30 * recurring["interval_count"]
    return start + days * DAY


# Events ---------------------------------------------------------------------------

_event_ids = itertools.count(1)


def make_event(
    event_type: str,
    obj: Obj,
    *,
    created: int | None = None,
    account: str | None = None,
    event_id: str | None = None,
    livemode: bool = False,
    previous_attributes: Obj | None = None,
) -> Obj:
    """A snapshot event as Stripe delivers it to a webhook endpoint; `*.updated` events may
    carry the changed fields' old values in `previous_attributes`."""
    data: Obj = {"object": _clone(obj)}
    if previous_attributes is not None:
        data["previous_attributes"] = _clone(previous_attributes)
    event = _build(
        "event",
        id=event_id or f"evt_{next(_event_ids):06d}{secrets.token_hex(6)}",
        api_version=API_VERSION,
        created=created or _now(),
        data=data,
        livemode=livemode,
        pending_webhooks=1,  # this delivery is one
        request={"id": None, "idempotency_key": None},
        type=event_type,
    )
    if account:
        event["account"] = account  # only events of connected accounts name one
    return event


def signed_event(
    event: dict[str, Any], secret: str = WEBHOOK_SECRET, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """The exact bytes of an event and a `Stripe-Signature` header computed over them."""
    payload = json.dumps(event, ensure_ascii=False).encode("utf-8")
    header = stripe.WebhookSignature.generate_signature_header(payload.decode("utf-8"), secret, timestamp)
    return payload, {"Stripe-Signature": header, "Content-Type": "application/json"}


# Driving the app against the fake ---------------------------------------------------
# Checkouts start through our API (tests/billing_helpers.py's `start_checkout`); here the buyer
# pays at Stripe and Stripe tells us, by the events a test chooses to deliver.


def onboard(client: Any, fake: FakeStripe, owner: Any) -> str:
    """Create the creator's Connect account through the API, finish onboarding at Stripe,
    and let the API re-read the account; returns the account id."""
    urls = {
        "return_url": "https://app.example.com/payouts",
        "refresh_url": "https://app.example.com/payouts/again",
    }
    rv = client.post(f"/v1/creators/{owner['handle']}/payouts/onboarding", json=urls, headers=owner.headers)
    assert rv.status_code == 201, rv.get_json()
    [account] = [a for a in fake.only("account") if a["metadata"].get("creator_id") == owner["creator"]["id"]]
    fake.enable_account(account["id"])
    rv = client.get(f"/v1/creators/{owner['handle']}/payouts", headers=owner.headers)
    assert rv.get_json()["charges_enabled"] is True, rv.get_json()
    return str(account["id"])


def stripe_session_id(rv: Any) -> str:
    """Stripe's id of the checkout session our API answered with (the hosted page's URL ends with it)."""
    return str(rv.get_json()["url"].rsplit("/", 1)[-1])


def provider_price(fake: FakeStripe, price_id: str) -> str:
    """The Stripe price our API created for one of our prices (it is keyed on our price id)."""
    [request] = [
        r for r in fake.requests_to("/v1/prices", "POST") if r.idempotency_key == f"price:{price_id}"
    ]
    assert request.response is not None
    return str(request.response["id"])


def pay(client: Any, fake: FakeStripe, buyer: Any, price_id: str, **body: Any) -> Obj:
    """Check out through our API (extra body fields allowed) and pay at Stripe, delivering
    nothing yet; Stripe's completed session (`subscription` and `invoice`, or `payment_intent`)."""
    rv = start_checkout(client, buyer, price_id, **body)
    assert rv.status_code == 201, rv.get_json()
    return fake.complete_session(stripe_session_id(rv))


def completed(client: Any, session: Obj) -> None:
    """Deliver `checkout.session.completed` for a session Stripe completed; it must be accepted."""
    rv = deliver(client, make_event("checkout.session.completed", session))
    assert rv.status_code == 200, rv.get_data(as_text=True)


def _paid_and_delivered(client: Any, fake: FakeStripe, buyer: Any, price_id: str) -> dict[str, Any]:
    session = pay(client, fake, buyer, price_id)
    completed(client, session)
    body = checkout_status(client, buyer, session["metadata"]["checkout_session_id"])
    assert body["status"] == "complete", body
    return body


def subscribe(client: Any, fake: FakeStripe, buyer: Any, price_id: str) -> str:
    """Check out a recurring price, pay at Stripe, deliver the completion; our subscription id."""
    return str(_paid_and_delivered(client, fake, buyer, price_id)["subscription_id"])


def buy(client: Any, fake: FakeStripe, buyer: Any, price_id: str) -> str:
    """Check out a one-off price, pay at Stripe, deliver the completion; our purchase id."""
    return str(_paid_and_delivered(client, fake, buyer, price_id)["purchase_id"])


def deliver(client: Any, event: dict[str, Any], **sign: Any) -> Any:
    """POST a signed event to the webhook endpoint, as Stripe would."""
    payload, headers = signed_event(event, **sign)
    return client.post("/v1/webhooks/stripe", data=payload, headers=headers)


# Fixtures (registered for every test module by tests/conftest.py) ------------------------


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def stripe_mode(app: Any, fake_stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch) -> FakeStripe:
    """The app talks to the fake through the real Stripe gateway and accepts its webhooks.
    The SDK retries as configured, without its back-off sleeps (0.5 s and more each)."""
    monkeypatch.setattr(stripe_http.HTTPClient, "INITIAL_DELAY", 0)
    monkeypatch.setattr(stripe_http.HTTPClient, "MAX_DELAY", 0)
    gateway = StripeGateway(
        "sk_test_123",
        api_base=fake_stripe.url,
        max_network_retries=2,
        timeout=5,
        webhook_secrets=[WEBHOOK_SECRET],
    )
    monkeypatch.setitem(app.extensions, "billing.gateway", gateway)
    return fake_stripe


@pytest.fixture
def seller(client: Any, creator: Any, stripe_mode: FakeStripe) -> Any:
    """The `creator` fixture (cora), onboarded at the fake and able to take charges; `acct` is set."""
    creator["acct"] = onboard(client, stripe_mode, creator)
    return creator


@pytest.fixture
def tiers(seller: Any, make_offering: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The seller's two membership tiers: Supporter (900 a month) and Patron (2000 a month)."""
    return (
        make_offering(seller, amount=900, title="Supporter"),
        make_offering(seller, amount=2000, title="Patron"),
    )


@pytest.fixture
def product(seller: Any, make_offering: Any) -> dict[str, Any]:
    """The seller's one-off product: an Ebook at 2500, delivered by a link."""
    return make_offering(seller, kind="product", amount=2500, title="Ebook", delivery="https://files/ebook")
