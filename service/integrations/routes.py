"""Webhook endpoints, their delivery log, and the events feed (owner only)."""

from __future__ import annotations

import uuid

from ..accounts.auth import auth_required, current_user
from ..common.http import Blueprint
from ..common.pagination import CursorArgs, page_schema
from ..creators import service as creators
from ..extensions import db
from . import endpoints, events
from .schemas import (
    AttemptSchema,
    DeliverySchema,
    EndpointCreateSchema,
    EndpointSchema,
    EndpointUpdateSchema,
    EndpointWithSecretSchema,
    EventPageSchema,
    EventsArgs,
)

blp = Blueprint("integrations", __name__, url_prefix="/v1", description="Webhooks out and the events feed")

OWNER_ONLY = {403: "FORBIDDEN", 404: "NOT_FOUND"}
ENDPOINTS = "/creators/<string:handle>/webhook-endpoints"
ONE = ENDPOINTS + "/<uuid:endpoint_id>"
# Changing an endpoint (they carry signing secrets) takes a login, never an API key:
# a leaked key must not be able to point a creator's events somewhere else.


def _endpoint(handle: str, endpoint_id: uuid.UUID):
    creator = creators.get_owned(user=current_user(), handle=handle)
    return endpoints.get(creator=creator, endpoint_id=endpoint_id)


@blp.route(ENDPOINTS, methods=["POST"])
@auth_required(api_key=False)
@blp.arguments(EndpointCreateSchema)
@blp.response(201, EndpointWithSecretSchema)
@blp.doc(responses={**OWNER_ONLY, 409: "CONFLICT"})
def create_endpoint(data, handle: str):
    """Register a webhook endpoint

    The answer holds the signing `secret` (`whsec_…`); it is not shown again. Deliveries
    follow the Standard Webhooks specification (`webhook-id`, `webhook-timestamp`,
    `webhook-signature`).
    """
    creator = creators.get_owned(user=current_user(), handle=handle)
    endpoint = endpoints.create(
        creator=creator, url=data["url"], events=data["events"], description=data.get("description")
    )
    db.session.commit()
    return endpoint


@blp.route(ENDPOINTS, methods=["GET"])
@auth_required()
@blp.response(200, EndpointSchema(many=True))
@blp.doc(responses=OWNER_ONLY)
def list_endpoints(handle: str):
    """Your webhook endpoints"""
    return endpoints.list_endpoints(creator=creators.get_owned(user=current_user(), handle=handle))


@blp.route(ONE, methods=["GET"])
@auth_required()
@blp.response(200, EndpointSchema)
@blp.doc(responses=OWNER_ONLY)
def get_endpoint(handle: str, endpoint_id: uuid.UUID):
    """One of your webhook endpoints"""
    return _endpoint(handle, endpoint_id)


@blp.route(ONE, methods=["PATCH"])
@auth_required(api_key=False)
@blp.arguments(EndpointUpdateSchema)
@blp.response(200, EndpointSchema)
@blp.doc(responses=OWNER_ONLY)
def update_endpoint(data, handle: str, endpoint_id: uuid.UUID):
    """Change the URL, the events, or enable/disable the endpoint

    Enabling a disabled endpoint clears its `disabled_reason`.
    """
    endpoint = endpoints.update(_endpoint(handle, endpoint_id), **data)
    db.session.commit()
    return endpoint


@blp.route(ONE, methods=["DELETE"])
@auth_required(api_key=False)
@blp.response(204)
@blp.doc(responses=OWNER_ONLY)
def delete_endpoint(handle: str, endpoint_id: uuid.UUID):
    """Remove the endpoint and its delivery log"""
    endpoints.remove(_endpoint(handle, endpoint_id))
    db.session.commit()


@blp.route(ONE + "/test", methods=["POST"])
@auth_required(api_key=False)
@blp.response(202, DeliverySchema)
@blp.doc(responses={**OWNER_ONLY, 409: "CONFLICT"})
def test_endpoint(handle: str, endpoint_id: uuid.UUID):
    """Send a `ping` delivery (once, not retried); its result shows in the log"""
    sent = endpoints.ping(_endpoint(handle, endpoint_id))
    db.session.commit()
    return sent


@blp.route(ONE + "/rotate-secret", methods=["POST"])
@auth_required(api_key=False)
@blp.response(200, EndpointWithSecretSchema)
@blp.doc(responses=OWNER_ONLY)
def rotate_secret(handle: str, endpoint_id: uuid.UUID):
    """A new signing secret

    For 24 hours deliveries carry two signatures, one with each secret, so receivers can
    switch over.
    """
    endpoint = endpoints.rotate_secret(_endpoint(handle, endpoint_id))
    db.session.commit()
    return endpoint


@blp.route(ONE + "/deliveries", methods=["GET"])
@auth_required()
@blp.arguments(CursorArgs, location="query")
@blp.response(200, page_schema(AttemptSchema))
@blp.doc(responses=OWNER_ONLY)
def list_deliveries(args, handle: str, endpoint_id: uuid.UUID):
    """The delivery log: each attempt, newest first"""
    endpoint = _endpoint(handle, endpoint_id)
    return endpoints.attempts(endpoint=endpoint, limit=args["limit"], cursor=args["cursor"])


@blp.route(ONE + "/deliveries/<uuid:delivery_id>/retry", methods=["POST"])
@auth_required(api_key=False)
@blp.response(202, DeliverySchema)
@blp.doc(responses={**OWNER_ONLY, 409: "CONFLICT"})
def retry_delivery(handle: str, endpoint_id: uuid.UUID, delivery_id: uuid.UUID):
    """Send a delivery again now; if that fails, its retry schedule goes on"""
    sent = endpoints.retry(_endpoint(handle, endpoint_id), delivery_id)
    db.session.commit()
    return sent


@blp.route("/creators/<string:handle>/events", methods=["GET"])
@auth_required()
@blp.arguments(EventsArgs, location="query")
@blp.response(200, EventPageSchema)
@blp.doc(responses={**OWNER_ONLY, 422: "UNPROCESSABLE_ENTITY"})
def list_events(args, handle: str):
    """Your events, oldest first, after the event `after` (kept 30 days)

    The same events the webhooks send, in commit order: pass the last `id` you saw as
    `after` to resume exactly there. `types` filters by comma-separated event types.
    """
    creator = creators.get_owned(user=current_user(), handle=handle)
    return events.feed(creator=creator, after=args["after"], types=args["types"], limit=args["limit"])
