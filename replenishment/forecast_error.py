"""How a forecast's errors add up over several days, measured on the run's own backtest.

What lives here: the error profile the safety stock uses. Pure numpy/pandas; imports
nothing of the project.

Why: the safety stock protects against the error of the forecast *summed* over the
protection period P (days). Taking daily errors as independent gives
``sigma_P = sqrt(P) * sigma_daily``; real forecast errors are autocorrelated (a
forecast that is low today is usually low tomorrow: a level shift, a missed trend,
a promotion that lifted more than expected), so their sums spread wider than that
and a safety stock built on ``sqrt(P)`` falls short of its service target. The
rolling backtest of the forecast stage shows by how much.

Notation
--------
e_h
    Backtest error of a SKU on held-out day h: ``actual - forecast``, units (days
    that ended out of stock are left out, as everywhere: their sales are censored).
E_P
    Sum of ``e_h`` over P consecutive held-out days, every window of the holdout
    without a censored day.
sigma_i
    The SKU's daily error spread ``sigma_daily`` (for a backtested SKU its holdout RMSE,
    shrunk toward its model's prior: ``forecast.calibrate.shrunk_sigma``).
kappa(P)
    Inflation of the P-day error over the independent-days value, per demand class::

        kappa(P)**2 = sum(E_P**2) / sum(P * sigma_i**2)

    summed over every SKU of the class and every window (a pooled variance ratio,
    the "variance ratio" of Lo & MacKinlay, *Review of Financial Studies* 1(1), 1988,
    applied to forecast errors). ``kappa = 1`` for independent errors; the
    root-mean-square includes the errors' bias, so a forecast that is biased low
    over P days is protected against too.

kappa is never taken below 1. A value under 1 says the errors cancel over consecutive
days (a forecast low today is high tomorrow); measured on one 28-day holdout of a class's
few SKUs it is sampling noise far more often than a property of the forecast (the demo's
20 erratic SKUs measured 0.6 to 1.4 from one refit to the next), and a safety stock
shrunk below the independent-days value on that noise fell 1.6 pp short of its target in
the replay simulator. The measured curve stays in :attr:`ErrorProfile.table`.

A class with fewer than ``min_skus`` backtested SKUs takes the value pooled over all
classes; with no backtest at all kappa is 1 (the independent-days value). Windows
longer than ``max_days`` (the holdout minus 7 days, so that every P has at least 8
windows per SKU) are not measured; longer protection periods use kappa(max_days).

>>> h = np.arange(28)  # 14 days 2 units above the forecast, then 14 below
>>> errors = pd.DataFrame({"sku_id": "A", "demand_class": "smooth", "h": h,
...     "actual": 10.0 + np.where(h < 14, 2.0, -2.0), "forecast": 10.0, "censored": False})
>>> profile = ErrorProfile.measure(errors, pd.Series({"A": 2.0}), min_skus=1)
>>> [round(float(k), 2) for k in profile.factor(np.array(["smooth"] * 3), np.array([1.0, 7.0, 14.0]))]
[1.0, 2.35, 2.31]
>>> round(float(profile.factor(np.array(["lumpy"]), np.array([7.0]))[0]), 2)  # pooled
2.35
>>> float(ErrorProfile.none().factor(np.array(["smooth"]), np.array([7.0]))[0])
1.0
>>> flip = errors.assign(actual=10.0 + np.where(h % 2 == 0, 2.0, -2.0))  # errors cancel
>>> flipped = ErrorProfile.measure(flip, pd.Series({"A": 2.0}), min_skus=1)
>>> round(float(flipped.table["smooth"][1]), 2), float(flipped.factor(np.array(["smooth"]), np.array([2.0]))[0])
(0.0, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]

#: Columns of the backtest error frame the forecast stage hands on.
ERROR_COLUMNS = ("sku_id", "demand_class", "h", "actual", "forecast", "censored")
POOLED = "all"


@dataclass(frozen=True)
class ErrorProfile:
    """kappa(P) per demand class (see the module docstring).

    table: {demand class or "all": kappa for P = 1 .. max_days (index P - 1)}.
    skus: {demand class or "all": backtested SKUs the value was measured on}.
    """

    table: dict[str, FloatArray] = field(default_factory=dict)
    skus: dict[str, int] = field(default_factory=dict)
    min_skus: int = 5

    @classmethod
    def none(cls) -> ErrorProfile:
        """No backtest: daily errors taken as independent (kappa = 1)."""
        return cls()

    @classmethod
    def measure(
        cls,
        errors: pd.DataFrame,
        sigma_daily: pd.Series,
        min_skus: int = 5,
        max_days: int | None = None,
    ) -> ErrorProfile:
        """Measure kappa(P) from the backtest errors.

        errors: :data:`ERROR_COLUMNS`, one row per backtested SKU and held-out day h.
        sigma_daily: the SKUs' daily error spread, units/day, indexed by sku_id.
        max_days: longest window measured (default: holdout days - 7, at least 1).
        """
        if errors.empty:
            return cls(min_skus=min_skus)
        width = int(errors["h"].max()) + 1
        longest = max(1, width - 7) if max_days is None else max_days
        grid, classes, sigma = _error_grid(errors, sigma_daily, width)
        sums: dict[str, FloatArray] = {}
        norms: dict[str, FloatArray] = {}
        counts: dict[str, int] = {}
        for name in [*sorted(set(classes)), POOLED]:
            rows = np.ones(len(classes), bool) if name == POOLED else classes == name
            sums[name], norms[name] = _window_moments(grid[rows], sigma[rows], longest)
            counts[name] = int(np.isfinite(grid[rows]).any(axis=1).sum())
        table = {
            name: np.sqrt(
                np.divide(sums[name], norms[name], out=np.ones(longest), where=norms[name] > 0)
            )
            for name in sums
        }
        return cls(table=table, skus=counts, min_skus=min_skus)

    def factor(self, demand_class: npt.ArrayLike, protection_days: npt.ArrayLike) -> FloatArray:
        """kappa for each SKU's class and protection period P (days, fractional allowed),
        at least 1 (module docstring)."""
        classes = np.asarray(demand_class, dtype=object)
        days = np.asarray(protection_days, dtype=np.float64)
        result = np.ones(days.shape, dtype=np.float64)
        pooled = self.table.get(POOLED)
        if pooled is None:
            return result
        for name in set(classes.tolist()):
            rows = classes == name
            use = name if self.skus.get(name, 0) >= self.min_skus else POOLED
            curve = self.table.get(use, pooled)
            index = np.clip(np.rint(days[rows]).astype(np.int64), 1, len(curve)) - 1
            result[rows] = curve[index]
        return np.maximum(result, 1.0)

    def source(self, demand_class: npt.ArrayLike) -> npt.NDArray[np.object_]:
        """Where each SKU's kappa comes from: its class, "all" classes, or "none"."""
        classes = np.asarray(demand_class, dtype=object)
        if POOLED not in self.table:
            return np.full(classes.shape, "none", dtype=object)
        own = np.array([self.skus.get(c, 0) >= self.min_skus for c in classes], dtype=bool)
        return np.where(own, classes, POOLED).astype(object)


