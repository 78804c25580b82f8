"""Rolling-origin backtest: how good are the forecasts, honestly measured.

For a run date D and ``origins`` cut-offs o_k = D - k * ``step_days`` - horizon
(k = 0 .. origins-1), every SKU is forecast exactly as the daily run would have
on o_k, from the data before o_k only, for o_k .. o_k + horizon - 1, and scored
against what happened (stock-out days, whose sales are censored, are not
scored). The baseline is the weekly seasonal-naive forecast from the same
cut-off. Per SKU, errors are pooled over the origins:

    WAPE = sum |f - a| / sum a        bias = (sum f - sum a) / sum a
    MASE = mean |f - a| / mean |a_t - a_{t-7}| (in-sample, before the first origin)

Heavy (one Prophet fit per SKU and origin), so it runs on its own schedule
(DAG ``replenishment_backtest_weekly``) or on demand:

    replenishment backtest --date 2026-07-01 --url ... [--origins 4] [--no-censoring] [--write]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import sys
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from replenishment.config import Settings, parse_run_date
from replenishment.forecast import ForecastConfig, calibrate, forecast_frames, seasonal_naive
from replenishment.reporting import comment_columns
from replenishment.warehouse import replace_rows, reporting_transaction

log = logging.getLogger(__name__)

BACKTEST_COLUMNS = [
    "sku_id",
    "model",
    "demand_class",
    "origins",
    "horizon_days",
    "scored_days",
    "actual_units",
    "wape",
    "mase",
    "bias",
    "baseline_wape",
    "baseline_mase",
    "baseline_bias",
    "beats_baseline",
    "interval_coverage",
]


@dataclasses.dataclass(frozen=True)
class BacktestConfig:
    """What to backtest; build it with :meth:`from_settings` so a run's settings apply.

    Own fields: run_date: every horizon ends before it; origins: cut-offs; step_days:
    days between them; censoring: leave stock-out days out of the fits; only: restrict
    the candidate models (e.g. ``("prophet", "sba")``: the pipeline before its challengers).
    From :class:`~replenishment.config.Settings` (defaults there): horizon_days,
    holiday_country, min_history_days, backtest_days (each origin's forecast chooses its
    models on a holdout of that many days before the origin, as the daily run does),
    global_model, interval_width; workers: forecast processes.
    """

    run_date: dt.date
    origins: int = 4
    step_days: int = 28
    horizon_days: int = Settings.horizon_days
    holiday_country: str = Settings.holiday_country
    min_history_days: int = Settings.min_history_days
    censoring: bool = True
    workers: int = 1
    backtest_days: int = Settings.backtest_days
    global_model: bool = Settings.global_model
    interval_width: float = Settings.interval_width
    only: tuple[str, ...] = ()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        run_date: dt.date,
        *,
        origins: int = 4,
        step_days: int = 28,
        censoring: bool = True,
        workers: int | None = None,
        only: tuple[str, ...] = (),
    ) -> BacktestConfig:
        """The run's settings plus the backtest's own fields (workers: default
        ``settings.worker_count()``)."""
        return cls(
            run_date=run_date,
            origins=origins,
            step_days=step_days,
            horizon_days=settings.horizon_days,
            holiday_country=settings.holiday_country,
            min_history_days=settings.min_history_days,
            censoring=censoring,
            workers=workers or settings.worker_count(),
            backtest_days=settings.backtest_days,
            global_model=settings.global_model,
            interval_width=settings.interval_width,
            only=only,
        )


def cutoffs(cfg: BacktestConfig) -> list[dt.date]:
    """The forecast origins, oldest first; each horizon ends before the run date."""
    last = cfg.run_date - dt.timedelta(days=cfg.horizon_days)
    return sorted(last - dt.timedelta(days=k * cfg.step_days) for k in range(cfg.origins))


def rolling_origin(
    sku_ids: list[str],
    demand: pd.DataFrame,
    stockouts: pd.DataFrame,
    promotions: pd.DataFrame,
    cfg: BacktestConfig,
    categories: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Per-SKU pooled errors of the pipeline's forecasts and of seasonal-naive, and the
    share of scored days inside the calibrated interval (BACKTEST_COLUMNS). Each origin is
    forecast as the daily run would: every SKU backtested on its own holdout before the
    origin, its model chosen there, the intervals calibrated on those holdouts."""
    demand = demand.assign(ds=pd.to_datetime(demand["ds"]))
    stockouts = stockouts.assign(ds=pd.to_datetime(stockouts["ds"]))
    censored = set(zip(stockouts["sku_id"], stockouts["ds"], strict=True))
    rows: list[pd.DataFrame] = []
    models: dict[str, tuple[str, str]] = {}
    for origin in cutoffs(cfg):
        o = pd.Timestamp(origin)
        known = demand[demand["ds"] < o]
        fcfg = ForecastConfig.from_settings(
            Settings(
                horizon_days=cfg.horizon_days,
                holiday_country=cfg.holiday_country,
                min_history_days=cfg.min_history_days,
                backtest_days=cfg.backtest_days,
                backtest_every_days=1,
                global_model=cfg.global_model,
                interval_width=cfg.interval_width,
            ),
            origin,
            only=cfg.only,
        )
        used_stockouts = stockouts[stockouts["ds"] < o] if cfg.censoring else stockouts.iloc[0:0]
        result = forecast_frames(
            sku_ids, known, used_stockouts, promotions, fcfg, cfg.workers, categories
        )
        result = calibrate(result, cfg.interval_width)
        for r in result.summary.itertuples():
            models[str(r.sku_id)] = (str(r.model), str(r.demand_class))
        f = result.forecast[["sku_id", "forecast_date", "yhat", "yhat_lower", "yhat_upper"]].copy()
        window = pd.date_range(o, periods=cfg.horizon_days, freq="D")
        actual = (
            demand[(demand["ds"] >= o) & (demand["ds"] <= window[-1])]
            .rename(columns={"ds": "forecast_date", "y": "actual"})
            .astype({"forecast_date": "datetime64[ns]"})
        )
        f["forecast_date"] = f["forecast_date"].astype("datetime64[ns]")
        f = f.merge(actual, on=["sku_id", "forecast_date"], how="left").fillna({"actual": 0.0})
        f = f.merge(
            _baseline(known, stockouts[stockouts["ds"] < o], sku_ids, o, window),
            on=["sku_id", "forecast_date"],
        )
        f["scale"] = f["sku_id"].map(_mase_scales(known, o))
        keep = [
            (s, d) not in censored for s, d in zip(f["sku_id"], f["forecast_date"], strict=True)
        ]
        rows.append(f[keep])
    scored = pd.concat(rows, ignore_index=True)
    return _pool(scored, models, cfg)


