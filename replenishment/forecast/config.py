"""What a forecast run is told (ForecastConfig) and what it gives back (ForecastResult).

Lives here: the run's settings, the column lists of the result frames, and how a result
is concatenated across batches and turned into the frames that staging stores.
May import: :mod:`replenishment.config` (the Settings the config is built from),
:mod:`replenishment.staging` (a result saved into a scratch folder), pandas.
Nothing else of the forecast package imports into this module.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from replenishment.config import Settings
from replenishment.staging import Staging

FORECAST_COLUMNS = [
    "sku_id",
    "forecast_date",
    "yhat",
    "yhat_lower",
    "yhat_upper",
    "interval_width",
    "promo",
    "model",
]
ACCURACY_COLUMNS = [
    "sku_id",
    "model",
    "demand_class",
    "backtest_start",
    "backtest_days",
    "actual_units",
    "wape",
    "mase",
    "bias",
    "baseline_wape",
    "baseline_mase",
    "baseline_bias",
    "beats_baseline",
    "selection",
    "incumbent",
    "incumbent_wape",
    "fva",
    "candidate_wapes",
]
SUMMARY_COLUMNS = [
    "sku_id",
    "model",
    "demand_class",
    "adi",
    "cv2",
    "observed_days",
    "sigma_daily",
    "in_sample_sigma",
    "backtest_rmse",
    "promo_uplift",
    "failed",
    "error",
    "seconds",
]
#: One row per backtested SKU and held-out day of the holdout backtest the run made:
#: h is the 0-based day offset from the backtest cut-off (the first held-out day),
#: actual the units/day of that day (NaN when censored), forecast the backtest fit's
#: forecast for it (units/day, >= 0), censored True on a stock-out day (sales there
#: are not demand, so the day is left out of the error measures), scale the backtest
#: fit's in-sample error spread (units/day; the conformal score's denominator).
BACKTEST_ERROR_COLUMNS = [
    "sku_id",
    "model",
    "demand_class",
    "h",
    "forecast_date",
    "actual",
    "forecast",
    "censored",
    "scale",
]


@dataclass(frozen=True)
class ForecastConfig:
    """What the forecast of one run needs to know (defaults: those of :class:`Settings`).

    horizon_days: days forecast, D .. D+horizon_days-1.
    holiday_country: ISO code for Prophet's public holidays.
    interval_width: central probability mass of [yhat_lower, yhat_upper].
    backtest_days: holdout length for the error spread and accuracy (0 = none).
    min_history_days: observed days needed before a pattern model is used.
    backtest_every_days: each SKU is backtested on one run date in this many
        (a fixed slice of the SKUs each day, by a stable hash of sku_id); 1 = every run.
    global_model: fit the global LightGBM model across the call's SKUs (a candidate of
        every class with history, see ``forecast.classify.ROUTES``).
    only: restrict every class's candidates to these models (a class left with none keeps
        its own); empty = all. For side-by-side backtests ("Prophet alone").
    """

    run_date: dt.date
    horizon_days: int = Settings.horizon_days
    holiday_country: str = Settings.holiday_country
    interval_width: float = Settings.interval_width
    backtest_days: int = Settings.backtest_days
    min_history_days: int = Settings.min_history_days
    backtest_every_days: int = Settings.backtest_every_days
    global_model: bool = Settings.global_model
    only: tuple[str, ...] = ()

    @classmethod
    def from_settings(
        cls, settings: Settings, run_date: dt.date, **own_fields: Any
    ) -> ForecastConfig:
        """The config of a run on ``run_date``: each field from the setting of the same name,
        except ``own_fields`` (fields of this class the caller sets itself, e.g. a backtest's
        ``backtest_days=0``).

        >>> cfg = ForecastConfig.from_settings(
        ...     Settings(horizon_days=14), dt.date(2026, 7, 1), backtest_days=0
        ... )
        >>> cfg.horizon_days, cfg.backtest_days, cfg.holiday_country
        (14, 0, 'US')
        """
        names = [f.name for f in dataclasses.fields(cls) if f.name != "run_date"]
        unknown = sorted(set(own_fields) - set(names))
        if unknown:
            raise TypeError(f"ForecastConfig has no field(s) {unknown}; fields: {names}")
        values = {name: getattr(settings, name) for name in names if hasattr(settings, name)}
        return cls(run_date=run_date, **{**values, **own_fields})

    def to_json(self) -> str:
        d = asdict(self)
        d["run_date"] = self.run_date.isoformat()
        return json.dumps(d)

    @classmethod
    def from_json(cls, text: str) -> ForecastConfig:
        d = json.loads(text)
        d["run_date"] = dt.date.fromisoformat(d["run_date"])
        d["only"] = tuple(d.get("only", ()))
        return cls(**d)


#: frame of ForecastResult (also its part name in staging) -> its columns
_FRAMES = {
    "forecast": FORECAST_COLUMNS,
    "accuracy": ACCURACY_COLUMNS,
    "summary": SUMMARY_COLUMNS,
    "backtest_errors": BACKTEST_ERROR_COLUMNS,
}


@dataclass
class ForecastResult:
    """forecast: FORECAST_COLUMNS; accuracy: ACCURACY_COLUMNS; summary: SUMMARY_COLUMNS;
    backtest_errors: BACKTEST_ERROR_COLUMNS (empty when no SKU was backtested)."""

    forecast: pd.DataFrame
    accuracy: pd.DataFrame
    summary: pd.DataFrame
    backtest_errors: pd.DataFrame

    @classmethod
    def concat(cls, parts: Sequence[ForecastResult]) -> ForecastResult:
        return cls(
            **{
                name: concat_frames([getattr(p, name) for p in parts], columns)
                for name, columns in _FRAMES.items()
            }
        )

    def frames(self) -> dict[str, pd.DataFrame]:
        """The result's frames by name (what :class:`replenishment.staging.Staging` stores)."""
        return {name: getattr(self, name) for name in _FRAMES}

    @classmethod
    def from_frames(cls, frames: Mapping[str, pd.DataFrame]) -> ForecastResult:
        """The result from its frames as :meth:`frames` gave them (read back from staging)."""
        frames = {name: frames[name] for name in _FRAMES}
        for name in ("forecast", "backtest_errors"):
            frames[name]["forecast_date"] = frames[name]["forecast_date"].astype("datetime64[ns]")
        return cls(**frames)

    def save(self, directory: Path | str, stem: str) -> None:
        """Write the result into the folder ``directory`` (a local scratch folder or URL)."""
        Staging(str(directory), "").save_result(stem, self.frames())

    @classmethod
    def load(cls, directory: Path | str, stem: str) -> ForecastResult:
        """The result :meth:`save` wrote into ``directory`` under ``stem``."""
        return cls.from_frames(Staging(str(directory), "").result(stem))


#: One SKU's rows of a result frame: column name -> values (all of one length).
Columns = dict[str, npt.NDArray[Any]]


def frame_of_columns(parts: Sequence[Columns], columns: list[str]) -> pd.DataFrame:
    """The rows of ``parts`` one after the other, in ``columns``; an empty frame if none.

    One frame built from concatenated arrays: what :func:`concat_frames` gives for the same
    rows as one small frame each, at a fraction of the cost (a frame per SKU is pandas'
    most expensive part of a run's forecast).

    >>> frame_of_columns([{"a": np.array(["x"]), "b": np.array([1])}], ["b", "a"]).values
    array([[1, 'x']], dtype=object)
    """
    parts = [p for p in parts if len(p[columns[0]])]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame({c: np.concatenate([p[c] for p in parts]) for c in columns})


def concat_frames(frames: Sequence[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """The non-empty ``frames`` one after the other, in ``columns``; an empty frame if none."""
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]
