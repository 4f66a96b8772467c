"""Liveness and readiness probes."""

from __future__ import annotations

import marshmallow as ma
from sqlalchemy import text

from .common.errors import ServiceUnavailable
from .common.http import Blueprint
from .common.schemas import BaseSchema
from .extensions import db

blp = Blueprint("health", __name__, description="Probes for load balancers and orchestrators")


class StatusSchema(BaseSchema):
    status = ma.fields.String(required=True)


@blp.route("/healthz", methods=["GET"])
@blp.response(200, StatusSchema)
def healthz():
    """The process is up"""
    return {"status": "ok"}


@blp.route("/readyz", methods=["GET"])
@blp.response(200, StatusSchema)
@blp.doc(responses={503: "SERVICE_UNAVAILABLE"})
def readyz():
    """The database answers"""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the database means "not ready"
        db.session.rollback()
        raise ServiceUnavailable("The database does not answer.") from exc
    return {"status": "ok"}
