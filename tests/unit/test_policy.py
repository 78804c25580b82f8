"""Unit tests of the replenishment policy: textbook numbers, hand-computed orders, properties."""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replenishment.policy import (
    K_MAX,
    OUTPUT_COLUMNS,
    compute_orders,
    eoq,
    inventory_position,
    k_for_fill_rate,
    lead_time_stats,
    normal_loss,
    review_days,
    sigma_over_protection,
    z_for_service_level,
)

RUN_DATE = dt.date(2024, 1, 1)


def _orders(*args, **kwargs):
    """compute_orders ordering whenever needed (the hand-computed cases test the maths)."""
    kwargs.setdefault("review_schedule", False)
    return compute_orders(*args, **kwargs)


SQL = Path(__file__).resolve().parents[2] / "include" / "sql" / "create_reporting_tables.sql"


def _forecast(sku_id: str, yhat: list[float], start: dt.date = RUN_DATE) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sku_id": sku_id,
            "forecast_date": pd.date_range(start, periods=len(yhat), freq="D"),
            "yhat": yhat,
        }
    )


def _params(sku_id: str, **overrides: object) -> pd.DataFrame:
    row: dict[str, object] = {
        "sku_id": sku_id,
        "unit_cost": 2.5,
        "pack_size": 12,
        "moq": 100,
        "lead_time_days": 7,
        "review_period_days": 7,
        "service_level": 0.95,
        "holding_cost_rate": 0.2,
        "order_cost": 50.0,
        "sigma_daily": 3.0,
        "model": "prophet",
        "lead_time_std_days": np.nan,
    }
    row.update(overrides)
    return pd.DataFrame([row])


def _position(sku_id: str, on_hand: float, on_order: float, backorders: float) -> pd.DataFrame:
    return pd.DataFrame(
        [{"sku_id": sku_id, "on_hand": on_hand, "on_order": on_order, "backorders": backorders}]
    )


# ---------------------------------------------------------------------------
# Textbook numbers
# ---------------------------------------------------------------------------


def test_eoq_textbook() -> None:
    # sqrt(2 * 1000 * 100 / 10) = 141.42 units. compute_orders rounds a lot UP to whole
    # packs, so with packs of 1 the (s, Q) lot would be 142, never 141.
    assert eoq(1000, 100, 10) == pytest.approx(141.42, abs=0.01)


def test_eoq_degenerate_inputs_give_zero() -> None:
    result = np.asarray(eoq([1000, 0, 1000, -5], [100, 100, 100, 100], [10, 10, 0, 10]))
    np.testing.assert_allclose(result, [141.4213562, 0.0, 0.0, 0.0])


def test_sigma_over_lead_time_textbook() -> None:
    # sqrt(6 * 5**2 + 50**2 * 2**2) = sqrt(10150)
    assert sigma_over_protection(50, 5, 6, 2) == pytest.approx(100.75, abs=0.01)


def test_z_for_service_level() -> None:
    assert z_for_service_level(0.95) == pytest.approx(1.645, abs=1e-3)
    np.testing.assert_allclose(
        np.asarray(z_for_service_level([0.5, 0.9, 0.99])), [0.0, 1.2816, 2.3263], atol=1e-4
    )


def test_normal_loss() -> None:
    assert normal_loss(0) == pytest.approx(0.3989, abs=1e-4)
    # Table values: G(1) = 0.0833, G(2) = 0.0085.
    np.testing.assert_allclose(np.asarray(normal_loss([1.0, 2.0])), [0.0833, 0.0085], atol=1e-4)


def test_k_for_fill_rate_solves_loss_equation() -> None:
    # G(k) * 100 = (1 - 0.98) * 500  ->  G(k) = 0.1  ->  k = 0.9023
    k = k_for_fill_rate(0.98, 500, 100)
    assert normal_loss(k) == pytest.approx(0.1, abs=1e-9)
    assert k == pytest.approx(0.9023, abs=1e-4)


def test_k_for_fill_rate_bounds() -> None:
    k = np.asarray(
        k_for_fill_rate([0.5, 0.9999999999, 0.95, 0.95], [100, 100, 0, 100], [10, 10, 10, 0])
    )
    # cycle stock alone suffices -> 0; tiny target -> cap; Q = 0 -> cap; no uncertainty -> 0
    np.testing.assert_allclose(k, [0.0, K_MAX, K_MAX, 0.0])


def test_inventory_position() -> None:
    assert inventory_position(50, 20, 5) == 65.0


# ---------------------------------------------------------------------------
# Hand-computed orders
# ---------------------------------------------------------------------------


