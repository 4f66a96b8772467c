"""Hostile and malformed input gets a problem+json answer, never a 500 or HTML."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from .conftest import TEST_PASSWORD, assert_problem

SIGNUP = "/v1/auth/signup"


def post_raw(client, path, data, content_type="application/json", **kw):
    return client.post(path, data=data, content_type=content_type, **kw)


def test_truncated_json_returns_400(client):
    body = assert_problem(post_raw(client, SIGNUP, b'{"email": "x"'), 400, "invalid_json")
    assert body["detail"] == "The request body is not valid JSON."


def test_invalid_utf8_returns_400(client):
    assert_problem(post_raw(client, SIGNUP, b'{"email": "\xff\xfe"}'), 400)


@pytest.mark.parametrize("body", [b"[]", b"null", b'"x"', b"42", b"true"])
def test_non_object_json_body_returns_422(client, body):
    assert_problem(post_raw(client, SIGNUP, body), 422)


def test_deeply_nested_json_does_not_crash(client):
    rv = post_raw(client, SIGNUP, b"[" * 100_000 + b"]" * 100_000)
    assert rv.status_code in (400, 413, 422)
    assert rv.mimetype == "application/problem+json"


def test_body_over_one_mebibyte_returns_413(client):
    big = b'{"email": "' + b"a" * (1024 * 1024 + 10) + b'"}'
    assert_problem(post_raw(client, SIGNUP, big), 413)


def test_chunked_body_over_the_limit_returns_413(client):
    import io

    stream = io.BytesIO(b'{"display_name": "' + b"a" * (2 * 1024 * 1024) + b'"}')
    rv = client.post(
        SIGNUP,
        input_stream=stream,
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        # What gunicorn sets for a chunked request with no Content-Length.
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert_problem(rv, 413)


def test_form_body_on_json_route_returns_415(client):
    rv = client.post(SIGNUP, data={"email": "a@example.com"})
    assert_problem(rv, 415)


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_nan_and_infinity_are_refused_with_422(client, literal):
    body = (
        b'{"email": "n@example.com", "password": "'
        + TEST_PASSWORD.encode()
        + b'", "display_name": '
        + literal
        + b"}"
    )
    errors = assert_problem(post_raw(client, SIGNUP, body), 422)["errors"]
    assert "display_name" in errors


def test_nul_byte_in_a_string_returns_422_not_a_driver_error(client):
    rv = client.post(
        SIGNUP, json={"email": "n@example.com", "password": TEST_PASSWORD, "display_name": "a\x00b"}
    )
    assert "display_name" in assert_problem(rv, 422)["errors"]
    rv = client.post("/v1/auth/login", json={"email": "a\x00@example.com", "password": "x"})
    assert_problem(rv, 422)


def test_nul_byte_in_path_is_404(client):
    assert_problem(client.get("/v1/me/api-keys/%00"), 404)


def test_unicode_display_name_round_trips(client):
    name = "Zoë 山田 🎨 \u202eRTL"
    rv = client.post(SIGNUP, json={"email": "z@example.com", "password": TEST_PASSWORD, "display_name": name})
    assert rv.status_code == 201
    assert rv.get_json()["user"]["display_name"] == name


def test_very_long_display_name_returns_422_naming_the_field(client):
    rv = client.post(
        SIGNUP, json={"email": "l@example.com", "password": TEST_PASSWORD, "display_name": "x" * 10_000}
    )
    assert list(assert_problem(rv, 422)["errors"]) == ["display_name"]


def test_markup_is_stored_as_plain_text(client):
    name = "<script>alert(1)</script>"
    rv = client.post(SIGNUP, json={"email": "s@example.com", "password": TEST_PASSWORD, "display_name": name})
    assert rv.get_json()["user"]["display_name"] == name
    assert rv.mimetype == "application/json"
    assert rv.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("email", ["' OR 1=1 --", '"; DROP TABLE users;--'])
def test_sql_in_login_is_just_text(client, alice, email):
    assert_problem(client.post("/v1/auth/login", json={"email": email, "password": "whatever!"}), 401)


def test_unknown_route_returns_problem_404(client):
    body = assert_problem(client.get("/v1/does-not-exist"), 404)
    assert body["type"] == "about:blank"


def test_wrong_method_returns_405_with_allow(client):
    rv = client.put("/v1/auth/login", json={})
    assert_problem(rv, 405)
    assert "POST" in rv.headers["Allow"]


def test_integer_field_rejects_booleans_floats_and_strings():
    import marshmallow as ma

    from service.common.schemas import BaseSchema, StrictInteger

    class S(BaseSchema):
        n = StrictInteger(required=True)

    for bad in (True, 9.99, "999", 1e3, float("nan")):
        with pytest.raises(ma.ValidationError):
            S().load({"n": bad})
    assert S().load({"n": 500}) == {"n": 500}


def test_unexpected_exception_returns_generic_500_without_trace(client, monkeypatch):
    from service.accounts import service

    def boom(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(service, "log_in", boom)
    rv = client.post("/v1/auth/login", json={"email": "a@example.com", "password": "whatever!"})
    assert_problem(rv, 500, "internal_error")
    assert "secret internals" not in rv.get_data(as_text=True)


def test_lone_surrogate_in_a_string_returns_422_not_a_driver_error(client):
    body = b'{"email": "s@example.com", "password": "long enough pass", "display_name": "a\\ud800b"}'
    assert "display_name" in assert_problem(post_raw(client, SIGNUP, body), 422)["errors"]


def test_a_url_over_the_limit_is_a_414_problem(client, app):
    limit = app.config["MAX_URL_LENGTH"]
    assert client.get("/healthz?pad=" + "a" * (limit - 20)).status_code == 200
    body = assert_problem(client.get("/healthz?pad=" + "a" * limit), 414, "url_too_long")
    assert body["type"] == "/problems/url_too_long"


def test_a_long_header_is_a_431_problem(client, app):
    limit = app.config["MAX_HEADER_LENGTH"]
    assert client.get("/healthz", headers={"X-Pad": "a" * (limit - 20)}).status_code == 200
    rv = client.get("/healthz", headers={"X-Pad": "a" * limit})
    assert assert_problem(rv, 431, "headers_too_large")["type"] == "/problems/headers_too_large"


def test_too_many_headers_is_a_431_problem(client, app):
    headers = {f"X-Pad-{i}": "1" for i in range(app.config["MAX_HEADER_COUNT"] + 1)}
    assert_problem(client.get("/healthz", headers=headers), 431, "headers_too_large")


def test_the_apps_limits_sit_below_gunicorns(app):
    settings = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
    assert app.config["MAX_URL_LENGTH"] + len("OPTIONS  HTTP/1.1") < settings["limit_request_line"]
    assert app.config["MAX_HEADER_LENGTH"] < settings["limit_request_field_size"]
    assert app.config["MAX_HEADER_COUNT"] < settings["limit_request_fields"]


def test_a_body_over_the_limit_is_a_typed_problem(client):
    rv = post_raw(client, SIGNUP, b"x" * (1024 * 1024 + 1))
    assert assert_problem(rv, 413, "body_too_large")["type"] == "/problems/body_too_large"
