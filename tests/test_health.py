from __future__ import annotations

from sqlalchemy.exc import OperationalError

from service.extensions import db

from .conftest import assert_problem


def test_healthz(client):
    rv = client.get("/healthz")
    assert rv.status_code == 200 and rv.get_json() == {"status": "ok"}


def test_readyz_when_database_answers(client):
    assert client.get("/readyz").get_json() == {"status": "ok"}


def test_readyz_is_503_when_database_does_not_answer(client, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(db.session, "execute", down)
    rv = client.get("/readyz")
    assert_problem(rv, 503)
    assert rv.headers["Retry-After"]


def test_database_outage_on_any_route_is_503_not_500(client, alice, monkeypatch):
    from service.accounts import service

    def down(*args, **kwargs):
        raise OperationalError("SELECT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(service, "authenticate_access_token", down)
    assert_problem(client.get("/v1/me", headers=alice.headers), 503, "database_unavailable")


def test_docs_are_served_with_local_assets(client):
    rv = client.get("/docs")
    assert rv.status_code == 200 and b"swagger-ui" in rv.data
    assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200


def test_cors_is_closed_unless_configured(client):
    rv = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in rv.headers
