"""flask-smorest glue: one Api that renders every error as problem+json, and a
Blueprint whose request parser refuses non-JSON bodies and absurd nesting."""

from __future__ import annotations

import http
from typing import Any

import flask_smorest
import marshmallow as ma
from flask_smorest.utils import prepare_response
from webargs import core
from webargs.flaskparser import FlaskParser, abort, is_json_request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from .errors import PROBLEM_MEDIA_TYPE, problem_response


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details. Extra members (`code`, `errors`, …) may appear."""

    class Meta:
        unknown = ma.INCLUDE

    type = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String()
    instance = ma.fields.String()
    code = ma.fields.String()
    errors = ma.fields.Dict()
    request_id = ma.fields.String()


_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    414: "url_too_long",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    431: "headers_too_large",
}
# Answers a client acts on (wait, or send less) carry a problem type like the domain's own;
# the other bare HTTP errors say all with their status (type about:blank).
_TYPED = {413, 414, 429, 431}


def _flatten_messages(messages: Any) -> Any:
    """webargs keys errors by location ({"json": {...}}); clients want {field: [msg]}."""
    if not isinstance(messages, dict):
        return messages
    flat: dict[str, Any] = {}
    for location_errors in messages.values():
        if isinstance(location_errors, dict):
            flat.update(location_errors)
        else:
            flat.setdefault("_schema", []).extend(location_errors)
    return flat


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        # Same as flask-smorest's, but errors are documented as problem+json.
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_MEDIA_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        default = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(default, self.spec, PROBLEM_MEDIA_TYPE)
        self.spec.components.response("DEFAULT_ERROR", default, lazy=True)

    def handle_http_exception(self, error: HTTPException):
        status = error.code or 500
        data = getattr(error, "data", None) or {}
        headers = {
            k: v for k, v in error.get_headers() if k.lower() not in {"content-type", "content-length"}
        }
        headers.update(data.get("headers") or {})
        if status == 429 and "Retry-After" not in headers:
            headers["Retry-After"] = str(_seconds_to_wait(error))
        code = data.get("code") or _HTTP_CODES.get(status)
        errors = None
        detail = data.get("message") or error.description
        if "messages" in data and status == 400:
            code, detail = "invalid_json", "The request body is not valid JSON."
        elif "messages" in data:
            errors = _flatten_messages(data["messages"])
            detail = "The request does not match the schema; see errors."
        return problem_response(
            status,
            detail=detail,
            code=code,
            errors=errors,
            headers=headers,
            plain=errors is None and status not in _TYPED,
        )


def _seconds_to_wait(error: HTTPException) -> int:
    """A rate limit's window: the longest a client must wait (Flask-Limiter sets the exact
    Retry-After itself while its headers are on)."""
    runtime_limit = getattr(error, "limit", None)
    item = getattr(runtime_limit, "limit", None)
    return int(item.get_expiry()) if item is not None else 60


def _body(req) -> bytes:
    data = req.get_data(cache=True)
    limit = req.max_content_length
    # A chunked body is cut at the limit without an error; reaching it means there was more.
    if req.content_length is None and limit is not None and len(data) >= limit:
        raise RequestEntityTooLarge()
    return data


class Parser(FlaskParser):
    def _raw_load_json(self, req):
        data = _body(req)
        if not is_json_request(req):
            if data:
                abort(415, message="Send the body as application/json.")
            return core.missing
        try:
            return core.parse_json(data)
        except RecursionError:
            abort(400, messages={"json": ["JSON nested too deeply."]})


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = Parser()
