"""One SKU's daily history and promotion flags, built from the extracted frames.

Lives here: :class:`SkuSeries` and :func:`build_series` (missing days are zero demand,
stock-out days are censored, NaN) with the 0/1 promotion flags of history and horizon.
May import: numpy, pandas. Nothing of the forecast package.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]


@dataclass
class SkuSeries:
    """One SKU's daily history (units/day; NaN on censored days) and promo flags.

    dates: every day from the first sale to D-1; y aligned with it.
    promo_history / promo_future: 1 on promoted days of the history / horizon.
    """

    sku_id: str
    dates: pd.DatetimeIndex
    y: FloatArray
    promo_history: FloatArray
    future_dates: pd.DatetimeIndex
    promo_future: FloatArray


def build_series(
    sku_ids: Sequence[str],
    demand: pd.DataFrame,
    stockouts: pd.DataFrame,
    promotions: pd.DataFrame,
    run_date: dt.date,
    horizon_days: int,
) -> list[SkuSeries]:
    """Daily series per SKU: missing days are zero demand, stock-out days NaN."""
    end = pd.Timestamp(run_date) - pd.Timedelta(days=1)
    future = pd.date_range(pd.Timestamp(run_date), periods=horizon_days, freq="D")
    by_sku = {k: g for k, g in demand.groupby("sku_id", sort=False)}
    out_by_sku = {k: g["ds"].to_numpy() for k, g in stockouts.groupby("sku_id", sort=False)}
    promo_by_sku = {k: g for k, g in promotions.groupby("sku_id", sort=False)}
    result = []
    for sku_id in sku_ids:
        dates, y = _daily(by_sku.get(sku_id), out_by_sku.get(sku_id), end)
        promos = promo_by_sku.get(sku_id)
        result.append(
            SkuSeries(
                sku_id=sku_id,
                dates=dates,
                y=y,
                promo_history=_promo_flags(dates, promos),
                future_dates=future,
                promo_future=_promo_flags(future, promos),
            )
        )
    return result


def _daily(
    g: pd.DataFrame | None, censored: npt.NDArray[np.datetime64] | None, end: pd.Timestamp
) -> tuple[pd.DatetimeIndex, FloatArray]:
    """(days from the first sale to ``end``, units/day with NaN on ``censored`` days)."""
    if g is None or g.empty or float(g["y"].sum()) <= 0:
        return pd.DatetimeIndex([]), np.array([], dtype=float)
    positive = g.loc[g["y"] > 0, "ds"]
    dates = pd.date_range(positive.min(), end, freq="D")
    # the units of each day of ``dates`` summed (numpy, not a pandas groupby: this runs
    # per SKU); rows off the daily grid (another time of day, outside the range) drop out
    stamps = pd.DatetimeIndex(g["ds"]).as_unit("ns").values
    first = dates.as_unit("ns").values[0] if len(dates) else stamps.min()
    offset = (stamps - first).astype(np.int64)
    day_ns = 86_400_000_000_000
    on_grid = (offset >= 0) & (offset % day_ns == 0) & (offset // day_ns < len(dates))
    y = np.bincount(
        offset[on_grid] // day_ns,
        weights=g["y"].to_numpy(dtype=float)[on_grid],
        minlength=len(dates),
    ).astype(float)
    if censored is not None and len(censored):
        y[dates.isin(pd.DatetimeIndex(censored))] = np.nan
    return dates, y


def _promo_flags(dates: pd.DatetimeIndex, promos: pd.DataFrame | None) -> FloatArray:
    flags = np.zeros(len(dates), dtype=float)
    if promos is None or promos.empty or len(dates) == 0:
        return flags
    values = dates.values
    for start, end in zip(promos["start_date"], promos["end_date"], strict=True):
        flags[(values >= np.datetime64(start)) & (values <= np.datetime64(end))] = 1.0
    return flags