def _error_grid(
    errors: pd.DataFrame, sigma_daily: pd.Series, width: int
) -> tuple[FloatArray, npt.NDArray[np.object_], FloatArray]:
    """(SKUs x width) errors with NaN on censored or missing days; class and sigma per row."""
    missing = [c for c in ERROR_COLUMNS if c not in errors]
    if missing:
        raise ValueError(f"backtest errors: missing columns {missing}")
    ids = pd.Index(sorted(errors["sku_id"].astype(str).unique()))
    rows = ids.get_indexer(errors["sku_id"].astype(str))
    h = errors["h"].to_numpy(dtype=np.int64)
    err = errors["actual"].to_numpy(dtype=np.float64) - errors["forecast"].to_numpy(np.float64)
    err = np.where(errors["censored"].to_numpy(dtype=bool), np.nan, err)
    grid = np.full((len(ids), width), np.nan)
    grid[rows, h] = err
    first = errors.assign(sku_id=errors["sku_id"].astype(str)).drop_duplicates("sku_id")
    classes = first.set_index("sku_id")["demand_class"].reindex(ids).astype(str)
    classes = classes.to_numpy(dtype=object)
    sigma = sigma_daily.reindex(ids).to_numpy(dtype=np.float64)
    usable = np.isfinite(sigma) & (sigma > 0)
    grid[~usable] = np.nan
    return grid, classes, np.where(usable, sigma, 0.0)


def _window_moments(
    grid: FloatArray, sigma: FloatArray, longest: int
) -> tuple[FloatArray, FloatArray]:
    """sum(E_P**2) and sum(P * sigma**2) over every complete window, for P = 1 .. longest."""
    sums = np.zeros(longest)
    norms = np.zeros(longest)
    if grid.size == 0:
        return sums, norms
    filled = np.nan_to_num(grid)
    bad = np.isnan(grid).astype(np.int64)
    cum = np.concatenate([np.zeros((len(grid), 1)), np.cumsum(filled, axis=1)], axis=1)
    cum_bad = np.concatenate([np.zeros((len(grid), 1), np.int64), np.cumsum(bad, axis=1)], axis=1)
    width = grid.shape[1]
    for p in range(1, min(longest, width) + 1):
        window = cum[:, p:] - cum[:, :-p]
        ok = (cum_bad[:, p:] - cum_bad[:, :-p]) == 0
        sums[p - 1] = float(np.sum(np.where(ok, window**2, 0.0)))
        norms[p - 1] = float(np.sum(ok * (p * sigma[:, None] ** 2)))
    if longest > width:
        sums[width:], norms[width:] = sums[width - 1], norms[width - 1]
    return sums, norms