def _baseline(
    known: pd.DataFrame,
    stockouts: pd.DataFrame,
    sku_ids: list[str],
    origin: pd.Timestamp,
    window: pd.DatetimeIndex,
) -> pd.DataFrame:
    """Seasonal-naive forecasts (sku_id, forecast_date, baseline) from the week before ``origin``."""
    last_week = pd.date_range(origin - pd.Timedelta(days=7), periods=7, freq="D")
    recent = known[known["ds"] >= last_week[0]]
    frames = []
    for sku in sku_ids:
        g = recent[recent["sku_id"] == sku].groupby("ds")["y"].sum()
        y = g.reindex(last_week, fill_value=0.0).to_numpy(dtype=float, copy=True)
        gone = stockouts.loc[stockouts["sku_id"] == sku, "ds"]
        y[last_week.isin(gone)] = np.nan
        frames.append(
            pd.DataFrame(
                {
                    "sku_id": sku,
                    "forecast_date": window.astype("datetime64[ns]"),
                    "baseline": seasonal_naive(y, len(window)),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _mase_scales(known: pd.DataFrame, origin: pd.Timestamp) -> dict[str, float]:
    scales = {}
    for sku, g in known.groupby("sku_id"):
        s = g.set_index("ds")["y"]
        idx = pd.date_range(s.index.min(), origin - pd.Timedelta(days=1), freq="D")
        y = s.reindex(idx, fill_value=0.0).to_numpy(dtype=float)
        diff = np.abs(y[7:] - y[:-7])
        scales[str(sku)] = float(diff.mean()) if diff.size else np.nan
    return scales


def _pool(
    scored: pd.DataFrame, models: dict[str, tuple[str, str]], cfg: BacktestConfig
) -> pd.DataFrame:
    scored = scored.assign(
        err=scored["yhat"] - scored["actual"],
        abs_err=(scored["yhat"] - scored["actual"]).abs(),
        b_err=scored["baseline"] - scored["actual"],
        b_abs=(scored["baseline"] - scored["actual"]).abs(),
        covered=(
            (scored["actual"] >= scored["yhat_lower"]) & (scored["actual"] <= scored["yhat_upper"])
        ).astype(float),
    )
    g = scored.groupby("sku_id").agg(
        scored_days=("actual", "size"),
        actual_units=("actual", "sum"),
        abs_err=("abs_err", "sum"),
        err=("err", "sum"),
        b_abs=("b_abs", "sum"),
        b_err=("b_err", "sum"),
        mae=("abs_err", "mean"),
        b_mae=("b_abs", "mean"),
        scale=("scale", "first"),
        covered=("covered", "mean"),
    )
    units = g["actual_units"].where(g["actual_units"] > 0)
    scale = g["scale"].where(g["scale"] > 0)
    out = pd.DataFrame(
        {
            "sku_id": g.index,
            "model": [models[s][0] for s in g.index],
            "demand_class": [models[s][1] for s in g.index],
            "origins": cfg.origins,
            "horizon_days": cfg.horizon_days,
            "scored_days": g["scored_days"].to_numpy(),
            "actual_units": g["actual_units"].to_numpy(),
            "wape": (g["abs_err"] / units).to_numpy(),
            "mase": (g["mae"] / scale).to_numpy(),
            "bias": (g["err"] / units).to_numpy(),
            "baseline_wape": (g["b_abs"] / units).to_numpy(),
            "baseline_mase": (g["b_mae"] / scale).to_numpy(),
            "baseline_bias": (g["b_err"] / units).to_numpy(),
            "interval_coverage": g["covered"].to_numpy(),
        }
    )
    both = out["wape"].notna() & out["baseline_wape"].notna()
    out["beats_baseline"] = pd.array(
        np.where(both, (out["wape"] < out["baseline_wape"]).astype(int), pd.NA), dtype="Int64"
    )
    return out[BACKTEST_COLUMNS].reset_index(drop=True)


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Totals per demand class and overall: SKUs, WAPE vs baseline, share of SKUs beating it."""

    def agg(g: pd.DataFrame) -> pd.Series:
        units = g["actual_units"].sum()
        wape = (g["wape"] * g["actual_units"]).sum() / units if units else np.nan
        base = (g["baseline_wape"] * g["actual_units"]).sum() / units if units else np.nan
        return pd.Series(
            {
                "skus": len(g),
                "wape": wape,
                "baseline_wape": base,
                "beats_baseline_share": g["beats_baseline"].astype("float").mean(),
                "interval_coverage": (g["interval_coverage"] * g["scored_days"]).sum()
                / max(1, g["scored_days"].sum()),
            }
        )

    by_class = results.groupby("demand_class")[results.columns.tolist()].apply(agg)
    total = agg(results).to_frame("all").T
    return pd.concat([by_class, total])


#: The DDL of ``forecast_backtest``.
BACKTEST_SCRIPT = "create_backtest_table.sql"
BACKTEST_TABLE = "forecast_backtest"


def write(engine: Engine, schema: str, run_date: dt.date, results: pd.DataFrame) -> int:
    """Replace ``run_date``'s rows of ``forecast_backtest`` in one transaction; rows written."""
    with reporting_transaction(engine, schema, BACKTEST_SCRIPT) as (conn, prefix):
        comment_columns(conn, schema)
        return replace_rows(conn, f"{prefix}{BACKTEST_TABLE}", {"run_date": run_date}, results)


def run(
    settings: Settings, cfg: BacktestConfig, write_results: bool = False, data: Any = None
) -> pd.DataFrame:
    """Backtest every active SKU, optionally store the rows.

    data: the :class:`replenishment.extract.Extract` as of the run date; read from the
    warehouse when not given (pass it to backtest one extract several ways).
    """
    from replenishment.db import make_engine
    from replenishment.extract import extract

    engine = make_engine(settings.warehouse_url)
    if data is None:
        data = extract(engine, cfg.run_date, cfg.horizon_days)
    ids = sorted(data.sku.loc[data.sku["active"], "sku_id"])
    categories = dict(
        zip(data.sku["sku_id"].astype(str), data.sku["category"].astype(str), strict=True)
    )
    results = rolling_origin(ids, data.demand, data.stockouts, data.promotions, cfg, categories)
    if write_results:
        write(engine, settings.reporting_schema, cfg.run_date, results)
    engine.dispose()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="replenishment backtest", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--date", required=True, help="run date D: every horizon ends before it")
    parser.add_argument("--url", dest="warehouse_url", help="SQLAlchemy URL of the warehouse")
    parser.add_argument("--origins", type=int, default=4)
    parser.add_argument("--step-days", type=int, default=28)
    parser.add_argument("--horizon-days", type=int, help="default: the setting horizon_days")
    parser.add_argument("--holiday-country", help="default: the setting holiday_country")
    parser.add_argument("--workers", type=int, default=0, help="processes (0 = one per core)")
    parser.add_argument(
        "--no-censoring", action="store_true", help="fit stock-out days as zero demand"
    )
    parser.add_argument("--compare-censoring", action="store_true",
                        help="also run without censoring and compare on SKUs with stock-outs")  # fmt: skip
    parser.add_argument("--write", action="store_true", help="store rows in forecast_backtest")
    parser.add_argument("--only", default="",
                        help="comma-separated candidate models, e.g. prophet,sba (default: all)")  # fmt: skip
    args = parser.parse_args(argv)
    settings = Settings.load(
        {
            "warehouse_url": args.warehouse_url,
            "horizon_days": args.horizon_days,
            "holiday_country": args.holiday_country,
        }
    )
    cfg = BacktestConfig.from_settings(
        settings,
        parse_run_date(args.date),
        origins=args.origins,
        step_days=args.step_days,
        censoring=not args.no_censoring,
        workers=args.workers,
        only=tuple(m for m in args.only.split(",") if m),
    )
    from replenishment.db import make_engine
    from replenishment.extract import extract

    engine = make_engine(settings.warehouse_url)
    data = extract(engine, cfg.run_date, cfg.horizon_days)
    engine.dispose()
    results = run(settings, cfg, write_results=args.write, data=data)
    print(
        f"rolling-origin backtest for {cfg.run_date}: origins {', '.join(map(str, cutoffs(cfg)))}"
    )
    print(summarise(results).to_string(float_format=lambda v: f"{v:.3f}"))
    if args.compare_censoring:
        plain = run(settings, dataclasses.replace(cfg, censoring=False), data=data)
        _print_censoring(data.stockouts, results, plain)
    return 0


def _print_censoring(stockouts: pd.DataFrame, censored: pd.DataFrame, plain: pd.DataFrame) -> None:
    """Pooled WAPE and bias with and without censoring, on SKUs with >= 7 stock-out days."""
    spells = stockouts.groupby("sku_id").size()
    ids = set(spells[spells >= 7].index)
    a = censored[censored["sku_id"].isin(ids)]
    b = plain[plain["sku_id"].isin(ids)]
    wa = (a["wape"] * a["actual_units"]).sum() / a["actual_units"].sum()
    wb = (b["wape"] * b["actual_units"]).sum() / b["actual_units"].sum()
    ba = (a["bias"] * a["actual_units"]).sum() / a["actual_units"].sum()
    bb = (b["bias"] * b["actual_units"]).sum() / b["actual_units"].sum()
    print(f"SKUs with >= 7 stock-out days: {len(ids)}")
    print(f"  with censoring:    WAPE {wa:.3f}  bias {ba:+.3f}")
    print(f"  without censoring: WAPE {wb:.3f}  bias {bb:+.3f}")


if __name__ == "__main__":
    sys.exit(main())
