"""Simulate: replay a replenishment policy day by day over a historical window.

For each simulated day t of ``[start, start + days)`` the replay

1. decides today's purchase orders from what was known before t (the policy),
2. places them; each arrives after a *real* lead time (see below),
3. receives the orders due today,
4. serves today's actual demand from stock: what cannot be served is lost
   (``lost_sales``) or owed to the customer and served first from later receipts
   (``backorders``),
5. records the end-of-day stock.

Three policies are replayed on the same demand, the same starting stock and the
same lead-time draws (common random numbers), so their differences are the
policies' own:

``pipeline``
    The project's policy: :func:`replenishment.policy.compute_orders` fed with the
    forecast of the day (:func:`replenishment.forecast.forecast_frames`, then
    :func:`~replenishment.forecast.calibrate`, as the pipeline does), its
    ``sigma_daily``, the SKU master and the lead-time spread measured from the
    purchase orders of the day state (:func:`~replenishment.simulate.policies.lead_time_inputs`).
``spreadsheet``
    Baseline 1, a competent planner's spreadsheet: on each SKU's review days
    (:func:`~replenishment.policy.review_days`) order up to
    ``S = m * P + z * s * sqrt(P)`` when the inventory position is below it, where
    ``m`` and ``s`` are the mean and standard deviation of the daily demand recorded over
    the ``trailing_days`` (56: eight weeks) days before t, stock-out days left out;
    ``P = Lm + R`` with ``Lm`` the mean measured lead time of the SKU's receipts known
    before t (the planned lead time without any) and R the review period (at least 1);
    ``z = Phi^-1(service_level)``. Rounded up to whole packs and raised to the MOQ
    exactly as ``compute_orders`` rounds.
``forecast_net``
    Baseline 2, "order the forecast minus inventory minus safety stock", read as the
    MRP net requirement on each review day: order
    ``forecast demand over L + R - (inventory position - safety stock)`` when
    positive (the literal signs would aim at a negative safety stock), with L the same
    measured mean lead time as the spreadsheet's. Same forecast as ``pipeline``; the
    safety stock is the textbook one from the trailing demand spread,
    ``z * s * sqrt(L + R)``, without the forecast-error backtest nor the lead-time
    spread. Computed by ``compute_orders`` (periodic, the run's service target) with
    ``sigma_daily = s`` and no lead-time spread, so packs and MOQ are the same.

The purchase orders a policy sees
---------------------------------
Each day t the engine gives every policy ``state.purchase_orders()``: the table
``purchase_orders`` as the pipeline would read it on day t, i.e. the real purchase
orders placed before the window (received_date only if received before t) and the
orders the policy itself placed during the replay (expected on order_date + planned
lead time, received_date once they arrived before t). Policies learn lead times from
it, so a late supplier shows in the receipts of the policy's own orders.

Scenarios
---------
``--supplier-delay-days N``: every order of the replay arrives N days later than the
receipt its lead time is drawn from (the planned lead time in the master data is
unchanged). ``--demand-shock FACTOR@DAY``: from simulated day DAY on, the demand served
and the history the forecasts and baselines read are multiplied by FACTOR. Both enter
the run_id (``-late3``, ``-shock1.5@60``).

What "known before t" means
---------------------------
Forecasts and the baselines' trailing statistics are made from the warehouse as
the pipeline would have read it on day t: daily demand of order lines before t,
stock-out days (``on_hand = 0`` snapshots) before t, promotions (planned, so known
ahead), received purchase orders before t. They are the same for the three
policies: the simulated stock-outs do not feed back into the history (the
forecaster leaves censored days out of its fits anyway).

Refits. Fitting Prophet every day for 180 days x 200 SKUs is too slow, so the
forecast is refitted every ``refit_every`` days (day 0, refit_every, ...) with a
horizon of ``refit_every + max(L + R)`` days; on the days between two refits the
last forecast is rolled forward: day t uses that forecast's rows for t onwards and
its ``sigma_daily``. Each refit backtests the SKUs as configured by
``backtest_every`` (1 = every SKU on every refit, the default: with the pipeline's
rotation of one SKU in 7 per run date and a refit every 7 days, the same seventh
of the SKUs would be backtested every time).

The demand served
-----------------
The demand of day t is the warehouse's recorded demand of that day (order lines not
cancelled). On a day the warehouse ended out of stock, its sales understate
demand; there the demand served is the larger of the recorded sales and an
estimate: the mean recorded demand of the same weekday in the 4 weeks before and
after, its own stock-out days left out (else the SKU's mean of uncensored days).
The estimate uses days after t: it builds the ground truth, never a decision.

Lead times and the starting state
---------------------------------
A purchase order placed on day t arrives on day ``t + lead``; ``lead`` is drawn,
seeded by (``seed``, sku_id), from the real lead times ``received_date -
order_date`` of the SKU's purchase orders received from 730 days before the window
to its end, or is the planned ``lead_time_days`` when the SKU has none; at least 1
day. One draw per SKU and day, shared by the three policies.

Every policy starts from the real end-of-day stock of the day before ``start``
and the real open purchase orders: each arrives on its real ``received_date``
(the open quantity is split evenly over a SKU's open orders; orders still open
after the window never arrive in it). SKUs simulated: the active SKUs with sales
before ``start`` (a SKU launched during the window has no history to plan from).

KPIs (per SKU, then per policy and demand class)
------------------------------------------------
cycle_service_level
    Share of complete review cycles without a shortage. The review cycle of a review
    day k runs from the day an order placed on k arrives (k + its lead-time draw) to
    the day before the order of the next review day arrives: the days the order-up-to
    level of k has to cover. Cycles that end after the window are not complete. A cycle
    has a shortage when, on one of its days, demand could not be served from stock. NaN
    without a cycle. ``service_level_gap`` per SKU: cycle_service_level - target.
    Per policy and demand class: ``service_level_abs_gap``, the mean over SKUs of
    ``|cycle_service_level - target|`` (the figure to judge by), and
    ``service_level_gap``, the signed mean, where over- and under-shoot cancel.
fill_rate
    Units served from stock on the day they were asked for / units demanded.
stockout_days
    Days ending with nothing on hand (the contract's definition).
short_days
    Days on which some demand could not be served.
avg_on_hand, avg_inventory_value
    Mean end-of-day stock, units and at unit cost.
inventory_turns
    Annualised: units shipped x 365 / days / avg_on_hand (value-weighted in totals).
orders, units_ordered
    Purchase orders placed (quantity > 0) and their units, arriving or not.
holding_cost
    Sum over days of end-of-day stock x unit_cost x holding_cost_rate / 365.
ordering_cost
    orders x order_cost.

The demand class of a SKU is the Syntetos-Boylan class of the first refit.

Command line (the project CLI dispatches ``replenishment simulate ...`` to :func:`main`)::

    replenishment simulate --url sqlite:///.data/warehouse.db --start 2026-01-01 --days 180 \\
        [--skus 50] [--policy periodic|continuous] [--demand-mode lost_sales|backorders] \\
        [--refit-every 7] [--supplier-delay-days 3] [--demand-shock 1.5@60] [--write] \\
        [--summary-csv summary.csv]

The report prints figures only; ``scripts/simulation_bars.py`` judges a run against
the acceptance bars.

Package layout (imports point down this list, never up)
-------------------------------------------------------
``config``      SimulationConfig, names shared by every module
``data``        ReplayData: the warehouse read once, demand to serve, lead-time draws
``engine``      DayState, the Policy protocol, Trace, replay
``forecaster``  the pipeline's forecast refitted on the data known at a day
``policies``    the pipeline's policy and the baselines
``kpis``        per-SKU KPIs, their summary, SimulationResult
``write``       the reporting tables
``report``      the printed comparison
``run``         simulate (data -> result) and run_simulation (URL -> result, written)
``cli``         ``replenishment simulate ...``
"""

