"""Benchmark: the replenish step for many SKUs (issue 14's bar: 10,000 SKUs under 30 s).

    python scripts/bench_replenish.py --skus 10000

Builds, in memory and seeded, what the replenish stage gets for each SKU: a SKU master
(periodic and continuous review, packs, MOQs, planned lead times, a fifth of suppliers
late), 28 days of forecast, stock positions, two years of purchase orders (about one a
week per SKU, received or open), and a backtest error frame for a seventh of the SKUs
(as the daily run backtests them), a quarter of the SKUs intermittent or lumpy. Then it
times, in one process, each step the stage runs: the error profile
(:meth:`ErrorProfile.measure`), the lead times (:func:`estimate_lead_times`) and the whole
:func:`plan_orders` (lead times, levels, quantities, reasons), for the cycle-service and
the fill-rate target, and prints seconds, SKUs/s and peak memory.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import time

import numpy as np
import pandas as pd

from replenishment.forecast_error import ErrorProfile
from replenishment.lead_time import estimate_lead_times
from replenishment.policy import plan_orders

RUN_DATE = dt.date(2026, 7, 1)
CLASSES = np.array(["smooth", "erratic", "intermittent", "lumpy"])


def build(n: int, seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = np.array([f"SKU-{i:06d}" for i in range(n)], dtype=object)
    demand_class = rng.choice(CLASSES, n, p=[0.6, 0.15, 0.15, 0.10])
    lead = rng.integers(3, 22, n).astype(float)
    master = pd.DataFrame(
        {
            "sku_id": ids,
            "unit_cost": rng.uniform(1, 200, n).round(2),
            "pack_size": rng.choice([1, 1, 6, 12, 24], n),
            "moq": np.where(rng.random(n) < 0.5, 0, 24),
            "lead_time_days": lead,
            "review_period_days": rng.choice([1.0, 7.0, 14.0], n),
            "service_level": rng.choice([0.9, 0.95, 0.98], n),
            "holding_cost_rate": 0.25,
            "order_cost": rng.uniform(20, 150, n).round(2),
            "policy": np.where(rng.random(n) < 0.3, "continuous", "periodic"),
        }
    )
    level = np.where(np.isin(demand_class, ["intermittent", "lumpy"]), 0.5, 20.0)
    days = 28
    forecast = pd.DataFrame(
        {
            "sku_id": np.repeat(ids, days),
            "forecast_date": np.tile(pd.date_range(RUN_DATE, periods=days), n),
            "yhat": np.repeat(level, days) * rng.uniform(0.7, 1.3, n * days),
        }
    )
    summary = pd.DataFrame(
        {
            "sku_id": ids,
            "model": "prophet",
            "sigma_daily": level * 0.4,
            "demand_class": demand_class,
        }
    )
    per_sku = 104
    order_day = pd.Timestamp(RUN_DATE) - pd.to_timedelta(
        np.tile(np.arange(per_sku) * 7 + 1, n), unit="D"
    )
    lead_po = np.repeat(lead, per_sku) + rng.normal(0, 1, n * per_sku).round()
    late = np.repeat(rng.random(n) < 0.2, per_sku)
    received = order_day + pd.to_timedelta(lead_po + np.where(late, 3, 0), unit="D")
    purchase_orders = pd.DataFrame(
        {
            "sku_id": np.repeat(ids, per_sku),
            "order_date": order_day,
            "expected_date": order_day + pd.to_timedelta(np.repeat(lead, per_sku), unit="D"),
            "received_date": received.where(received < pd.Timestamp(RUN_DATE)),
        }
    )
    tested = ids[::7]
    h = np.arange(28)
    tested_level = np.repeat(level[::7], 28)
    errors = pd.DataFrame(
        {
            "sku_id": np.repeat(tested, 28),
            "demand_class": np.repeat(demand_class[::7], 28),
            "h": np.tile(h, len(tested)),
            "actual": tested_level * rng.uniform(0.5, 1.5, len(tested) * 28),
            "forecast": tested_level,
            "censored": rng.random(len(tested) * 28) < 0.02,
        }
    )
    position = pd.DataFrame(
        {"sku_id": ids, "on_hand": level * rng.uniform(0, 20, n), "on_order": 0.0}
    )
    return {
        "master": master,
        "summary": summary,
        "forecast": forecast,
        "position": position,
        "purchase_orders": purchase_orders,
        "errors": errors,
    }


def _timed(label: str, n: int, fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    print(f"{label:<34} {seconds:8.2f} s  {n / seconds:10,.0f} SKUs/s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skus", type=int, default=10_000)
    args = parser.parse_args()
    t0 = time.perf_counter()
    data = build(args.skus)
    n = args.skus
    print(
        f"{n:,} SKUs, {len(data['purchase_orders']):,} purchase orders, "
        f"{len(data['errors']):,} backtest error rows (built in {time.perf_counter() - t0:.1f} s)"
    )
    sigma = data["summary"].set_index("sku_id")["sigma_daily"]
    profile = _timed(
        "error profile (kappa by class)", n, lambda: ErrorProfile.measure(data["errors"], sigma)
    )
    _timed(
        "lead times from receipts",
        n,
        lambda: estimate_lead_times(
            data["master"][["sku_id", "lead_time_days"]], data["purchase_orders"], RUN_DATE
        ),
    )
    for target in ("cycle", "fill_rate"):
        orders = _timed(
            f"plan_orders, {target} target",
            n,
            lambda target=target: plan_orders(
                data["master"],
                data["summary"],
                data["forecast"],
                data["position"],
                data["purchase_orders"],
                RUN_DATE,
                service_target=target,
                errors=profile,
            ),
        )
        placed = orders["order_qty"] > 0
        print(
            f"  {int(placed.sum()):,} orders; sources {orders['lead_time_source'].value_counts().to_dict()}; "
            f"{int((orders['demand_distribution'] == 'negative_binomial').sum()):,} negative-binomial"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
