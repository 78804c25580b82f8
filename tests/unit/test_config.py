"""Settings: defaults, environment, run parameters."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from replenishment.config import Settings, parse_run_date


def test_defaults_environment_then_overrides():
    s = Settings.load(env={})
    assert s.horizon_days == 28 and s.holiday_country == "US"
    s = Settings.load(env={"REPLENISHMENT_HORIZON_DAYS": "42"})
    assert s.horizon_days == 42
    s = Settings.load({"horizon_days": "14", "unknown_param": 1, "holiday_country": None}, env={})
    assert s.horizon_days == 14 and s.holiday_country == "US"


@pytest.mark.parametrize(
    "bad",
    [
        {"horizon_days": 0},
        {"interval_width": 1.0},
        {"policy": "weekly"},
        {"forecast_batches": 0},
        {"dq_mode": "skip"},
    ],
)
def test_invalid_settings_are_refused(bad):
    with pytest.raises(ValueError):
        Settings.load(bad, env={})


def test_dq_mode_blocks_by_default_and_is_read_like_the_others():
    assert Settings.load(env={}).dq_mode == "block"
    assert Settings.load(env={"REPLENISHMENT_DQ_MODE": "quarantine"}).dq_mode == "quarantine"
    assert (
        Settings.load({"dq_mode": "block"}, env={"REPLENISHMENT_DQ_MODE": "quarantine"}).dq_mode
        == "block"
    )


def test_booleans_from_the_environment_and_options():
    assert Settings.load(env={}).publish_views is True
    for text, want in (("false", False), ("0", False), ("True", True), ("yes", True)):
        assert Settings.load(env={"REPLENISHMENT_PUBLISH_VIEWS": text}).publish_views is want
    assert Settings.load({"publish_views": False}, env={}).publish_views is False
    with pytest.raises(ValueError, match="not a boolean"):
        Settings.load({"publish_views": "maybe"}, env={})


def test_forecast_tasks_share_the_cores(monkeypatch):
    def settings_with(workers: int) -> Settings:
        return Settings.load({"forecast_workers": workers}, env={})

    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert settings_with(0).worker_count() == 8  # 0: one process per core
    assert settings_with(0).worker_count(tasks_at_once=2) == 4
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert settings_with(0).worker_count(tasks_at_once=2) == 1
    assert settings_with(3).worker_count(tasks_at_once=2) == 3  # a number given is kept


def test_parse_run_date():
    assert parse_run_date("2026-07-01T00:00:00+00:00") == dt.date(2026, 7, 1)
    assert parse_run_date(dt.datetime(2026, 7, 1, 5)) == dt.date(2026, 7, 1)