def test_periodic_hand_computed() -> None:
    out = _orders(_forecast("A", [10.0] * 28), _position("A", 50, 20, 5), _params("A"), RUN_DATE)
    row = out.iloc[0]
    sigma = math.sqrt(14 * 3.0**2)  # P = 7 + 7, sigma_L unknown -> 0
    safety = 1.6448536 * sigma  # 18.4636
    assert row["policy"] == "periodic"
    assert row["inventory_position"] == 65
    assert row["protection_days"] == 14
    assert row["avg_daily_demand"] == pytest.approx(10)
    assert row["lead_time_demand"] == pytest.approx(70)
    assert row["protection_demand"] == pytest.approx(140)
    assert row["sigma_protection"] == pytest.approx(sigma)
    assert row["safety_stock"] == pytest.approx(safety, rel=1e-6)
    assert row["order_up_to"] == pytest.approx(140 + safety, rel=1e-6)
    assert row["reorder_point"] == row["order_up_to"]
    # need 93.46 -> 8 packs of 12 = 96 -> MOQ 100 -> 9 packs = 108
    assert row["order_qty"] == 108
    assert row["order_packs"] == 9
    assert row["order_value"] == pytest.approx(270)
    assert row["eoq"] == pytest.approx(math.sqrt(2 * 3650 * 50 / 0.5))  # 854.4
    assert row["lead_time_std_days"] == 0
    assert row["expected_receipt_date"] == dt.date(2024, 1, 8)
    assert row["run_date"] == RUN_DATE
    assert row["reason"] == (
        "position 65 below reorder point 158.5; pack rounding +2.5; MOQ applied (+12); "
        "lead-time std unknown, 0 used"
    )


def test_continuous_hand_computed_with_short_horizon() -> None:
    # Horizon of 5 days (mean 30/day) shorter than the 8-day lead time.
    params = _params(
        "B",
        policy="continuous",
        lead_time_days=8,
        lead_time_std_days=1.0,
        sigma_daily=4.0,
        service_level=0.9,
        unit_cost=4.0,
        holding_cost_rate=0.25,
        order_cost=1.0,
        pack_size=50,
        moq=200,
    )
    out = _orders(_forecast("B", [10, 20, 30, 40, 50]), _position("B", 0, 0, 150), params, RUN_DATE)
    row = out.iloc[0]
    sigma = math.sqrt(9 * 16 + 30**2 * 1)  # P = L + 1 = 9 days: 32.31
    s = 270 + 1.2815516 * sigma  # 311.41
    assert row["policy"] == "continuous"
    assert row["lead_time_demand"] == pytest.approx(150 + 3 * 30)
    assert row["protection_demand"] == pytest.approx(270)
    assert row["avg_daily_demand"] == pytest.approx(30)
    assert row["sigma_protection"] == pytest.approx(sigma)
    assert row["reorder_point"] == pytest.approx(s, rel=1e-6)
    assert row["eoq"] == pytest.approx(math.sqrt(2 * 10950 * 1 / 1))  # 148 -> packs 150 -> MOQ 200
    assert row["order_up_to"] == pytest.approx(s + 200, rel=1e-6)
    # position -150: 3 lots of 200 bring it to 450 > 311.41 (2 lots would give 250)
    assert row["order_qty"] == 600
    assert row["order_packs"] == 12
    assert row["order_value"] == pytest.approx(2400)
    assert row["expected_receipt_date"] == dt.date(2024, 1, 9)
    assert row["reason"].startswith("position -150 at or below reorder point 311.4; 3 x lot 200")


def test_no_order_when_position_covers_need() -> None:
    out = _orders(_forecast("A", [10.0] * 28), _position("A", 500, 0, 0), _params("A"), RUN_DATE)
    assert out.loc[0, "order_qty"] == 0
    assert out.loc[0, "order_packs"] == 0
    assert out.loc[0, "reason"].startswith("position 500 at or above reorder point 158.5")


def test_fractional_lead_time_takes_part_of_next_day() -> None:
    params = _params("A", lead_time_days=2.5, review_period_days=0, sigma_daily=0.0)
    out = _orders(_forecast("A", [10, 20, 30]), _position("A", 0, 0, 0), params, RUN_DATE)
    assert out.loc[0, "lead_time_demand"] == pytest.approx(10 + 20 + 15)
    assert out.loc[0, "expected_receipt_date"] == dt.date(2024, 1, 4)


def test_fill_rate_hand_computed() -> None:
    out = _orders(
        _forecast("A", [10.0] * 28),
        _position("A", 0, 0, 0),
        _params("A", service_level=0.99),
        RUN_DATE,
        service_target="fill_rate",
    )
    row = out.iloc[0]
    # G(k) * sigma_protection = (1 - 0.99) * d * R = 0.7
    assert normal_loss(row["z"]) * row["sigma_protection"] == pytest.approx(0.7, rel=1e-9)
    assert row["safety_stock"] == pytest.approx(row["z"] * row["sigma_protection"])