from __future__ import annotations

from replenishment.policy import review_days
from replenishment.simulate.cli import main
from replenishment.simulate.config import (
    ALL_CLASSES,
    BASELINES,
    DEMAND_MODES,
    POLICY_NAMES,
    SimulationConfig,
    parse_demand_shock,
    refit_horizon,
)
from replenishment.simulate.data import (
    ReplayData,
    draw_lead_times,
    load_replay_data,
    uncensored_demand,
    with_scenarios,
)
from replenishment.simulate.engine import (
    PO_COLUMNS,
    DayState,
    OrderBook,
    Policy,
    Trace,
    replay,
    review_calendar,
)
from replenishment.simulate.forecaster import (
    Forecaster,
    RefitForecast,
    forecast_config,
    pipeline_forecaster,
)
from replenishment.simulate.kpis import (
    SKU_COLUMNS,
    SUMMARY_COLUMNS,
    SimulationResult,
    cycle_counts,
    sku_kpis,
    summarise,
)
from replenishment.simulate.policies import (
    ForecastPolicy,
    SpreadsheetPolicy,
    lead_time_inputs,
    orders_in_packs,
    trailing_stats,
)
from replenishment.simulate.report import format_report
from replenishment.simulate.run import run_simulation, simulate
from replenishment.simulate.write import SKU_TABLE, SUMMARY_TABLE, write_results

__all__ = [
    "ALL_CLASSES",
    "BASELINES",
    "DEMAND_MODES",
    "DayState",
    "ForecastPolicy",
    "Forecaster",
    "OrderBook",
    "POLICY_NAMES",
    "PO_COLUMNS",
    "Policy",
    "RefitForecast",
    "ReplayData",
    "SKU_COLUMNS",
    "SKU_TABLE",
    "SUMMARY_COLUMNS",
    "SUMMARY_TABLE",
    "SimulationConfig",
    "SimulationResult",
    "SpreadsheetPolicy",
    "Trace",
    "cycle_counts",
    "draw_lead_times",
    "forecast_config",
    "format_report",
    "lead_time_inputs",
    "load_replay_data",
    "main",
    "orders_in_packs",
    "parse_demand_shock",
    "pipeline_forecaster",
    "refit_horizon",
    "replay",
    "review_calendar",
    "review_days",
    "run_simulation",
    "simulate",
    "sku_kpis",
    "summarise",
    "trailing_stats",
    "uncensored_demand",
    "with_scenarios",
    "write_results",
]
