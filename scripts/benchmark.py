"""Benchmarks: where the forecast stage's time goes, and the whole run end to end.

    python scripts/benchmark.py forecast --url sqlite:///.data/warehouse.db --skus 200
    python scripts/benchmark.py e2e --url postgresql+psycopg2://postgres@127.0.0.1/bench --skus 1000 --generate

``forecast`` measures, on the same SKUs in the same process tree:
  naive     a loop over SKUs: default Prophet() fit + predict (1,000 uncertainty samples), one process
  pipeline  the pipeline's forecast stage as configured by default (routing, holidays, promo
            regressor, backtest, lean Stan path, one worker process per core)
  floor     the Stan optimizer binary alone on each SKU's Prophet inputs, one process
and prints SKUs/s, the ratios and peak memory.

``e2e`` runs ``replenishment run`` for the demo run date as a subprocess and prints each
stage's time (from pipeline_runs) and the peak RSS of any process of the run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

RUN_DATE = dt.date(2026, 7, 1)


def _peak_rss_mib() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def _quiet() -> None:
    logging.getLogger("cmdstanpy").disabled = True
    logging.getLogger("prophet").setLevel(logging.CRITICAL)
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)


def bench_forecast(args: argparse.Namespace) -> None:
    from replenishment.db import make_engine
    from replenishment.extract import extract
    from replenishment.forecast import ForecastConfig, build_series, forecast_frames

    _quiet()
    engine = make_engine(args.url)
    data = extract(engine, RUN_DATE, 28)
    active = sorted(data.sku.loc[data.sku["active"], "sku_id"])
    ids = active[: args.skus]
    series = build_series(ids, data.demand, data.stockouts, data.promotions, RUN_DATE, 28)
    print(f"benchmark on {len(ids)} SKUs, run date {RUN_DATE}, {os.cpu_count()} cores")

    # naive: default Prophet, one process
    from prophet import Prophet

    naive_ids = [s for s in series if np.count_nonzero(~np.isnan(s.y)) >= 2][: args.naive_skus]
    t0 = time.perf_counter()
    for s in naive_ids:
        frame = pd.DataFrame({"ds": s.dates, "y": np.nan_to_num(s.y)})
        m = Prophet().fit(frame)
        m.predict(m.make_future_dataframe(28))
    naive = (time.perf_counter() - t0) / len(naive_ids)

    # pipeline forecast stage, default configuration
    workers = os.cpu_count() or 1
    cfg = ForecastConfig(run_date=RUN_DATE)
    t0 = time.perf_counter()
    result = forecast_frames(
        ids, data.demand, data.stockouts, data.promotions, cfg, workers=workers
    )
    pipeline = (time.perf_counter() - t0) / len(ids)
    models = result.summary["model"].value_counts().to_dict()

    # floor: the optimizer alone, on each Prophet-routed SKU's own inputs
    floor, n_floor = _optimizer_floor(series, result.summary, cfg)

    own, children = _peak_rss_mib()
    rows = [
        ("naive (default Prophet loop, 1 process)", naive, len(naive_ids)),
        (f"pipeline forecast stage ({workers} processes)", pipeline, len(ids)),
        ("floor (Stan optimizer alone, 1 process)", floor, n_floor),
    ]
    print(f"models: {models}")
    print(f"{'measure':46s} {'s/SKU (wall)':>13s} {'SKUs/s':>8s} {'SKUs':>6s}")
    for name, per, n in rows:
        print(f"{name:46s} {per:13.4f} {1 / per:8.2f} {n:6d}")
    print(f"throughput pipeline / naive: {naive / pipeline:.2f}x")
    per_core = pipeline * workers
    print(f"pipeline CPU per SKU per core: {per_core:.4f} s = {per_core / floor:.2f}x the floor")
    print(f"peak RSS: benchmark process {own:.0f} MiB, largest worker {children:.0f} MiB")


def _optimizer_floor(series, summary: pd.DataFrame, cfg) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """Seconds per SKU the Stan binary alone needs (one cold fit per Prophet-routed SKU)."""
    import orjson

    from replenishment.forecast import YEARLY_MIN_DAYS, holidays_frame
    from replenishment.stan_fast import LeanProphet, _arr, _model_exe

    holidays = holidays_frame(cfg.holiday_country, cfg.run_date, cfg.horizon_days)
    prophet_ids = set(summary.loc[summary["model"] == "prophet", "sku_id"])
    total, n = 0.0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for s in series:
            if s.sku_id not in prophet_ids:
                continue
            observed = int(np.count_nonzero(~np.isnan(s.y)))
            m = LeanProphet(
                yearly_seasonality=observed >= YEARLY_MIN_DAYS,
                weekly_seasonality=True,
                daily_seasonality=False,
                seasonality_mode="multiplicative",
                holidays=holidays,
                uncertainty_samples=0,
            )
            train = pd.DataFrame({"ds": s.dates, "y": s.y})
            if np.nansum(s.promo_history[~np.isnan(s.y)]) > 0:
                m.add_regressor("promo", standardize=False, mode="multiplicative")
                train["promo"] = s.promo_history
            inputs = m.preprocess(train)
            init = m.calculate_initial_params(inputs.K)
            data = {k: (_arr(v) if not np.isscalar(v) else v) for k, v in vars(inputs).items()}
            payload = {
                k: (int(v) if k in ("T", "S", "K", "trend_indicator") else v)
                for k, v in data.items()
            }
            d, i, o = Path(tmp, "d.json"), Path(tmp, "i.json"), Path(tmp, "o.csv")
            d.write_bytes(orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY))
            i.write_bytes(
                orjson.dumps(
                    {
                        k: (_arr(v) if not np.isscalar(v) else float(v))
                        for k, v in vars(init).items()
                    },
                    option=orjson.OPT_SERIALIZE_NUMPY,
                )
            )
            cmd = [_model_exe(), "optimize", "algorithm=lbfgs", "iter=10000", "data",
                   f"file={d}", f"init={i}", "output", f"file={o}", "refresh=0"]  # fmt: skip
            t0 = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=True)
            total += time.perf_counter() - t0
            n += 1
    return total / max(n, 1), n


def bench_e2e(args: argparse.Namespace) -> None:
    from replenishment.db import make_engine
    from replenishment.load import read_output

    if args.generate:
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "replenishment.cli", "demo-warehouse", "--url", args.url,
             "--skus", str(args.skus), "--years", "3"],
            check=True,
        )  # fmt: skip
        print(f"demo warehouse: {args.skus} SKUs x 3 years in {time.perf_counter() - t0:.0f} s")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "replenishment.cli", "run", "--date", RUN_DATE.isoformat(),
             "--url", args.url, "--staging-dir", f"{tmp}/staging", "--data-docs-dir", f"{tmp}/docs"],
            check=True,
        )  # fmt: skip
        wall = time.perf_counter() - t0
    _, children = _peak_rss_mib()
    run = read_output(make_engine(args.url), "reporting", "pipeline_runs", RUN_DATE).iloc[0]
    print(
        f"end to end: {wall:.0f} s wall for {run['skus_total']} SKUs; peak RSS of any process {children:.0f} MiB"
    )
    for stage in ("extract", "validate", "forecast", "replenish", "load"):
        print(f"  {stage:10s} {run[f'{stage}_seconds']:8.1f} s")
    print(
        json.dumps(
            {
                "skus": int(run["skus_total"]),
                "wall_s": round(wall, 1),
                "peak_rss_mib": round(children),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("forecast")
    f.add_argument("--url", required=True)
    f.add_argument("--skus", type=int, default=200)
    f.add_argument(
        "--naive-skus", type=int, default=200, help="SKUs for the naive loop (a subset if slow)"
    )
    e = sub.add_parser("e2e")
    e.add_argument("--url", required=True)
    e.add_argument("--skus", type=int, default=1000)
    e.add_argument("--generate", action="store_true", help="(re)create the demo warehouse first")
    args = parser.parse_args()
    {"forecast": bench_forecast, "e2e": bench_e2e}[args.command](args)


if __name__ == "__main__":
    main()
