"""Settings are parsed once, where the environment is read."""

from __future__ import annotations

import gc
import runpy
from decimal import Decimal
from pathlib import Path

import pytest
from gunicorn.config import Config

from service.config import ConfigError, load_config


@pytest.mark.parametrize(
    ("raw", "expected"), [("10", Decimal("10")), ("12.5", Decimal("12.5")), ("", Decimal("10"))]
)
def test_platform_fee_percent_is_an_exact_decimal(monkeypatch, tmp_path, raw, expected):
    monkeypatch.setenv("PLATFORM_FEE_PERCENT", raw)
    assert load_config(str(tmp_path))["PLATFORM_FEE_PERCENT"] == expected


@pytest.mark.parametrize("raw", ["ten", "NaN", "-1", "100.01", "1e400"])
def test_platform_fee_percent_out_of_range_or_not_a_number_is_refused(monkeypatch, tmp_path, raw):
    monkeypatch.setenv("PLATFORM_FEE_PERCENT", raw)
    with pytest.raises(ConfigError, match="PLATFORM_FEE_PERCENT"):
        load_config(str(tmp_path))


def test_the_suite_refuses_a_database_not_named_for_tests(monkeypatch, tmp_path_factory):
    from .conftest import _test_database_url

    monkeypatch.delenv("TEST_DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/creator")
    with pytest.raises(pytest.exit.Exception, match="would wipe"):
        _test_database_url(tmp_path_factory)
    monkeypatch.setenv("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/creator_ci")
    assert _test_database_url(tmp_path_factory).endswith("/creator_ci")


PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": "s" * 40,
    "DATABASE_URL": "postgresql://app@db.internal:5432/app",
    "STRIPE_SECRET_KEY": "sk_test_123",
    "STRIPE_WEBHOOK_SECRET": "whsec_123",
    "SMTP_URL": "smtps://app:secret@mail.internal:465",
}


def test_production_refuses_to_start_without_redis(monkeypatch, tmp_path):
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(ConfigError, match="REDIS_URL"):
        load_config(str(tmp_path))
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6379/0")
    assert load_config(str(tmp_path))["REDIS_URL"] == "redis://cache.internal:6379/0"


def test_production_refuses_the_local_mailbox_and_smtp_urls_are_checked(monkeypatch, tmp_path):
    for name, value in {**PRODUCTION, "REDIS_URL": "redis://cache.internal:6379/0"}.items():
        monkeypatch.setenv(name, value)
    assert load_config(str(tmp_path))["EMAIL_BACKEND"] == "smtp"
    monkeypatch.setenv("EMAIL_BACKEND", "local")
    with pytest.raises(ConfigError, match="EMAIL_BACKEND=smtp"):
        load_config(str(tmp_path))
    monkeypatch.setenv("EMAIL_BACKEND", "smtp")
    monkeypatch.setenv("SMTP_URL", "mail.internal:25")
    with pytest.raises(ConfigError, match="SMTP_URL"):
        load_config(str(tmp_path))


def test_a_gunicorn_worker_freezes_what_loading_the_app_left():
    settings = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
    hook = settings["post_worker_init"]
    assert Config().settings["post_worker_init"].validator(hook) is hook  # a hook gunicorn calls
    try:
        hook(worker=None)
        # Everything this process has loaded is out of the collector's walks from now on.
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
