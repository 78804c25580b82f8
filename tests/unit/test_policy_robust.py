"""Orders that must not go wrong: edge cases, skewed demand, the forecast's own P-day errors,
the exact fill-rate expressions, and plan_orders learning the lead time from receipts."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from replenishment.forecast_error import ErrorProfile
from replenishment.policy import compute_orders, plan_orders
from replenishment.safety_stock import fill_rate_periodic

D = dt.date(2026, 7, 1)


def _forecast(sku: str, daily: float, days: int = 40) -> pd.DataFrame:
    return pd.DataFrame(
        {"sku_id": sku, "forecast_date": pd.date_range(D, periods=days), "yhat": daily}
    )


def _params(sku: str, **over: object) -> pd.DataFrame:
    row: dict[str, object] = {
        "sku_id": sku,
        "unit_cost": 5.0,
        "pack_size": 1,
        "moq": 0,
        "lead_time_days": 7.0,
        "review_period_days": 7.0,
        "service_level": 0.95,
        "holding_cost_rate": 0.25,
        "order_cost": 40.0,
        "sigma_daily": 2.0,
        "model": "prophet",
        "lead_time_std_days": 1.0,
    }
    row.update(over)
    return pd.DataFrame([row])


def _position(sku: str, on_hand: float | None = 0.0) -> pd.DataFrame:
    return pd.DataFrame({"sku_id": [sku], "on_hand": [on_hand], "on_order": [0.0]})


def _one(forecast, position, params, **kw) -> pd.Series:
    kw.setdefault("review_schedule", False)
    return compute_orders(forecast, position, params, D, **kw).iloc[0]


def test_review_period_below_one_day_counts_as_one() -> None:
    row = _one(_forecast("A", 10), _position("A"), _params("A", review_period_days=0.0))
    assert row["protection_days"] == 8.0  # L + 1, not L
    assert row["protection_demand"] == pytest.approx(80.0)


def test_zero_forecast_and_zero_spread_never_trigger_a_lot() -> None:
    params = _params("A", policy="continuous", sigma_daily=0.0, lead_time_std_days=0.0)
    row = _one(_forecast("A", 0.0), _position("A", 0.0), params)
    assert row["reorder_point"] == 0.0
    assert row["order_qty"] == 0.0
    assert np.isfinite(row["order_qty"])


def test_fractional_lead_time_is_not_truncated() -> None:
    params = _params("A", lead_time_days=7.9, sigma_daily=0.0, lead_time_std_days=0.0)
    row = _one(_forecast("A", 10), _position("A"), params)
    assert row["lead_time_used_days"] == pytest.approx(7.9)
    assert row["lead_time_demand"] == pytest.approx(79.0)
    assert row["expected_receipt_date"] == dt.date(2026, 7, 9)  # D + ceil(7.9)


def test_missing_on_hand_is_reported_not_silently_zero() -> None:
    row = _one(_forecast("A", 10), _position("A", None), _params("A"))
    assert row["on_hand"] == 0.0
    assert "no inventory snapshot before 2026-07-01: on hand taken as 0" in row["reason"]


def test_lumpy_demand_uses_the_negative_binomial_quantile() -> None:
    params = _params("A", demand_class="lumpy", sigma_daily=1.5, lead_time_std_days=0.0)
    params["review_period_days"] = 7.0
    row = _one(_forecast("A", 0.4), _position("A"), params)
    assert row["demand_distribution"] == "negative_binomial"
    mu, var = 0.4 * 14, 14 * 1.5**2
    n, p = mu**2 / (var - mu), mu / var
    expected = stats.nbinom.ppf(0.95, n, p)
    assert row["order_up_to"] == pytest.approx(expected)
    assert stats.nbinom.cdf(row["order_up_to"], n, p) >= 0.95


def test_smooth_high_volume_demand_stays_normal() -> None:
    row = _one(_forecast("A", 50), _position("A"), _params("A", demand_class="smooth"))
    assert row["demand_distribution"] == "normal"


def _profile(actual: np.ndarray) -> ErrorProfile:
    """The error profile of six smooth SKUs with the same 28 held-out days ``actual``
    against a flat forecast of 20 and a daily sigma of 2."""
    errors = pd.DataFrame(
        {
            "sku_id": np.repeat([f"S{i}" for i in range(6)], 28),
            "demand_class": "smooth",
            "h": np.tile(np.arange(28), 6),
            "actual": np.tile(actual, 6),
            "forecast": 20.0,
            "censored": False,
        }
    )
    return ErrorProfile.measure(errors, pd.Series(2.0, index=[f"S{i}" for i in range(6)]))


def test_autocorrelated_errors_raise_the_safety_stock() -> None:
    h = np.arange(28)
    profile = _profile(20.0 + np.where(h < 14, 2.0, -2.0))
    params = _params("A", demand_class="smooth", lead_time_std_days=0.0)
    plain = _one(_forecast("A", 20), _position("A"), params)
    wide = _one(_forecast("A", 20), _position("A"), params, errors=profile)
    assert plain["error_inflation"] == 1.0
    assert wide["error_inflation"] > 2.0
    assert wide["sigma_protection"] == pytest.approx(
        plain["sigma_protection"] * wide["error_inflation"]
    )
    assert wide["safety_stock"] > 2 * plain["safety_stock"]


def test_errors_that_cancel_never_shrink_the_safety_stock() -> None:
    # errors alternating +2 / -2 cancel over any even number of days: measured kappa 0
    h = np.arange(28)
    profile = _profile(20.0 + np.where(h % 2 == 0, 2.0, -2.0))
    assert profile.table["smooth"][1] == pytest.approx(0.0)
    params = _params("A", demand_class="smooth", lead_time_std_days=0.0, review_period_days=1.0)
    plain = _one(_forecast("A", 20), _position("A"), params)
    cancelled = _one(_forecast("A", 20), _position("A"), params, errors=profile)
    assert cancelled["error_inflation"] == 1.0
    assert cancelled["safety_stock"] == pytest.approx(plain["safety_stock"])


def test_fill_rate_uses_the_exact_periodic_shortage() -> None:
    # short review, long lead time: the backlog correction matters at a low fill rate
    params = _params("A", service_level=0.80, review_period_days=1.0, sigma_daily=6.0)
    row = _one(_forecast("A", 10), _position("A"), params, service_target="fill_rate")
    mu_p, mu_l = 80.0, 70.0
    sigma_p = np.sqrt(8 * 36 + 100 * 1)
    sigma_l = np.sqrt(7 * 36 + 100 * 1)
    achieved = fill_rate_periodic(
        np.array([row["order_up_to"]]),
        np.array([mu_p]),
        np.array([sigma_p]),
        np.array([mu_l]),
        np.array([sigma_l]),
        np.array([10.0]),
        np.array([False]),
    )[0]
    assert achieved == pytest.approx(0.80, abs=1e-6)


def test_plan_orders_learns_a_late_supplier_from_receipts() -> None:
    master = _params("A").drop(columns=["sigma_daily", "model", "lead_time_std_days"])
    summary = pd.DataFrame({"sku_id": ["A"], "model": ["prophet"], "sigma_daily": [2.0]})
    ordered = pd.date_range(end=pd.Timestamp(D) - pd.Timedelta(days=12), periods=20, freq="7D")
    po = pd.DataFrame(
        {
            "sku_id": "A",
            "order_date": ordered,
            "expected_date": ordered + pd.Timedelta(days=7),
            "received_date": ordered + pd.Timedelta(days=10),
        }
    )
    late = plan_orders(master, summary, _forecast("A", 10), _position("A"), po, D).iloc[0]
    on_time = plan_orders(master, summary, _forecast("A", 10), _position("A"), po.iloc[:0], D).iloc[
        0
    ]
    assert on_time["lead_time_source"] == "planned"
    assert late["lead_time_source"] == "measured" and late["lead_time_receipts"] == 20
    assert late["lead_time_used_days"] > 9.3
    assert late["protection_demand"] > on_time["protection_demand"] + 20
    assert late["expected_receipt_date"] > on_time["expected_receipt_date"]
    assert "days late on average over 20 receipts" in late["reason"]