def test_output_has_the_reporting_table_columns_in_order() -> None:
    ddl = SQL.read_text()
    block = re.search(r"replenishment_orders \((.*?)PRIMARY KEY", ddl, re.S)
    assert block is not None
    table_columns = tuple(
        line.split()[0] for line in block.group(1).strip().splitlines() if line.strip()
    )
    out = _orders(_forecast("A", [1.0] * 3), _position("A", 0, 0, 0), _params("A"), RUN_DATE)
    assert tuple(out.columns) == table_columns == OUTPUT_COLUMNS


def test_sku_missing_from_position_counts_zero_and_policy_default() -> None:
    params = pd.concat([_params("A", policy=None), _params("B", policy="continuous")])
    forecast = pd.concat([_forecast("A", [5.0] * 10), _forecast("B", [5.0] * 10)])
    position = pd.DataFrame({"sku_id": ["B"], "on_hand": [1000], "on_order": [0]})
    out = _orders(forecast, position, params, RUN_DATE, policy="periodic")
    assert list(out["sku_id"]) == ["A", "B"]
    assert list(out["policy"]) == ["periodic", "continuous"]
    assert out.loc[0, ["on_hand", "on_order", "backorders"]].tolist() == [0, 0, 0]
    assert out.loc[0, "order_qty"] > 0
    assert out.loc[1, "order_qty"] == 0


def test_sku_missing_from_forecast_is_an_error() -> None:
    params = pd.concat([_params("A"), _params("GHOST-1")])
    with pytest.raises(ValueError, match="GHOST-1"):
        _orders(_forecast("A", [1.0] * 5), _position("A", 0, 0, 0), params, RUN_DATE)


def test_forecast_rows_before_run_date_are_ignored() -> None:
    forecast = _forecast("A", [1000.0] * 3, start=RUN_DATE - dt.timedelta(days=3))
    with pytest.raises(ValueError, match="no rows on or after 2024-01-01"):
        _orders(forecast, _position("A", 0, 0, 0), _params("A"), RUN_DATE)


def test_invalid_params_are_reported_by_sku() -> None:
    params = pd.concat([_params("A", pack_size=0), _params("B", service_level=1.0)])
    forecast = pd.concat([_forecast("A", [1.0]), _forecast("B", [1.0])])
    with pytest.raises(ValueError, match=r"pack_size.*\(A\).*service_level.*\(B\)"):
        _orders(forecast, _position("A", 0, 0, 0), params, RUN_DATE)


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------


def _floats(low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(low, high, allow_subnormal=False)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    horizon = draw(st.integers(1, 28))
    yhat = draw(st.lists(_floats(0, 200), min_size=horizon, max_size=horizon))
    params = _params(
        "X",
        policy=draw(st.sampled_from(["periodic", "continuous"])),
        unit_cost=draw(_floats(0.1, 100)),
        pack_size=draw(st.integers(1, 48)),
        moq=draw(st.integers(0, 500)),
        lead_time_days=draw(st.integers(1, 60)),
        review_period_days=draw(st.integers(0, 30)),
        service_level=draw(_floats(0.5, 0.999)),
        holding_cost_rate=draw(st.one_of(st.just(0.0), _floats(0.01, 0.5))),
        order_cost=draw(_floats(0, 500)),
        sigma_daily=draw(_floats(0, 50)),
        lead_time_std_days=draw(st.one_of(st.just(np.nan), _floats(0, 10))),
    )
    position = _position(
        "X",
        draw(_floats(0, 5000)),
        draw(_floats(0, 5000)),
        draw(_floats(0, 500)),
    )
    return _forecast("X", yhat), position, params


@settings(max_examples=150, deadline=None)
@given(scenarios(), st.sampled_from(["cycle", "fill_rate"]))
def test_order_quantity_properties(
    scenario: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame], target: str
) -> None:
    forecast, position, params = scenario
    row = _orders(forecast, position, params, RUN_DATE, service_target=target).iloc[0]
    qty, pack, moq = row["order_qty"], row["pack_size"], row["moq"]
    assert qty >= 0
    assert qty == row["order_packs"] * pack
    assert qty % pack == 0
    assert row["safety_stock"] >= 0
    assert len(row["reason"]) <= 200
    if qty > 0:
        assert qty >= moq
        assert row["inventory_position"] <= row["reorder_point"] + 1e-9
    if row["policy"] == "periodic":
        if qty > 0:
            assert row["inventory_position"] + qty >= row["order_up_to"] - 1e-6
        else:
            assert row["inventory_position"] >= row["order_up_to"] - 1e-6
    elif qty > 0:
        assert row["inventory_position"] + qty > row["reorder_point"]


