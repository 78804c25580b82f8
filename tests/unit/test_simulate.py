"""Unit tests of the replay simulator: the ledger, the KPIs, the baselines, a tiny replay."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from replenishment.lead_time import estimate_lead_times
from replenishment.policy import compute_orders, lead_time_stats, review_days
from replenishment.simulate import (
    PO_COLUMNS,
    SKU_COLUMNS,
    SUMMARY_COLUMNS,
    DayState,
    ForecastPolicy,
    OrderBook,
    RefitForecast,
    ReplayData,
    SimulationConfig,
    SpreadsheetPolicy,
    cycle_counts,
    draw_lead_times,
    main,
    orders_in_packs,
    replay,
    simulate,
    sku_kpis,
    trailing_stats,
    uncensored_demand,
)

START = dt.date(2026, 3, 2)  # a Monday


class Scripted:
    """A policy that orders fixed quantities on given days."""

    def __init__(self, orders: dict[int, list[float]]) -> None:
        self.orders = orders
        self.seen: list[DayState] = []

    def __call__(self, state: DayState) -> np.ndarray:
        self.seen.append(state)
        n = len(state.on_hand)
        return np.asarray(self.orders.get(state.day, [0.0] * n), dtype=float)


def _sku(n: int = 1, **overrides: object) -> pd.DataFrame:
    row: dict[str, object] = {
        "unit_cost": 2.0,
        "pack_size": 1,
        "moq": 0,
        "lead_time_days": 3,
        "review_period_days": 7,
        "service_level": 0.95,
        "holding_cost_rate": 0.365,
        "order_cost": 10.0,
        "active": True,
    }
    row.update(overrides)
    return pd.DataFrame([{"sku_id": f"S{i}", **row} for i in range(n)])


def _data(
    demand: np.ndarray,
    recorded: np.ndarray | None = None,
    on_hand0: float = 0.0,
    received: pd.DataFrame | None = None,
    **sku: object,
) -> ReplayData:
    n, days = demand.shape
    pad = 28
    if recorded is None:
        recorded = np.full((n, pad + days), 5.0)
    return ReplayData(
        sku=_sku(n, **sku),
        demand=demand.astype(float),
        recorded=recorded.astype(float),
        pad=pad,
        on_hand0=np.full(n, on_hand0),
        scheduled=np.zeros((n, days + 1)),
        lead_times=np.full((n, days), int(sku.get("lead_time_days", 3)), dtype=np.int64),
        history=pd.DataFrame({"sku_id": [], "ds": [], "y": []}),
        stockouts=pd.DataFrame({"sku_id": [], "ds": []}),
        promotions=pd.DataFrame(),
        received=received
        if received is not None
        else pd.DataFrame(
            {
                "sku_id": pd.Series([], dtype=str),
                "order_date": pd.Series([], dtype="datetime64[ns]"),
                "received_date": pd.Series([], dtype="datetime64[ns]"),
            }
        ),
    )


def _flat_refit(
    day: int, ids: list[str], level: float, sigma: float, days: int = 60
) -> RefitForecast:
    dates = pd.date_range(START + dt.timedelta(days=day), periods=days, freq="D")
    forecast = pd.DataFrame(
        {
            "sku_id": np.repeat(ids, days),
            "forecast_date": np.tile(dates, len(ids)),
            "yhat": level,
        }
    )
    summary = pd.DataFrame(
        {"sku_id": ids, "model": "prophet", "demand_class": "smooth", "sigma_daily": sigma}
    )
    return RefitForecast(day, forecast, summary)


# --------------------------------------------------------------------------- the ledger


def test_stock_is_conserved_every_day() -> None:
    rng = np.random.default_rng(3)
    demand = rng.poisson(4.0, size=(5, 40)).astype(float)
    lead = rng.integers(1, 6, size=(5, 40))
    scheduled = np.zeros((5, 41))
    scheduled[:, 2] = 7

    def up_to_30(state: DayState) -> np.ndarray:
        position = state.on_hand + state.on_order - state.backorders
        return np.maximum(30.0 - position, 0.0)

    for mode in ("lost_sales", "backorders"):
        trace = replay(demand, np.full(5, 10.0), scheduled, lead, up_to_30, mode)
        np.testing.assert_allclose(
            trace.on_hand_end, trace.on_hand_open + trace.receipts - trace.shipped
        )
        np.testing.assert_allclose(trace.on_hand_open[:, 1:], trace.on_hand_end[:, :-1])
        assert (trace.on_hand_end >= 0).all()
        # everything ordered or scheduled is received or still on order
        np.testing.assert_allclose(
            trace.receipts.sum(axis=1) + trace.on_order_end[:, -1],
            trace.ordered.sum(axis=1) + scheduled.sum(axis=1),
        )


def test_orders_arrive_after_the_real_lead_time() -> None:
    demand = np.zeros((1, 12))
    lead = np.array([[3, 5, 1, 1, 1, 1, 1, 1, 1, 1, 9, 1]])
    policy = Scripted({0: [10.0], 1: [20.0], 10: [40.0]})
    trace = replay(demand, np.zeros(1), np.zeros((1, 13)), lead, policy)
    assert trace.receipts[0].tolist() == [0, 0, 0, 10, 0, 0, 20, 0, 0, 0, 0, 0]
    # the order of day 10 arrives after the window: on order, never received
    assert trace.on_order_end[0, -1] == 40
    # the policy sees today's arrivals as on order, not yet on hand
    assert policy.seen[3].on_hand[0] == 0 and policy.seen[3].on_order[0] == 30
    assert policy.seen[4].on_hand[0] == 10


def test_lead_times_below_one_day_are_refused() -> None:
    with pytest.raises(ValueError, match="lead_times"):
        replay(
            np.zeros((1, 2)),
            np.zeros(1),
            np.zeros((1, 3)),
            np.zeros((1, 2), dtype=np.int64),
            Scripted({}),
        )


def test_lost_sales_versus_backorders() -> None:
    demand = np.array([[3.0, 4.0, 2.0]])
    scheduled = np.array([[0.0, 0.0, 10.0, 0.0]])
    lead = np.ones((1, 3), dtype=np.int64)
    lost = replay(demand, np.array([5.0]), scheduled, lead, Scripted({}), "lost_sales")
    assert lost.served[0].tolist() == [3, 2, 2]
    assert lost.short[0].tolist() == [0, 2, 0]
    assert lost.on_hand_end[0].tolist() == [2, 0, 8]
    assert lost.backorders_end[0].tolist() == [0, 0, 0]

    owed = replay(demand, np.array([5.0]), scheduled, lead, Scripted({}), "backorders")
    assert owed.served[0].tolist() == [3, 2, 2]  # on the day asked
    assert owed.shipped[0].tolist() == [3, 2, 4]  # the 2 owed leave with day 2's receipt
    assert owed.backorders_end[0].tolist() == [0, 2, 0]
    assert owed.on_hand_end[0].tolist() == [2, 0, 6]


def test_backorders_lower_the_position_the_policy_sees() -> None:
    policy = Scripted({})
    replay(
        np.array([[4.0, 0.0]]),
        np.array([1.0]),
        np.zeros((1, 3)),
        np.ones((1, 2), dtype=np.int64),
        policy,
        "backorders",
    )
    assert policy.seen[1].backorders[0] == 3


# --------------------------------------------------------------------------- KPIs


def test_kpis_on_a_hand_computed_ten_day_example() -> None:
    demand = np.full((1, 10), 2.0)
    scheduled = np.zeros((1, 11))
    scheduled[0, 2] = 6
    scheduled[0, 6] = 6
    lead = np.full((1, 10), 8, dtype=np.int64)
    trace = replay(demand, np.array([4.0]), scheduled, lead, Scripted({0: [5.0]}))
    assert trace.on_hand_end[0].tolist() == [2, 0, 4, 2, 0, 0, 4, 2, 5, 3]
    # review days 0, 3, 6 whose orders would arrive 2 days later: review cycles [2..4]
    # and [5..7] (short on day 5); the one of day 6 ends after the window
    review = np.zeros((1, 10), dtype=bool)
    review[0, [0, 3, 6]] = True
    kpi = sku_kpis(trace, _sku(), review, np.full((1, 10), 2, dtype=np.int64)).iloc[0]
    assert kpi["cycles"] == 2 and kpi["stockout_cycles"] == 1
    assert kpi["cycle_service_level"] == pytest.approx(0.5)
    assert kpi["service_level_gap"] == pytest.approx(0.5 - 0.95)
    assert kpi["demand_units"] == 20 and kpi["served_units"] == 18 and kpi["short_units"] == 2
    assert kpi["fill_rate"] == pytest.approx(0.9)
    assert kpi["stockout_days"] == 3  # days 1, 4, 5 end with nothing on hand
    assert kpi["short_days"] == 1
    assert kpi["avg_on_hand"] == pytest.approx(2.2)
    assert kpi["avg_inventory_value"] == pytest.approx(4.4)
    assert kpi["inventory_turns"] == pytest.approx(18 * 365 / 10 / 2.2)
    assert kpi["orders"] == 1 and kpi["units_ordered"] == 5
    assert kpi["holding_cost"] == pytest.approx(22 * 2.0 * 0.365 / 365)
    assert kpi["ordering_cost"] == pytest.approx(10.0)
    assert kpi["total_cost"] == pytest.approx(10.044)


def test_cycle_counts_per_review_cycle() -> None:
    review = np.zeros((3, 12), dtype=bool)
    review[0, [0, 3, 6, 9]] = True  # row 0: lead 2 -> cycles [2..4], [5..7], [8..10]
    review[1, [0, 4, 8]] = True  # row 1: leads 5, 1, 1 -> crossing: [5..4] is empty
    review[2, [1]] = True  # row 2: one review day, no complete cycle
    lead = np.full((3, 12), 2, dtype=np.int64)
    lead[1, [0, 4, 8]] = [5, 1, 1]
    short = np.zeros((3, 12), dtype=bool)
    short[0, [1, 4, 11]] = True  # day 1 before the first cycle, day 11 after the last
    short[1, [6, 8]] = True  # row 1: the cycle [5..8] has both
    cycles, stockouts = cycle_counts(review, lead, short)
    assert cycles.tolist() == [3, 1, 0]
    assert stockouts.tolist() == [1, 1, 0]


def test_summary() -> None:
    per_sku = pd.DataFrame(
        {
            "policy": [
                "pipeline",
                "pipeline",
                "spreadsheet",
                "spreadsheet",
                "forecast_net",
                "forecast_net",
            ],
            "demand_class": ["smooth", "lumpy"] * 3,
            "service_level": [0.95, 0.90] * 3,
            "unit_cost": [2.0] * 6,
            "cycle_service_level": [0.96, np.nan, 0.80, 0.70, 0.90, 0.85],
            "demand_units": [100.0, 10.0] * 3,
            "served_units": [99.0, 10.0, 90.0, 8.0, 98.0, 10.0],
            "short_units": [1.0, 0.0, 10.0, 2.0, 2.0, 0.0],
            "shipped_units": [99.0, 10.0, 90.0, 8.0, 98.0, 10.0],
            "stockout_days": [2, 0, 10, 4, 5, 1],
            "short_days": [1, 0, 9, 3, 4, 0],
            "avg_on_hand": [10.0, 5.0, 8.0, 4.0, 12.0, 6.0],
            "avg_inventory_value": [20.0, 10.0, 16.0, 8.0, 24.0, 12.0],
            "orders": [3, 1, 2, 1, 5, 2],
            "units_ordered": [100.0, 10.0] * 3,
            "holding_cost": [1.0] * 6,
            "ordering_cost": [2.0] * 6,
            "total_cost": [3.0] * 6,
            "lot_bound": [0, 0, 1, 0, 0, 0],
            "cycles": [24, 0, 20, 10, 30, 12],
        }
    )
    from replenishment.simulate import summarise

    summary = summarise(per_sku, days=10)
    total = summary[summary["demand_class"] == "all"].set_index("policy")
    assert list(total.index) == ["pipeline", "spreadsheet", "forecast_net"]
    assert total.loc["pipeline", "fill_rate"] == pytest.approx(109 / 110)
    assert total.loc["pipeline", "skus_with_cycles"] == 1
    assert total.loc["pipeline", "service_level_gap"] == pytest.approx(0.01)
    assert total.loc["spreadsheet", "service_level_gap"] == pytest.approx(-0.175)
    assert total.loc["spreadsheet", "service_level_abs_gap"] == pytest.approx(0.175)
    # the lot-bound smooth SKU is left out of the controlled gap: the lumpy one's -0.20
    assert total.loc["spreadsheet", "lot_bound_skus"] == 1
    assert total.loc["spreadsheet", "controlled_service_level_gap"] == pytest.approx(-0.20)
    assert total.loc["pipeline", "controlled_service_level_gap"] == pytest.approx(0.01)
    # its noise: one binomial share of 24 cycles at 95 %; the spreadsheet's lumpy 10 at 90 %
    assert total.loc["pipeline", "controlled_gap_std_error"] == pytest.approx(
        (0.95 * 0.05 / 24) ** 0.5
    )
    assert total.loc["spreadsheet", "controlled_gap_std_error"] == pytest.approx((0.09 / 10) ** 0.5)
    assert total.loc["pipeline", "inventory_turns"] == pytest.approx((99 * 2 + 10 * 2) * 36.5 / 30)
    # the bars moved to scripts/simulation_bars.py (tests/unit/test_simulation_bars.py)


# --------------------------------------------------------------------------- inputs


def test_uncensored_demand_estimates_censored_days_from_the_same_weekday() -> None:
    recorded = np.tile(np.array([1.0, 1, 1, 1, 1, 9, 9]), 6)[None, :]
    censored = np.zeros_like(recorded, dtype=bool)
    censored[0, 19] = True  # a Saturday-like day (position 5 of the week): 9 expected
    recorded[0, 19] = 2.0  # sales cut short by the stock-out
    censored[0, 21] = True  # a weekday with sales above the estimate keeps its sales
    recorded[0, 21] = 4.0
    served = uncensored_demand(recorded, censored)
    assert served[0, 19] == pytest.approx(9.0)
    assert served[0, 21] == pytest.approx(4.0)
    np.testing.assert_allclose(np.delete(served[0], [19, 21]), np.delete(recorded[0], [19, 21]))


def test_unknown_days_serve_nothing_and_estimate_nothing() -> None:
    recorded = np.array([[np.nan, np.nan, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 9.0]])
    censored = np.zeros_like(recorded, dtype=bool)
    censored[0, 9] = True  # no same-weekday neighbour: the mean of the known days
    served = uncensored_demand(recorded, censored)
    assert served[0].tolist() == [0, 0, 3, 3, 3, 3, 3, 3, 3, 9]
    censored[0, 9], recorded[0, 9] = True, 1.0
    assert uncensored_demand(recorded, censored)[0, 9] == pytest.approx(3.0)


def test_lead_time_draws_are_seeded_real_and_per_sku() -> None:
    pools = {"A": np.array([4.0, 9.0]), "B": np.array([2.0])}
    first = draw_lead_times(["A", "B", "C"], pools, [5, 5, 6], 50, seed=1)
    again = draw_lead_times(["A", "B", "C"], pools, [5, 5, 6], 50, seed=1)
    np.testing.assert_array_equal(first, again)
    assert set(first[0]) == {4, 9}
    assert set(first[1]) == {2}
    assert set(first[2]) == {6}  # no received PO: the planned lead time
    alone = draw_lead_times(["A"], pools, [5], 50, seed=1)
    np.testing.assert_array_equal(alone[0], first[0])
    assert not np.array_equal(draw_lead_times(["A"], pools, [5], 50, seed=2)[0], first[0])


def test_orders_in_packs_matches_compute_orders_rounding() -> None:
    need = np.array([0.0, 0.5, 13.0, 13.0, 12.0])
    pack = np.array([6.0, 6.0, 6.0, 6.0, 1.0])
    moq = np.array([0.0, 0.0, 0.0, 40.0, 20.0])
    assert orders_in_packs(need, pack, moq).tolist() == [0, 6, 18, 42, 20]


def test_trailing_stats_skip_censored_days_and_fall_back() -> None:
    recorded = np.array([[4.0, 6.0, np.nan, 4.0, 6.0], [3.0, np.nan, np.nan, np.nan, np.nan]])
    mean, std = trailing_stats(recorded, end=5, window=4)
    assert mean[0] == pytest.approx(16 / 3)
    assert std[0] == pytest.approx(np.std([6.0, 4.0, 6.0], ddof=1))
    assert mean[1] == pytest.approx(3.0) and std[1] == 0.0  # all censored: last observed


# --------------------------------------------------------------------------- policies


def _purchase_orders(received: pd.DataFrame) -> pd.DataFrame:
    """Received purchase orders (sku_id, order_date, received_date) as contract rows."""
    return pd.DataFrame(
        {
            "po_id": [f"P{i}" for i in range(len(received))],
            "sku_id": received["sku_id"].to_numpy(),
            "order_date": received["order_date"].to_numpy(),
            "expected_date": (received["order_date"] + pd.Timedelta(days=3)).to_numpy(),
            "received_date": received["received_date"].to_numpy(),
            "quantity": 10.0,
            "status": "received",
        }
    )


def _first_review_day(period: int, sku_id: str = "S0") -> int:
    return next(
        k for k in range(period) if review_days([sku_id], [period], START + dt.timedelta(k))[0]
    )


def test_spreadsheet_orders_up_to_s_on_review_days_with_the_measured_lead_time() -> None:
    days = 14
    recorded = np.tile([4.0, 6.0], 21)[None, : 28 + days]
    data = _data(np.zeros((1, days)), recorded, pack_size=6, lead_time_days=3, review_period_days=7)
    cfg = SimulationConfig(start=START, days=days, trailing_days=28)
    policy = SpreadsheetPolicy(data, cfg)
    k = _first_review_day(7)
    s = math.sqrt(28 / 27)  # sample std of fourteen 4s and fourteen 6s
    z = 1.6448536
    # no receipt known: the planned lead time, P = 3 + 7
    level = policy.levels(k, np.array([3.0]))
    assert level[0] == pytest.approx(5 * 10 + z * s * math.sqrt(10), rel=1e-6)
    below = policy(DayState(k, np.array([4.0]), np.array([6.0]), np.zeros(1)))
    assert below[0] == pytest.approx(math.ceil((level[0] - 10) / 6) * 6)
    assert policy(DayState(k + 1, np.array([4.0]), np.array([6.0]), np.zeros(1)))[0] == 0
    above = policy(DayState(k, np.array([70.0]), np.array([0.0]), np.zeros(1)))
    assert above[0] == 0
    # receipts of lead 4, 5, 6 days known before the day: Lm is the pipeline's estimate
    # (shrunk towards the planned 3 days: 3 receipts against a prior worth 3), P = Lm + 7
    ordered = pd.to_datetime(["2026-02-01", "2026-02-02", "2026-02-03"])
    received = pd.DataFrame(
        {
            "sku_id": "S0",
            "order_date": ordered,
            "received_date": ordered + pd.to_timedelta([4, 5, 6], unit="D"),
        }
    )
    book = OrderBook(START, ["S0"], [3], _purchase_orders(received))
    measured = policy(DayState(k, np.array([4.0]), np.array([6.0]), np.zeros(1), book))
    lm = float(
        estimate_lead_times(
            pd.DataFrame({"sku_id": ["S0"], "lead_time_days": [3.0]}),
            received.assign(expected_date=received["order_date"] + pd.Timedelta(days=3)),
            START + dt.timedelta(k),
        )["lead_time_used_days"].iloc[0]
    )
    assert 3.0 < lm < 5.0
    s_level = 5 * (lm + 7) + z * s * math.sqrt(lm + 7)
    assert measured[0] == pytest.approx(math.ceil((s_level - 10) / 6) * 6)


def test_forecast_net_orders_forecast_plus_safety_minus_position() -> None:
    days = 7
    recorded = np.tile([4.0, 6.0], 18)[None, : 28 + days]
    data = _data(np.zeros((1, days)), recorded, pack_size=4, lead_time_days=3, review_period_days=7)
    cfg = SimulationConfig(start=START, days=days, trailing_days=28)
    policy = ForecastPolicy(data, cfg, [_flat_refit(0, ["S0"], 5.0, sigma=0.1)], baseline=True)
    k = _first_review_day(7)  # forecast_net orders on review days only (issue 14)
    qty = policy(DayState(k, np.array([10.0]), np.zeros(1), np.zeros(1)))
    s = math.sqrt(28 / 27)
    target = 5.0 * 10 + 1.6448536 * s * math.sqrt(10)  # forecast over L+R plus safety stock
    assert qty[0] == pytest.approx(math.ceil((target - 10) / 4) * 4)
    assert policy.last_orders is not None
    assert policy.last_orders["sigma_daily"].iloc[0] == pytest.approx(s)  # not the forecast's
    assert policy.last_orders["lead_time_std_days"].iloc[0] == 0
    if k + 1 < days:
        assert policy(DayState(k + 1, np.array([10.0]), np.zeros(1), np.zeros(1)))[0] == 0


def test_pipeline_policy_is_compute_orders_on_the_rolled_forward_forecast() -> None:
    days = 20
    ordered = pd.to_datetime([f"2026-01-{d:02d}" for d in range(1, 8)])
    lead = [3, 4, 5, 3, 4, 5, 30]
    received = pd.DataFrame(
        {
            "sku_id": "S0",
            "order_date": ordered,
            "received_date": ordered + pd.to_timedelta(lead, unit="D"),
        }
    )
    received.loc[6, "received_date"] = pd.Timestamp(START) + pd.Timedelta(days=9)  # known later
    received.loc[6, "order_date"] = received.loc[6, "received_date"] - pd.Timedelta(days=30)
    data = _data(np.zeros((1, days)), received=received, pack_size=1)
    cfg = SimulationConfig(start=START, days=days, refit_every=10)
    refits = [_flat_refit(0, ["S0"], 5.0, 2.0), _flat_refit(10, ["S0"], 8.0, 3.0)]
    policy = ForecastPolicy(data, cfg, refits, baseline=False)
    # the policy reads its lead times from the day's purchase orders (issue 14)
    book = OrderBook(START, ["S0"], [3], _purchase_orders(received))
    state = DayState(7, np.array([10.0]), np.array([3.0]), np.zeros(1), book)
    qty = policy(state)

    params = data.sku.copy()
    params["sigma_daily"] = 2.0
    params["model"] = "prophet"
    stats = lead_time_stats(received.iloc[:6])
    params["lead_time_std_days"] = float(stats["lead_time_std_days"].iloc[0])
    expected = compute_orders(
        refits[0].forecast,
        pd.DataFrame({"sku_id": ["S0"], "on_hand": [10.0], "on_order": [3.0], "backorders": [0.0]}),
        params,
        START + dt.timedelta(days=7),
    )
    assert qty[0] == expected["order_qty"].iloc[0]
    assert policy.last_orders is not None
    assert policy.last_orders["avg_daily_demand"].iloc[0] == pytest.approx(5.0)
    policy(DayState(12, np.array([10.0]), np.array([3.0]), np.zeros(1), book))
    assert policy.last_orders["avg_daily_demand"].iloc[0] == pytest.approx(8.0)
    assert policy.last_orders["sigma_daily"].iloc[0] == pytest.approx(3.0)


def test_simulate_with_a_stub_forecaster_refits_on_schedule() -> None:
    rng = np.random.default_rng(0)
    days = 20
    demand = rng.poisson(5.0, size=(2, days)).astype(float)
    data = _data(demand, on_hand0=30.0, pack_size=1)
    calls: list[int] = []

    def stub(cfg: SimulationConfig, d: ReplayData, day: int, horizon: int) -> RefitForecast:
        calls.append(day)
        assert horizon == 7 + 10 + 1  # refit_every + max(L + R) + 1
        return _flat_refit(day, d.sku_ids, 5.0, 2.0, days=horizon)

    cfg = SimulationConfig(start=START, days=days, refit_every=7)
    result = simulate(data, cfg, stub)
    assert calls == [0, 7, 14]
    assert list(result.per_sku.columns) == list(SKU_COLUMNS)
    assert list(result.summary.columns) == list(SUMMARY_COLUMNS)
    assert len(result.per_sku) == 6
    assert set(result.traces) == {"pipeline", "spreadsheet", "forecast_net"}
    for trace in result.traces.values():
        np.testing.assert_allclose(trace.demand, demand)  # same demand for every policy
        assert trace.on_hand_open[:, 0].tolist() == [30.0, 30.0]
    assert result.per_sku["run_id"].iloc[0] == "2026-03-02+20d-periodic-lost_sales-refit7"


# --------------------------------------------------------------------------- reporting tables


def _stub_result(run_id: str | None = None) -> object:
    days = 10
    demand = np.random.default_rng(1).poisson(4.0, size=(2, days)).astype(float)
    data = _data(demand, on_hand0=20.0)

    def stub(cfg: SimulationConfig, d: ReplayData, day: int, horizon: int) -> RefitForecast:
        return _flat_refit(day, d.sku_ids, 4.0, 1.0, days=horizon)

    return simulate(data, SimulationConfig(start=START, days=days, run_id=run_id), stub)


def _write_and_read(url: str) -> None:
    from replenishment.db import make_engine, schema_prefix
    from replenishment.simulate import write_results

    engine = make_engine(url)
    first = _stub_result()
    other = _stub_result(run_id="other-window")
    write_results(engine, "reporting", first)  # type: ignore[arg-type]
    write_results(engine, "reporting", other)  # type: ignore[arg-type]
    written = write_results(engine, "reporting", first)  # type: ignore[arg-type]
    assert written == {"inventory_simulation": 6, "inventory_simulation_summary": 6}
    with engine.connect() as conn:
        prefix = schema_prefix(conn, "reporting")
        rows = pd.read_sql_query(
            sa.text(
                f"SELECT run_id, COUNT(*) AS n FROM {prefix}inventory_simulation GROUP BY run_id"
            ),
            conn,
        )
        summary = pd.read_sql_query(
            sa.text(f"SELECT * FROM {prefix}inventory_simulation_summary"), conn
        )
    engine.dispose()
    assert dict(zip(rows["run_id"], rows["n"], strict=True)) == {
        "2026-03-02+10d-periodic-lost_sales-refit7": 6,
        "other-window": 6,
    }
    assert set(summary["demand_class"]) == {"all", "smooth"}


def test_write_results_replaces_only_its_run_sqlite(tmp_path: Path) -> None:
    _write_and_read(f"sqlite:///{tmp_path / 'w.db'}")


@pytest.mark.postgres
def test_write_results_replaces_only_its_run_postgres(pg_url: str) -> None:
    _write_and_read(pg_url)


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_replay_on_a_tiny_demo_warehouse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from replenishment.db import make_engine
    from replenishment.demo import DemoSpec, generate

    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    engine = make_engine(url)
    generate(engine, DemoSpec(n_skus=12, years=2.0, end_date=dt.date(2026, 6, 30), seed=5))
    argv = ["--url", url, "--start", "2026-05-01", "--days", "28", "--refit-every", "14"]
    argv += ["--workers", "1", "--forecast-cache", str(tmp_path / "cache"), "--write"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "bars:" not in out and "spreadsheet" in out and "forecast_net" in out
    with engine.connect() as conn:
        per_sku = pd.read_sql_query(sa.text("SELECT * FROM inventory_simulation"), conn)
        summary = pd.read_sql_query(sa.text("SELECT * FROM inventory_simulation_summary"), conn)
    assert set(per_sku["policy"]) == {"pipeline", "spreadsheet", "forecast_net"}
    assert not per_sku.duplicated(["run_id", "policy", "sku_id"]).any()
    assert (per_sku["fill_rate"].dropna().between(0, 1)).all()
    n_skus = per_sku["sku_id"].nunique()
    assert len(per_sku) == 3 * n_skus and n_skus >= 10
    assert set(summary.loc[summary["demand_class"] == "all", "policy"]) == set(per_sku["policy"])

    # a re-run of the same window (forecasts from the cache) replaces its rows
    assert main(argv) == 0
    with engine.connect() as conn:
        again = pd.read_sql_query(sa.text("SELECT * FROM inventory_simulation"), conn)
    engine.dispose()
    assert len(again) == len(per_sku)
    pd.testing.assert_frame_equal(
        again.sort_values(["policy", "sku_id"]).reset_index(drop=True),
        per_sku.sort_values(["policy", "sku_id"]).reset_index(drop=True),
    )


def test_review_schedule_orders_only_on_review_days() -> None:
    days = [START + dt.timedelta(days=k) for k in range(14)]
    mask = np.array([review_days(["A", "B"], [1, 7], d) for d in days])
    assert mask[:, 0].all()
    reviewed = np.flatnonzero(mask[:, 1])
    assert len(reviewed) == 2 and reviewed[1] - reviewed[0] == 7

    data = _data(np.zeros((1, 14)), pack_size=1, review_period_days=7)
    refits = [_flat_refit(0, ["S0"], 5.0, 2.0)]
    for schedule in (False, True):
        cfg = SimulationConfig(start=START, days=14, review_schedule=schedule)
        policy = ForecastPolicy(data, cfg, refits, baseline=False)
        placed = [
            policy(DayState(k, np.zeros(1), np.zeros(1), np.zeros(1)))[0] > 0 for k in range(14)
        ]
        # the policy itself orders periodic SKUs on their review days only
        expected = list(np.array([review_days(["S0"], [7], d)[0] for d in days]))
        assert placed == expected


# --------------------------------------------------------------------------- settings


def test_config_takes_the_shared_settings_from_the_environment_and_params() -> None:
    """The simulation DAG's config: REPLENISHMENT_* settings reach the replay (issue 13)."""
    from replenishment.config import Settings
    from replenishment.simulate import ForecastPolicy, forecast_config

    env = {
        "REPLENISHMENT_SERVICE_TARGET": "fill_rate",
        "REPLENISHMENT_HOLIDAY_COUNTRY": "DE",
        "REPLENISHMENT_INTERVAL_WIDTH": "0.9",
        "REPLENISHMENT_MIN_HISTORY_DAYS": "90",
        "REPLENISHMENT_POLICY": "continuous",
    }
    # the DAG's params pass through Settings.load; its own ones (days...) are ignored there
    params = {"days": 30, "refit_every": 7, "policy": "periodic", "demand_mode": "lost_sales"}
    settings = Settings.load(params, env=env)
    cfg = SimulationConfig.from_settings(settings, start=START, days=30, refit_every=7)
    fc = forecast_config(cfg, day=7, horizon=20)
    assert (fc.holiday_country, fc.interval_width, fc.min_history_days) == ("DE", 0.9, 90)
    assert fc.run_date == START + dt.timedelta(days=7) and fc.horizon_days == 20
    assert cfg.settings.service_target == "fill_rate"
    assert cfg.settings.policy == "periodic"  # the DAG param overrides the environment
    assert cfg.key.startswith("2026-03-02+30d-periodic-")

    # the pipeline policy sizes its safety stock for that service target
    data = _data(np.zeros((1, 30)), pack_size=1)
    seen: list[str] = []

    def spy(*args: object, **kwargs: object) -> pd.DataFrame:
        seen.append(str(kwargs["service_target"]))
        return compute_orders(*args, **kwargs)  # type: ignore[arg-type]

    policy = ForecastPolicy(data, cfg, [_flat_refit(0, ["S0"], 5.0, 1.0)], baseline=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("replenishment.policy.compute_orders", spy)
        policy(DayState(0, np.zeros(1), np.zeros(1), np.zeros(1)))
    assert seen == ["fill_rate"]

    with pytest.raises(TypeError, match="service_target"):
        SimulationConfig.from_settings(settings, start=START, service_target="cycle")


# --------------------------------------------------------------------------- order book, scenarios


def test_the_day_state_shows_the_purchase_orders_known_that_day() -> None:
    real = pd.DataFrame(
        {
            "po_id": ["R1", "R2"],
            "sku_id": ["S0", "S0"],
            "order_date": pd.to_datetime(["2026-02-20", "2026-02-21"]),
            "expected_date": pd.to_datetime(["2026-02-27", "2026-02-28"]),
            "received_date": pd.to_datetime([START + dt.timedelta(days=2), None]),
            "quantity": [7.0, 4.0],
            "status": ["received", "cancelled"],
        }
    )
    book = OrderBook(START, ["S0"], [2], real)
    policy = Scripted({0: [5.0]})
    lead = np.full((1, 6), 3, dtype=np.int64)  # the supplier takes 3 days, planned 2
    replay(np.zeros((1, 6)), np.zeros(1), np.zeros((1, 7)), lead, policy, book=book)
    frames = {k: policy.seen[k].purchase_orders() for k in (0, 2, 3, 4)}
    assert list(frames[0].columns) == list(PO_COLUMNS)
    assert frames[0]["po_id"].tolist() == ["R1", "R2"]  # nothing placed before day 0
    assert frames[2]["status"].tolist() == ["open", "cancelled", "open"]  # R1 arrives today
    day3 = frames[3].set_index("po_id")
    assert day3.loc["R1", "status"] == "received"
    assert day3.loc["R1", "received_date"] == pd.Timestamp(START + dt.timedelta(days=2))
    placed = day3.drop(index=["R1", "R2"]).iloc[0]
    assert placed["sku_id"] == "S0" and placed["quantity"] == 5.0
    assert placed["order_date"] == pd.Timestamp(START)
    assert placed["expected_date"] == pd.Timestamp(START + dt.timedelta(days=2))  # planned
    assert placed["status"] == "open" and pd.isna(placed["received_date"])
    late = frames[4].set_index("po_id").drop(index=["R1", "R2"]).iloc[0]
    assert late["status"] == "received"
    assert late["received_date"] == pd.Timestamp(START + dt.timedelta(days=3))
    assert DayState(0, np.zeros(1), np.zeros(1), np.zeros(1)).purchase_orders().empty


def test_the_order_book_reads_the_pipelines_look_back_by_order_date() -> None:
    # the pipeline's extract reads the orders placed in the look-back before the run
    # date (include/sql/extract_purchase_orders.sql); the replay's book shows the same
    ordered = pd.to_datetime([START - dt.timedelta(days=12), START - dt.timedelta(days=9)])
    received = pd.DataFrame(
        {"sku_id": "S0", "order_date": ordered, "received_date": ordered + pd.Timedelta(days=4)}
    )
    book = OrderBook(START, ["S0"], [3], _purchase_orders(received), look_back_days=10)
    assert book.frame(0)["po_id"].tolist() == ["P1"]  # P0 was placed 12 days before
    assert book.frame(2)["po_id"].tolist() == []  # P1 now 11 days before
    book.place(0, np.array([5.0]), np.array([4]))
    assert book.frame(3)["order_date"].tolist() == [pd.Timestamp(START)]
    every = OrderBook(START, ["S0"], [3], _purchase_orders(received))
    assert every.frame(2)["po_id"].tolist() == ["P0", "P1"]  # no look-back: all of them


def test_supplier_delay_scenario_shifts_every_receipt() -> None:
    from replenishment.simulate import with_scenarios

    data = _data(np.zeros((1, 10)), lead_time_days=3)
    cfg = SimulationConfig(start=START, days=10, supplier_delay_days=2)
    late = with_scenarios(data, cfg)
    assert (late.lead_times == 5).all() and (data.lead_times == 3).all()
    assert late.sku["lead_time_days"].tolist() == [3]  # the master data is unchanged
    trace = replay(
        late.demand, late.on_hand0, late.scheduled, late.lead_times, Scripted({0: [4.0]})
    )
    assert trace.receipts[0].tolist() == [0, 0, 0, 0, 0, 4, 0, 0, 0, 0]
    assert cfg.key.endswith("-late2")
    assert with_scenarios(data, SimulationConfig(start=START, days=10)) is data


def test_stale_master_scenario_shortens_the_plan_not_the_receipts() -> None:
    from replenishment.simulate import with_scenarios

    data = dataclasses.replace(
        _data(np.zeros((2, 10)), lead_time_days=5),
        purchase_orders=pd.DataFrame(
            {
                "po_id": ["R1"],
                "sku_id": ["S0"],
                "order_date": pd.to_datetime(["2025-12-01"]),
                "expected_date": pd.to_datetime(["2025-12-06"]),
                "received_date": pd.to_datetime(["2025-12-09"]),
                "quantity": [4.0],
                "status": ["received"],
            }
        ),
    )
    cfg = SimulationConfig(start=START, days=10, stale_lead_time_days=3)
    stale = with_scenarios(data, cfg)
    assert stale.sku["lead_time_days"].tolist() == [2.0, 2.0]
    assert (stale.lead_times == 5).all()  # the suppliers deliver as before
    order = stale.purchase_orders.iloc[0]
    assert order["expected_date"] == pd.Timestamp("2025-12-03")  # the stale promise
    assert order["received_date"] == pd.Timestamp("2025-12-09")
    assert data.sku["lead_time_days"].tolist() == [5, 5]  # the input is not changed
    floor = with_scenarios(data, SimulationConfig(start=START, days=10, stale_lead_time_days=9))
    assert floor.sku["lead_time_days"].tolist() == [1.0, 1.0]
    assert cfg.key.endswith("-stale3")


def test_demand_shock_scales_demand_from_its_day() -> None:
    from replenishment.simulate import parse_demand_shock, with_scenarios

    factor, day = parse_demand_shock("1.5@3")
    assert (factor, day) == (1.5, 3)
    with pytest.raises(ValueError, match="FACTOR@DAY"):
        parse_demand_shock("1.5")
    history = pd.DataFrame(
        {
            "sku_id": ["S0"] * 2,
            "ds": pd.to_datetime([START + dt.timedelta(days=2), START + dt.timedelta(days=3)]),
            "y": [2.0, 2.0],
        }
    )
    data = dataclasses.replace(_data(np.full((1, 6), 2.0)), history=history)
    cfg = SimulationConfig(start=START, days=6, demand_shock_factor=factor, demand_shock_day=day)
    shocked = with_scenarios(data, cfg)
    assert shocked.demand[0].tolist() == [2, 2, 2, 3, 3, 3]
    assert shocked.recorded[0, data.pad + 2] == 5 and shocked.recorded[0, data.pad + 3] == 7.5
    assert shocked.history["y"].tolist() == [2.0, 3.0]
    assert data.demand[0].tolist() == [2.0] * 6  # the input is not changed
    assert cfg.key.endswith("-shock1.5@3")
    with pytest.raises(ValueError, match="demand_shock_day"):
        SimulationConfig(start=START, days=6, demand_shock_factor=2.0, demand_shock_day=6)
