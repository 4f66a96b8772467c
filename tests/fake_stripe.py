"""A local HTTP fake of the Stripe API, for tests that run the real SDK offline.

The fake is stateful (objects in a dict, by id), records every request it gets
(method, path, form parameters parsed into nested dicts and lists, headers),
replays the first answer for a repeated `Idempotency-Key` as Stripe does, and
answers in the shapes of the SDK's pinned API version (endive): billing periods
on the subscription items, an invoice's subscription under
`parent.subscription_details.subscription`.

Tests drive the "other side" of Stripe through helper methods: completing a
checkout, changing a subscription or an account, scripting failures, and
building signed webhook events.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import pytest
import stripe
from werkzeug.datastructures import Headers
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from service.billing.stripe_gateway import StripeGateway

API_VERSION = stripe.api_version
WEBHOOK_SECRET = "whsec_test"
DAY = 86400


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
    """`a[b][0][c]=v&x=y` -> {"a": {"b": [{"c": "v"}]}, "x": "y"} (values stay strings)."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        head, _, rest = key.partition("[")
        parts = [head] + (re.findall(r"([^\[\]]*)\]", rest) if rest else [])
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _listify(root)


def _bool(value: Any) -> bool:
    return value in (True, "true")


def _int(value: Any, default: int | None = None) -> int | None:
    return default if value in (None, "") else int(value)


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


# The fake -----------------------------------------------------------------------


class FakeStripe:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.requests: list[RecordedRequest] = []
        self.url = ""
        self._private: dict[str, dict[str, Any]] = {}  # what Stripe keeps but does not show
        self._replies: dict[str, tuple[tuple[Any, ...], int, dict[str, Any]]] = {}
        self._failures: list[dict[str, Any]] = []
        self._lock = threading.RLock()
        self._counter = itertools.count(1)
        self._server: Any = None
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., dict[str, Any]]]] = [
            (method, re.compile(f"^{pattern}$"), handler)
            for method, pattern, handler in [
                ("POST", r"/v1/customers", self._create_customer),
                ("POST", r"/v1/accounts", self._create_account),
                ("GET", r"/v1/accounts/([^/]+)", self._get_account),
                ("POST", r"/v1/account_links", self._create_account_link),
                ("POST", r"/v1/prices", self._create_price),
                ("POST", r"/v1/checkout/sessions", self._create_checkout_session),
                ("GET", r"/v1/checkout/sessions/([^/]+)", self._get_checkout_session),
                ("POST", r"/v1/billing_portal/sessions", self._create_portal_session),
                ("GET", r"/v1/subscriptions/([^/]+)", self._get_subscription),
                ("POST", r"/v1/subscriptions/([^/]+)", self._update_subscription),
                ("DELETE", r"/v1/subscriptions/([^/]+)", self._cancel_subscription),
                ("POST", r"/v1/subscription_schedules", self._create_schedule),
                ("POST", r"/v1/subscription_schedules/([^/]+)", self._update_schedule),
                ("POST", r"/v1/refunds", self._create_refund),
                ("POST", r"/v1/coupons", self._create_coupon),
            ]
        ]

    # Server -------------------------------------------------------------------
    def start(self) -> None:
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
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
            recorded.status, recorded.response = status, copy.deepcopy(body)
        response = Response(json.dumps(body), status=status, mimetype="application/json", headers=extra)
        response.headers["Request-Id"] = f"req_{secrets.token_hex(7)}"
        return response(environ, start_response)

    def _dispatch(self, req: RecordedRequest) -> tuple[int, dict[str, Any], dict[str, str]]:
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
            return status, copy.deepcopy(body), {"Idempotent-Replayed": "true"}
        status, body = self._route(req)
        if key:
            self._replies[key] = (fingerprint, status, copy.deepcopy(body))
        return status, body, {}

    def _route(self, req: RecordedRequest) -> tuple[int, dict[str, Any]]:
        for method, pattern, handler in self._routes:
            match = pattern.match(req.path)
            if method == req.method and match:
                try:
                    return 200, copy.deepcopy(handler(req.params, *match.groups()))
                except StripeFault as fault:
                    return fault.status, fault.body
        return 404, StripeFault(404, f"Unrecognized request URL ({req.method}: {req.path}).").body

    # Helpers for tests -----------------------------------------------------------
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

    def get(self, object_id: str) -> dict[str, Any]:
        """A copy of a stored object, as a retrieve would return it."""
        with self._lock:
            return copy.deepcopy(self.objects[object_id])

    def only(self, object_type: str) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(o) for o in self.objects.values() if o.get("object") == object_type]

    def add_price(self, amount: int, currency: str = "eur", interval: str | None = "month") -> dict[str, Any]:
        """A price made at Stripe outside our API (e.g. in the Dashboard)."""
        params: dict[str, Any] = {
            "unit_amount": str(amount),
            "currency": currency,
            "product_data": {"name": "X"},
        }
        if interval:
            params["recurring"] = {"interval": interval}
        with self._lock:
            return copy.deepcopy(self._create_price(params))

    def complete_session(self, session_id: str, paid: bool = True) -> dict[str, Any]:
        """The buyer finished the hosted page: a payment intent (payment mode) or a subscription
        with its first invoice (subscription mode) now exists. Returns the session."""
        with self._lock:
            session = self.objects[session_id]
            private = self._private[session_id]
            price = self.objects[private["price"]]
            session.update(status="complete", payment_status="paid" if paid else "unpaid")
            if session["mode"] == "payment":
                data = private.get("payment_intent_data") or {}
                intent = self._save(
                    {
                        "id": self._id("pi"),
                        "object": "payment_intent",
                        "amount": session["amount_total"],
                        "amount_received": session["amount_total"] if paid else 0,
                        "currency": session["currency"],
                        "customer": session["customer"],
                        "status": "succeeded" if paid else "processing",
                        "latest_charge": self._id("ch"),
                        "application_fee_amount": _int(data.get("application_fee_amount")),
                        "transfer_data": data.get("transfer_data"),
                        "metadata": data.get("metadata") or {},
                    }
                )
                self._private[intent["id"]] = {"refunded": 0}
                session["payment_intent"] = intent["id"]
            else:
                data = private.get("subscription_data") or {}
                sub = self.add_subscription(
                    price=price["id"],
                    customer=session["customer"],
                    metadata=data.get("metadata") or {},
                    trial_days=_int(data.get("trial_period_days"), 0) or 0,
                    status="active" if paid else "incomplete",
                )
                sub["application_fee_percent"] = float(data.get("application_fee_percent") or 0)
                sub["transfer_data"] = data.get("transfer_data")
                invoice = self.make_invoice(
                    sub["id"],
                    amount=0 if sub["status"] == "trialing" else price["unit_amount"],
                    billing_reason="subscription_create",
                    paid=paid,
                )
                sub["latest_invoice"] = session["invoice"] = invoice["id"]
                session["subscription"] = sub["id"]
            return copy.deepcopy(session)

    def add_subscription(
        self,
        *,
        price: str,
        customer: str | None = None,
        metadata: dict[str, str] | None = None,
        status: str = "active",
        trial_days: int = 0,
        start: int | None = None,
    ) -> dict[str, Any]:
        """A subscription that exists at Stripe (made by Checkout, the Dashboard or the portal)."""
        with self._lock:
            price_obj = self.objects[price]
            start = start or _now()
            end = start + trial_days * DAY if trial_days else _period_end(start, price_obj)
            sub_id = self._id("sub")
            return self._save(
                {
                    "id": sub_id,
                    "object": "subscription",
                    "customer": customer or self._id("cus"),
                    "status": "trialing" if trial_days else status,
                    "metadata": dict(metadata or {}),
                    "cancel_at_period_end": False,
                    "cancel_at": None,
                    "canceled_at": None,
                    "ended_at": None,
                    "created": start,
                    "start_date": start,
                    "trial_start": start if trial_days else None,
                    "trial_end": end if trial_days else None,
                    "billing_mode": {"type": "flexible"},
                    "items": {
                        "object": "list",
                        "has_more": False,
                        "url": f"/v1/subscription_items?subscription={sub_id}",
                        "data": [
                            {
                                "id": self._id("si"),
                                "object": "subscription_item",
                                "price": copy.deepcopy(price_obj),
                                "quantity": 1,
                                "subscription": sub_id,
                                "current_period_start": start,
                                "current_period_end": end,
                            }
                        ],
                    },
                    "latest_invoice": None,
                    "pending_update": None,
                    "schedule": None,
                    "application_fee_percent": None,
                    "transfer_data": None,
                    "livemode": False,
                }
            )

    def set_subscription(self, sub_id: str, **fields: Any) -> dict[str, Any]:
        """Change a subscription at Stripe (renewal, dunning, portal...). `price` and the
        `current_period_*` fields go to the item, everything else to the subscription."""
        with self._lock:
            sub = self.objects[sub_id]
            item = sub["items"]["data"][0]
            if "price" in fields:
                item["price"] = copy.deepcopy(self.objects[fields.pop("price")])
            for name in ("current_period_start", "current_period_end"):
                if name in fields:
                    item[name] = fields.pop(name)
            sub.update(fields)
            return copy.deepcopy(sub)

    def set_account(self, account_id: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            self.objects[account_id].update(fields)
            return copy.deepcopy(self.objects[account_id])

    def enable_account(self, account_id: str) -> dict[str, Any]:
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
    ) -> dict[str, Any]:
        """An invoice of the subscription for its current period (stored, endive shape)."""
        with self._lock:
            sub = self.objects[sub_id]
            item = sub["items"]["data"][0]
            price = item["price"]
            amount = price["unit_amount"] if amount is None else amount
            details = {"subscription": sub_id, "metadata": dict(sub["metadata"])}
            period = {"start": item["current_period_start"], "end": item["current_period_end"]}
            return self._save(
                {
                    "id": self._id("in"),
                    "object": "invoice",
                    "customer": sub["customer"],
                    "status": "paid" if paid else "open",
                    "amount_due": amount,
                    "amount_paid": amount if paid else 0,
                    "amount_remaining": 0 if paid else amount,
                    "currency": price["currency"],
                    "billing_reason": billing_reason,
                    "attempt_count": 1,
                    "next_payment_attempt": None if paid else _now() + 3 * DAY,
                    "hosted_invoice_url": f"https://invoice.stripe.com/i/{secrets.token_hex(8)}",
                    "created": _now(),
                    "period_start": period["start"],
                    "period_end": period["end"],
                    "parent": {
                        "type": "subscription_details",
                        "quote_details": None,
                        "subscription_details": details,
                    },
                    "lines": {
                        "object": "list",
                        "has_more": False,
                        "data": [
                            {
                                "id": self._id("il"),
                                "object": "line_item",
                                "amount": amount,
                                "currency": price["currency"],
                                "period": period,
                                "pricing": {
                                    "type": "price_details",
                                    "price_details": {"price": price["id"], "product": price["product"]},
                                },
                                "parent": {
                                    "type": "subscription_item_details",
                                    "subscription_item_details": {
                                        "subscription": sub_id,
                                        "subscription_item": item["id"],
                                    },
                                },
                            }
                        ],
                    },
                    "livemode": False,
                }
            )

    def charge_for(self, payment_intent: str, *, amount_refunded: int | None = None) -> dict[str, Any]:
        """The charge of a payment intent, as `charge.*` events carry it."""
        with self._lock:
            intent = self.objects[payment_intent]
            refunded = (
                self._private[payment_intent]["refunded"] if amount_refunded is None else amount_refunded
            )
            return {
                "id": intent["latest_charge"],
                "object": "charge",
                "amount": intent["amount"],
                "amount_captured": intent["amount"],
                "amount_refunded": refunded,
                "refunded": refunded >= intent["amount"],
                "currency": intent["currency"],
                "customer": intent["customer"],
                "payment_intent": payment_intent,
                "status": "succeeded",
                "livemode": False,
            }

    def dispute_for(self, payment_intent: str, *, status: str = "needs_response") -> dict[str, Any]:
        with self._lock:
            intent = self.objects[payment_intent]
            return {
                "id": "dp_" + intent["latest_charge"][3:],
                "object": "dispute",
                "amount": intent["amount"],
                "currency": intent["currency"],
                "charge": intent["latest_charge"],
                "payment_intent": payment_intent,
                "reason": "fraudulent",
                "status": status,
                "livemode": False,
            }

    # Handlers -------------------------------------------------------------------
    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._counter):06d}{secrets.token_hex(6)}"

    def _save(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj.setdefault("created", _now())
        self.objects[obj["id"]] = obj
        return obj

    def _find(self, object_id: str, object_type: str) -> dict[str, Any]:
        obj = self.objects.get(object_id)
        if obj is None or obj.get("object") != object_type:
            raise _missing(object_type.replace("_", " "), object_id)
        return obj

    def _create_customer(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._save(
            {
                "id": self._id("cus"),
                "object": "customer",
                "email": p.get("email"),
                "name": p.get("name"),
                "metadata": p.get("metadata") or {},
                "balance": 0,
                "livemode": False,
            }
        )

    def _create_account(self, p: dict[str, Any]) -> dict[str, Any]:
        requested = p.get("capabilities") or {}
        return self._save(
            {
                "id": self._id("acct"),
                "object": "account",
                "type": p.get("type", "express"),
                "email": p.get("email"),
                "country": p.get("country", "DE"),
                "default_currency": "eur",
                "charges_enabled": False,
                "payouts_enabled": False,
                "details_submitted": False,
                "capabilities": {name: "inactive" for name in requested},
                "requirements": _requirements(
                    ["external_account", "tos_acceptance.date"], "requirements.past_due"
                ),
                "metadata": p.get("metadata") or {},
            }
        )

    def _get_account(self, p: dict[str, Any], account_id: str) -> dict[str, Any]:
        return self._find(account_id, "account")

    def _create_account_link(self, p: dict[str, Any]) -> dict[str, Any]:
        account = self._find(p.get("account", ""), "account")
        return {
            "object": "account_link",
            "created": _now(),
            "expires_at": _now() + 300,
            "url": f"https://connect.stripe.com/setup/e/{account['id']}/{secrets.token_urlsafe(12)}",
        }

    def _create_price(self, p: dict[str, Any]) -> dict[str, Any]:
        product_id = p.get("product")
        if not product_id:
            product = self._save(
                {
                    "id": self._id("prod"),
                    "object": "product",
                    "name": (p.get("product_data") or {}).get("name"),
                }
            )
            product_id = product["id"]
        recurring = p.get("recurring")
        if recurring:
            recurring = {
                "interval": recurring["interval"],
                "interval_count": _int(recurring.get("interval_count"), 1),
                "usage_type": "licensed",
            }
        return self._save(
            {
                "id": self._id("price"),
                "object": "price",
                "active": True,
                "currency": p["currency"],
                "unit_amount": _int(p["unit_amount"]),
                "product": product_id,
                "recurring": recurring,
                "type": "recurring" if recurring else "one_time",
                "metadata": {},
                "livemode": False,
            }
        )

    def _create_checkout_session(self, p: dict[str, Any]) -> dict[str, Any]:
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
        return self._save(
            {
                "id": session_id,
                "object": "checkout.session",
                "url": f"https://checkout.stripe.com/c/pay/{session_id}",
                "mode": p["mode"],
                "status": "open",
                "payment_status": "unpaid",
                "customer": p.get("customer"),
                "client_reference_id": p.get("client_reference_id"),
                "metadata": p.get("metadata") or {},
                "success_url": p.get("success_url"),
                "cancel_url": p.get("cancel_url"),
                "amount_subtotal": price["unit_amount"],
                "amount_total": price["unit_amount"],
                "currency": price["currency"],
                "discounts": p.get("discounts") or [],
                "subscription": None,
                "payment_intent": None,
                "invoice": None,
                "expires_at": _now() + DAY,
                "livemode": False,
            }
        )

    def _get_checkout_session(self, p: dict[str, Any], session_id: str) -> dict[str, Any]:
        return self._find(session_id, "checkout.session")

    def _create_portal_session(self, p: dict[str, Any]) -> dict[str, Any]:
        self._find(p.get("customer", ""), "customer")
        portal_id = self._id("bps")
        return self._save(
            {
                "id": portal_id,
                "object": "billing_portal.session",
                "customer": p["customer"],
                "return_url": p.get("return_url"),
                "url": f"https://billing.stripe.com/p/session/test_{portal_id}",
                "livemode": False,
            }
        )

    def _get_subscription(self, p: dict[str, Any], sub_id: str) -> dict[str, Any]:
        return self._find(sub_id, "subscription")

    def _update_subscription(self, p: dict[str, Any], sub_id: str) -> dict[str, Any]:
        sub = self._find(sub_id, "subscription")
        if sub["status"] in ("canceled", "incomplete_expired") and set(p) - {"metadata"}:
            raise StripeFault(400, "A canceled subscription can only update its metadata.")
        if "cancel_at_period_end" in p:
            sub["cancel_at_period_end"] = _bool(p["cancel_at_period_end"])
            if not sub["cancel_at_period_end"]:
                sub["cancel_at"] = None
        for change in p.get("items") or []:
            item = next((i for i in sub["items"]["data"] if i["id"] == change.get("id")), None)
            if item is None:
                raise _missing("subscription item", change.get("id", ""))
            if change.get("price"):
                item["price"] = copy.deepcopy(self._find(change["price"], "price"))
        if p.get("items") and p.get("proration_behavior") == "always_invoice":
            sub["latest_invoice"] = self.make_invoice(sub_id, billing_reason="subscription_update")["id"]
        if "discounts" in p:
            sub["discounts"] = p["discounts"]
        sub["metadata"].update(p.get("metadata") or {})
        return sub

    def _cancel_subscription(self, p: dict[str, Any], sub_id: str) -> dict[str, Any]:
        sub = self._find(sub_id, "subscription")
        if sub["status"] != "canceled":
            sub.update(status="canceled", canceled_at=_now(), ended_at=_now())
        return sub

    def _create_schedule(self, p: dict[str, Any]) -> dict[str, Any]:
        sub = self._find(p.get("from_subscription", ""), "subscription")
        if sub.get("schedule"):
            raise StripeFault(400, "The subscription is already attached to a schedule.")
        item = sub["items"]["data"][0]
        phase = {
            "start_date": item["current_period_start"],
            "end_date": item["current_period_end"],
            "items": [{"price": item["price"]["id"], "quantity": 1}],
            "proration_behavior": "create_prorations",
        }
        schedule = self._save(
            {
                "id": self._id("sub_sched"),
                "object": "subscription_schedule",
                "subscription": sub["id"],
                "customer": sub["customer"],
                "status": "active",
                "end_behavior": "release",
                "phases": [phase],
                "current_phase": {"start_date": phase["start_date"], "end_date": phase["end_date"]},
                "metadata": {},
                "livemode": False,
            }
        )
        sub["schedule"] = schedule["id"]
        return schedule

    def _update_schedule(self, p: dict[str, Any], schedule_id: str) -> dict[str, Any]:
        schedule = self._find(schedule_id, "subscription_schedule")
        if "phases" in p:
            phases = []
            for phase in p["phases"]:
                for item in phase.get("items") or []:
                    self._find(item.get("price", ""), "price")
                phases.append(
                    {
                        "start_date": _int(phase.get("start_date")),
                        "end_date": _int(phase.get("end_date")),
                        "items": [{"price": i["price"], "quantity": 1} for i in phase.get("items") or []],
                    }
                )
            schedule["phases"] = phases
        if "end_behavior" in p:
            schedule["end_behavior"] = p["end_behavior"]
        return schedule

    def _create_refund(self, p: dict[str, Any]) -> dict[str, Any]:
        intent = self._find(p.get("payment_intent", ""), "payment_intent")
        state = self._private[intent["id"]]
        remaining = intent["amount"] - state["refunded"]
        amount = _int(p.get("amount"), remaining) or 0
        if amount > remaining:
            raise StripeFault(
                400, "Refund amount is greater than the unrefunded amount.", code="amount_too_large"
            )
        state["refunded"] += amount
        return self._save(
            {
                "id": self._id("re"),
                "object": "refund",
                "amount": amount,
                "currency": intent["currency"],
                "payment_intent": intent["id"],
                "charge": intent["latest_charge"],
                "status": "succeeded",
                "metadata": p.get("metadata") or {},
            }
        )

    def _create_coupon(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._save(
            {
                "id": secrets.token_hex(4).upper(),
                "object": "coupon",
                "amount_off": _int(p.get("amount_off")),
                "percent_off": _int(p.get("percent_off")),
                "currency": p.get("currency"),
                "duration": p.get("duration", "once"),
                "max_redemptions": _int(p.get("max_redemptions")),
                "times_redeemed": 0,
                "valid": True,
                "livemode": False,
            }
        )


def _now() -> int:
    return int(time.time())


def _period_end(start: int, price: dict[str, Any]) -> int:
    recurring = price.get("recurring") or {"interval": "month", "interval_count": 1}
    days = 365 if recurring["interval"] == "year" else 30 * recurring["interval_count"]
    return start + days * DAY


def _requirements(due: list[str], disabled_reason: str | None) -> dict[str, Any]:
    return {
        "currently_due": list(due),
        "eventually_due": list(due),
        "past_due": list(due),
        "disabled_reason": disabled_reason,
        "current_deadline": None,
    }


# Events ---------------------------------------------------------------------------

_event_ids = itertools.count(1)


def make_event(
    event_type: str,
    obj: dict[str, Any],
    *,
    created: int | None = None,
    account: str | None = None,
    event_id: str | None = None,
    livemode: bool = False,
) -> dict[str, Any]:
    """A snapshot event as Stripe delivers it to a webhook endpoint."""
    event: dict[str, Any] = {
        "id": event_id or f"evt_{next(_event_ids):06d}{secrets.token_hex(6)}",
        "object": "event",
        "api_version": API_VERSION,
        "created": created or _now(),
        "data": {"object": copy.deepcopy(obj)},
        "livemode": livemode,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
    if account:
        event["account"] = account
    return event


def signed_event(
    event: dict[str, Any], secret: str = WEBHOOK_SECRET, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """The exact bytes of an event and a `Stripe-Signature` header computed over them."""
    payload = json.dumps(event, ensure_ascii=False).encode("utf-8")
    header = stripe.WebhookSignature.generate_signature_header(payload.decode("utf-8"), secret, timestamp)
    return payload, {"Stripe-Signature": header, "Content-Type": "application/json"}


# Driving the app against the fake ---------------------------------------------------

SUCCESS_URL = "https://app.example.com/checkout/done"
CANCEL_URL = "https://app.example.com/checkout/cancelled"


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


def start_checkout(client: Any, buyer: Any, price_id: str, **headers: str) -> Any:
    body = {"price_id": price_id, "success_url": SUCCESS_URL, "cancel_url": CANCEL_URL}
    return client.post("/v1/checkout/sessions", json=body, headers={**buyer.headers, **headers})


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


def subscribe(client: Any, fake: FakeStripe, buyer: Any, price_id: str) -> str:
    """Check out a recurring price, pay at Stripe, deliver the completion; our subscription id."""
    rv = start_checkout(client, buyer, price_id)
    assert rv.status_code == 201, rv.get_json()
    session = fake.complete_session(stripe_session_id(rv))
    assert deliver(client, make_event("checkout.session.completed", session)).status_code == 200
    body = client.get(f"/v1/checkout/sessions/{rv.get_json()['id']}", headers=buyer.headers).get_json()
    assert body["status"] == "complete", body
    return str(body["subscription_id"])


def buy(client: Any, fake: FakeStripe, buyer: Any, price_id: str) -> str:
    """Check out a one-off price, pay at Stripe, deliver the completion; our purchase id."""
    rv = start_checkout(client, buyer, price_id)
    assert rv.status_code == 201, rv.get_json()
    session = fake.complete_session(stripe_session_id(rv))
    assert deliver(client, make_event("checkout.session.completed", session)).status_code == 200
    body = client.get(f"/v1/checkout/sessions/{rv.get_json()['id']}", headers=buyer.headers).get_json()
    assert body["status"] == "complete", body
    return str(body["purchase_id"])


def deliver(client: Any, event: dict[str, Any], **sign: Any) -> Any:
    """POST a signed event to the webhook endpoint, as Stripe would."""
    payload, headers = signed_event(event, **sign)
    return client.post("/v1/webhooks/stripe", data=payload, headers=headers)


# Fixtures ------------------------------------------------------------------------------


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def stripe_mode(app: Any, fake_stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch) -> FakeStripe:
    """The app talks to the fake through the real Stripe gateway and accepts its webhooks."""
    gateway = StripeGateway("sk_test_123", api_base=fake_stripe.url, max_network_retries=2, timeout=5)
    monkeypatch.setitem(app.extensions, "billing.gateway", gateway)
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRETS", [WEBHOOK_SECRET])
    return fake_stripe


@pytest.fixture
def seller(client: Any, creator: Any, stripe_mode: FakeStripe) -> Any:
    """The `creator` fixture (cora), onboarded at the fake and able to take charges; `acct` is set."""
    creator["acct"] = onboard(client, stripe_mode, creator)
    return creator