@settings(max_examples=60, deadline=None)
@given(
    scenarios(),
    st.floats(0.5, 0.999),
    st.floats(0.5, 0.999),
)
def test_fill_rate_safety_stock_increases_with_fill_rate(
    scenario: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame], beta_a: float, beta_b: float
) -> None:
    forecast, position, params = scenario
    low, high = sorted((beta_a, beta_b))
    safety = [
        _orders(
            forecast,
            position,
            params.assign(service_level=beta),
            RUN_DATE,
            service_target="fill_rate",
        ).loc[0, "safety_stock"]
        for beta in (low, high)
    ]
    assert safety[0] <= safety[1] + 1e-9


@settings(max_examples=25, deadline=None)
@given(st.lists(scenarios(), min_size=2, max_size=6))
def test_many_skus_at_once_equal_one_at_a_time(
    scenarios_list: list[tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]],
) -> None:
    forecasts, positions, params = [], [], []
    for i, (forecast, position, param) in enumerate(scenarios_list):
        forecasts.append(forecast.assign(sku_id=f"S{i}"))
        positions.append(position.assign(sku_id=f"S{i}"))
        params.append(param.assign(sku_id=f"S{i}"))
    together = _orders(pd.concat(forecasts), pd.concat(positions), pd.concat(params), RUN_DATE)
    alone = pd.concat(
        [_orders(f, p, q, RUN_DATE) for f, p, q in zip(forecasts, positions, params, strict=True)],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(together, alone)


# ---------------------------------------------------------------------------
# Lead times
# ---------------------------------------------------------------------------


def test_lead_time_stats_tiny_frame() -> None:
    orders = pd.DataFrame(
        {
            "sku_id": ["A"] * 5 + ["B"] * 2 + ["C"],
            "order_date": ["2024-01-01"] * 8,
            "received_date": [
                "2024-01-06",
                "2024-01-08",
                "2024-01-07",
                "2024-01-09",
                "2024-01-10",
                "2024-01-11",
                "2024-01-13",
                "2023-12-25",  # received before ordered: dropped
            ],
        }
    )
    stats = lead_time_stats(orders, min_samples=5).set_index("sku_id")
    assert list(stats.index) == ["A", "B"]
    assert stats.loc["A", "lead_time_mean_days"] == pytest.approx(7.0)
    assert stats.loc["A", "lead_time_std_days"] == pytest.approx(math.sqrt(2.5))  # ddof=1
    assert stats.loc["A", "lead_time_samples"] == 5
    assert stats.loc["B", "lead_time_mean_days"] == pytest.approx(11.0)
    assert math.isnan(stats.loc["B", "lead_time_std_days"])
    assert stats.loc["B", "lead_time_samples"] == 2


def test_lead_time_stats_empty() -> None:
    empty = pd.DataFrame({"sku_id": [], "order_date": [], "received_date": []})
    stats = lead_time_stats(empty)
    assert stats.empty
    assert list(stats.columns) == [
        "sku_id",
        "lead_time_mean_days",
        "lead_time_std_days",
        "lead_time_samples",
    ]


def test_periodic_skus_order_on_their_review_days_only() -> None:
    skus = [f"S{i}" for i in range(70)]
    days = [RUN_DATE + dt.timedelta(days=d) for d in range(7)]
    hits = np.array([review_days(skus, [7] * len(skus), d) for d in days])
    assert (hits.sum(axis=0) == 1).all()  # each SKU exactly once a week
    assert hits.sum(axis=1).min() >= 3  # spread over the week
    assert review_days(["A", "B"], [1, 0], RUN_DATE).all()  # R <= 1: every day
    reviewed = next(d for d in days if review_days(["A"], [7], d)[0])
    other = reviewed + dt.timedelta(days=1)
    on = compute_orders(
        _forecast("A", [10.0] * 28, start=reviewed), _position("A", 0, 0, 0), _params("A"), reviewed
    )
    off = compute_orders(
        _forecast("A", [10.0] * 28, start=other), _position("A", 0, 0, 0), _params("A"), other
    )
    assert on.iloc[0]["order_qty"] > 0
    assert off.iloc[0]["order_qty"] == 0
    nxt = (reviewed + dt.timedelta(days=7)).isoformat()
    assert off.iloc[0]["reason"].startswith(f"not a review day (reviewed every 7 days, next {nxt})")
