"""What production turns on and off by itself: HSTS, the interactive docs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Builds an app from the environment alone, as gunicorn would, and reports what it answers.
PROBE = """
import json
from service import create_app
client = create_app().test_client()
answers = {}
for path in ("/", "/docs", "/docs/assets/swagger-ui-bundle.js", "/openapi.json", "/healthz"):
    rv = client.get(path)
    answers[path] = {"status": rv.status_code, "hsts": rv.headers.get("Strict-Transport-Security")}
print(json.dumps(answers))
"""

PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": "x" * 40,
    # Never connected to: the probe asks nothing of the database.
    "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
    "STRIPE_SECRET_KEY": "sk_test_probe",
    "STRIPE_WEBHOOK_SECRET": "whsec_probe",
    # Nor is Redis: the probe enqueues nothing and its limits are not reached.
    "REDIS_URL": "redis://127.0.0.1:1/0",
    # Nor the mail server: the probe sends nothing.
    "SMTP_URL": "smtp://127.0.0.1:1",
}


def _probe(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "API_DOCS", "APP_ENV"))}
    done = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def production():
    return _probe(**PRODUCTION)


def test_production_sends_hsts_on_every_answer(production):
    assert {answer["hsts"] for answer in production.values()} == {"max-age=63072000; includeSubDomains"}
    assert production["/docs"]["status"] == 404  # an error answer carries it too


def test_production_hides_the_interactive_docs_but_not_the_contract(production):
    assert production["/"]["status"] == 404
    assert production["/docs"]["status"] == 404
    assert production["/docs/assets/swagger-ui-bundle.js"]["status"] == 404
    assert production["/openapi.json"]["status"] == 200


def test_production_may_show_the_docs_when_asked():
    answers = _probe(**PRODUCTION, API_DOCS_ENABLED="true")
    assert answers["/docs"]["status"] == 200
    assert answers["/"]["status"] == 302


def test_development_has_no_hsts(client):
    assert "Strict-Transport-Security" not in client.get("/healthz").headers
    assert "Strict-Transport-Security" not in client.get("/v1/nothing-here").headers


def test_root_leads_to_the_docs(client):
    rv = client.get("/")
    assert rv.status_code == 302 and rv.headers["Location"] == "/docs"


def test_the_docs_page_does_not_keep_tokens_in_browser_storage(client):
    page = client.get("/docs").get_data(as_text=True)
    assert '"persistAuthorization": false' in page
