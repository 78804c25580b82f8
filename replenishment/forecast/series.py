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
    """Daily series per SKU: missing days are zero demand, stock-out days NaN.

    The frames are split by SKU once into numpy arrays (row positions per sku_id), not
    into a pandas frame per SKU: this runs for every SKU of a run."""
    end = pd.Timestamp(run_date) - pd.Timedelta(days=1)
    future = pd.date_range(pd.Timestamp(run_date), periods=horizon_days, freq="D")
    ds, units = pd.DatetimeIndex(demand["ds"]).values, demand["y"].to_numpy(dtype=float)
    out_ds = pd.DatetimeIndex(stockouts["ds"]).values
    starts = pd.DatetimeIndex(promotions["start_date"]).values
    ends = pd.DatetimeIndex(promotions["end_date"]).values
    by_sku, out_by_sku, promo_by_sku = (
        frame.groupby("sku_id", sort=False).indices for frame in (demand, stockouts, promotions)
    )
    none = np.array([], dtype=np.intp)
    result = []
    for sku_id in sku_ids:
        rows = by_sku.get(sku_id, none)
        dates, y = _daily(ds[rows], units[rows], out_ds[out_by_sku.get(sku_id, none)], end)
        promos = promo_by_sku.get(sku_id, none)
        spans = (starts[promos], ends[promos])
        result.append(
            SkuSeries(
                sku_id=sku_id,
                dates=dates,
                y=y,
                promo_history=_promo_flags(dates, *spans),
                future_dates=future,
                promo_future=_promo_flags(future, *spans),
            )
        )
    return result


_DAY_NS = 86_400_000_000_000


def _daily(
    ds: npt.NDArray[np.datetime64],
    units: FloatArray,
    censored: npt.NDArray[np.datetime64],
    end: pd.Timestamp,
) -> tuple[pd.DatetimeIndex, FloatArray]:
    """(days from the first sale to ``end``, units/day with NaN on ``censored`` days), from
    one SKU's demand rows (``ds``, ``units``) and stock-out days."""
    if ds.size == 0 or float(np.nansum(units)) <= 0:
        return pd.DatetimeIndex([]), np.array([], dtype=float)
    dates = pd.date_range(pd.Timestamp(ds[units > 0].min()), end, freq="D")
    # the units of each day of ``dates`` summed; rows off the daily grid (another time of
    # day, outside the range) drop out
    first = dates.as_unit("ns").values[0] if len(dates) else ds.astype("datetime64[ns]").min()
    y = np.bincount(*_on_grid(ds, first, len(dates), units), minlength=len(dates)).astype(float)
    if censored.size:
        y[_on_grid(censored, first, len(dates), np.zeros(censored.size))[0]] = np.nan
    return dates, y


def _on_grid(
    stamps: npt.NDArray[np.datetime64], first: np.datetime64, days: int, values: FloatArray
) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """(day positions, values) of the ``stamps`` that fall on a day of the grid of ``days``
    days from ``first``."""
    offset = (stamps.astype("datetime64[ns]") - first).astype(np.int64)
    on = (offset >= 0) & (offset % _DAY_NS == 0) & (offset // _DAY_NS < days)
    return offset[on] // _DAY_NS, values[on]


def _promo_flags(
    dates: pd.DatetimeIndex, starts: npt.NDArray[np.datetime64], ends: npt.NDArray[np.datetime64]
) -> FloatArray:
    """1.0 on the days of ``dates`` inside a promotion [start, end] (both inclusive)."""
    flags = np.zeros(len(dates), dtype=float)
    if starts.size == 0 or len(dates) == 0:
        return flags
    values = dates.values
    for start, end in zip(starts, ends, strict=True):
        flags[(values >= start) & (values <= end)] = 1.0
    return flags
