"""Forecast across processes: the entry point of a run's forecast stage.

Lives here: :func:`forecast_frames` (from extracted frames, in this process or in
``workers`` subprocesses ``python -m replenishment.forecast <dir>``) and the
subprocess worker's main (:func:`worker_main`, run by ``__main__``).
May import: :mod:`.config`, :mod:`.series`, :mod:`.runner`, :mod:`replenishment.staging`
(the chunks handed to the subprocesses). The top of the package.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from replenishment.forecast.config import ForecastConfig, ForecastResult
from replenishment.forecast.global_model import GlobalForecast, fit_global
from replenishment.forecast.prophet_features import holidays_frame
from replenishment.forecast.runner import forecast_skus
from replenishment.forecast.series import SkuSeries, build_series
from replenishment.staging import Staging

log = logging.getLogger(__name__)

#: SKUs per worker process below which fewer processes are started.
MIN_SKUS_PER_WORKER = 8


def forecast_frames(
    sku_ids: Sequence[str],
    demand: pd.DataFrame,
    stockouts: pd.DataFrame,
    promotions: pd.DataFrame,
    cfg: ForecastConfig,
    workers: int = 1,
    categories: Mapping[str, str] | None = None,
) -> ForecastResult:
    """Forecast ``sku_ids`` from extracted frames, across ``workers`` processes.

    With ``cfg.global_model``, the global model is fitted first, in this process, across
    all of ``sku_ids`` (``categories``: sku_id -> category, a feature of it), and its
    predictions go to the workers with their SKUs. Worker processes are plain subprocesses
    (``python -m replenishment.forecast``), not multiprocessing children, so this also
    works inside daemonic workers such as Celery's prefork pool. Each pays the Prophet
    import once.
    """
    started = time.perf_counter()
    sku_ids = list(sku_ids)
    series: list[SkuSeries] | None = None
    global_forecast = None
    if cfg.global_model and sku_ids and (not cfg.only or "lightgbm" in cfg.only):
        series = build_series(
            sku_ids, demand, stockouts, promotions, cfg.run_date, cfg.horizon_days
        )
        holidays = holidays_frame(cfg.holiday_country, cfg.run_date, cfg.horizon_days)
        global_forecast = _global(series, cfg, holidays, categories)
    workers = max(1, min(workers, len(sku_ids) // MIN_SKUS_PER_WORKER or 1))
    if workers == 1:
        if series is None:
            series = build_series(
                sku_ids, demand, stockouts, promotions, cfg.run_date, cfg.horizon_days
            )
        result = forecast_skus(series, cfg, global_forecast)
    else:
        result = _forecast_in_subprocesses(
            sku_ids, demand, stockouts, promotions, cfg, workers, global_forecast
        )
    log.info(
        "forecast %d SKUs in %.1f s with %d process(es): %s; %d failed",
        len(sku_ids),
        time.perf_counter() - started,
        workers,
        result.summary["model"].value_counts().to_dict(),
        int(result.summary["failed"].sum()) if len(result.summary) else 0,
    )
    return result


def _global(
    series: list[SkuSeries],
    cfg: ForecastConfig,
    holidays: pd.DataFrame,
    categories: Mapping[str, str] | None,
) -> GlobalForecast | None:
    """The global model's forecast of ``series``, or None when it cannot be made (LightGBM
    missing its OpenMP runtime, a fit that raises): the SKUs are then forecast by their
    other candidates, and the log says why (the run goes on, as for one SKU's failure)."""
    try:
        return fit_global(series, cfg.backtest_days, holidays, categories)
    except Exception as exc:  # the batch goes on without the global model
        log.warning(
            "global model not fitted (%s: %s); forecasting %d SKUs without it",
            type(exc).__name__,
            str(exc)[:300],
            len(series),
        )
        return None


def _write_chunk(
    d: Path,
    chunk: list[str],
    demand: pd.DataFrame,
    stockouts: pd.DataFrame,
    promotions: pd.DataFrame,
    cfg: ForecastConfig,
    global_forecast: pd.DataFrame | None,
) -> None:
    d.mkdir()
    keep = set(chunk)
    frames = {
        "skus": pd.DataFrame({"sku_id": chunk}),
        "demand": demand[demand["sku_id"].isin(keep)],
        "stockouts": stockouts[stockouts["sku_id"].isin(keep)],
        "promotions": promotions[promotions["sku_id"].isin(keep)],
    }
    if global_forecast is not None:
        frames["global"] = global_forecast[global_forecast["sku_id"].isin(keep)]
    Staging(str(d), "").save_extract(frames)
    (d / "config.json").write_text(cfg.to_json())


def _forecast_in_subprocesses(
    sku_ids: list[str],
    demand: pd.DataFrame,
    stockouts: pd.DataFrame,
    promotions: pd.DataFrame,
    cfg: ForecastConfig,
    workers: int,
    global_forecast: GlobalForecast | None,
) -> ForecastResult:
    chunks = [sku_ids[i::workers] for i in range(workers)]
    global_frame = global_forecast.to_frame() if global_forecast is not None else None
    with tempfile.TemporaryDirectory(prefix="forecast-") as tmp:
        root = Path(tmp)
        procs = []
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        for i, chunk in enumerate(chunks):
            _write_chunk(
                root / f"chunk{i}", chunk, demand, stockouts, promotions, cfg, global_frame
            )
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "replenishment.forecast", str(root / f"chunk{i}")],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )
        outputs = [p.communicate()[0] for p in procs]
        for p, out, i in zip(procs, outputs, range(workers), strict=True):
            if p.returncode != 0:
                tail = out.decode(errors="replace")[-2000:]
                raise RuntimeError(f"forecast worker {i} exited with {p.returncode}:\n{tail}")
        return ForecastResult.concat(
            [ForecastResult.load(root / f"chunk{i}", "out") for i in range(workers)]
        )


def worker_main(directory: str) -> int:
    """Forecast the chunk staged in ``directory``; write the result there as ``out``."""
    d = Path(directory)
    logging.basicConfig(level=logging.WARNING)
    cfg = ForecastConfig.from_json((d / "config.json").read_text())
    chunk = Staging(str(d), "")
    series = build_series(
        chunk.read("skus")["sku_id"].tolist(),
        chunk.read("demand"),
        chunk.read("stockouts"),
        chunk.read("promotions"),
        cfg.run_date,
        cfg.horizon_days,
    )
    global_forecast = None
    if cfg.global_model and "extract.global.parquet" in chunk.files():
        global_forecast = GlobalForecast.from_frame(chunk.read("global"))
    forecast_skus(series, cfg, global_forecast).save(d, "out")
    return 0
