"""Domain errors and their RFC 9457 (problem+json) rendering.

Services raise a `DomainError` subclass; one handler renders it. Werkzeug's HTTP
errors and webargs' validation errors are rendered by the same function, so a
client only ever sees one error shape.
"""

from __future__ import annotations

import http
from typing import Any

from flask import Response, current_app, g, json, request

PROBLEM_MEDIA_TYPE = "application/problem+json"


class DomainError(Exception):
    status = 400
    code = "bad_request"
    title = "Bad request"
    headers: dict[str, str] = {}

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"
    title = "Authentication required"
    headers = {"WWW-Authenticate": 'Bearer realm="api"'}


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    title = "Not allowed"


class NotFound(DomainError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


class Unprocessable(DomainError):
    status = 422
    code = "unprocessable"
    title = "The request cannot be processed"


class TooManyRequests(DomainError):
    status = 429
    code = "rate_limited"
    title = "Too many requests; wait before trying again"

    def __init__(self, detail: str | None = None, *, retry_after: int, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers = {"Retry-After": str(max(1, retry_after))}


class ServiceUnavailable(DomainError):
    status = 503
    code = "service_unavailable"
    title = "Service unavailable"
    headers = {"Retry-After": "5"}


def problem_response(
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    code: str | None = None,
    errors: Any = None,
    headers: dict[str, str] | None = None,
    plain: bool = False,
    **extra: Any,
) -> Response:
    """Build an `application/problem+json` response.

    `plain` marks a bare HTTP error whose status says it all (type about:blank).
    """
    phrase = http.HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": "about:blank" if plain or not code else f"/problems/{code}",
        "title": title or phrase,
        "status": status,
        "detail": detail or title or phrase,
    }
    if request:
        body["instance"] = request.path
    if code:
        body["code"] = code
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    request_id = g.get("request_id") if request else None
    if request_id:
        body["request_id"] = request_id
    response = current_app.response_class(json.dumps(body), status=status, mimetype=PROBLEM_MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def render_domain_error(error: DomainError) -> Response:
    return problem_response(
        error.status,
        title=error.title,
        detail=error.detail,
        code=error.code,
        headers=dict(error.headers),
        **error.extra,
    )
