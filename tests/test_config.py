"""Settings are parsed once, where the environment is read."""

from __future__ import annotations

from decimal import Decimal

import pytest

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
