"""Policies replayed by the engine: the pipeline's policy and the baselines.

Lives here: :class:`ForecastPolicy` (the pipeline's ``compute_orders`` and the
``forecast_net`` baseline) and the other baselines with their trailing statistics.
May import ``config``, ``data``, ``engine``, ``forecaster``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import ndtri

from replenishment.extract import LEAD_TIME_DAYS_BACK
from replenishment.policy import ceil_to_packs, review_days
from replenishment.simulate.config import (
    FloatArray,
    SimulationConfig,
)
from replenishment.simulate.data import ReplayData
from replenishment.simulate.engine import DayState
from replenishment.simulate.forecaster import RefitForecast

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- policies


def orders_in_packs(need: FloatArray, pack: FloatArray, moq: FloatArray) -> FloatArray:
    """``compute_orders``' rounding of a need (units): up to whole packs with policy's
    :func:`~replenishment.policy.ceil_to_packs`, raised to the MOQ, whole packs again; 0
    stays 0."""
    packed = ceil_to_packs(need, pack)
    return np.asarray(
        np.where(packed > 0, ceil_to_packs(np.maximum(packed, moq), pack), 0.0), dtype=np.float64
    )


def trailing_stats(recorded: FloatArray, end: int, window: int) -> tuple[FloatArray, FloatArray]:
    """Mean and sample std (units/day) of the last ``window`` observed days before ``end``.

    recorded: (SKUs x days) with NaN on unobserved days. A SKU whose last ``window``
    days are all unobserved uses its last ``window`` observed days; without any, 0.
    """
    part = recorded[:, max(0, end - window) : end]
    observed = ~np.isnan(part)
    count = observed.sum(axis=1)
    total = np.where(observed, part, 0.0).sum(axis=1)
    mean = np.divide(total, count, out=np.zeros(len(part)), where=count > 0)
    dev = np.where(observed, part - mean[:, None], 0.0)
    var = np.divide((dev**2).sum(axis=1), count - 1, out=np.zeros(len(part)), where=count > 1)
    std = np.sqrt(var)
    for i in np.flatnonzero(count == 0):
        history = recorded[i, :end]
        values = history[~np.isnan(history)][-window:]
        if values.size:
            mean[i] = values.mean()
            std[i] = values.std(ddof=1) if values.size > 1 else 0.0
    return mean, std


class MinMaxPolicy:
    """Baseline 1: min-max on the trailing 4-week mean, reviewed daily (module docstring)."""

    def __init__(self, data: ReplayData, trailing_days: int) -> None:
        self.data = data
        self.window = trailing_days
        sku = data.sku
        self.lead = sku["lead_time_days"].to_numpy(dtype=float)
        self.review = np.maximum(sku["review_period_days"].to_numpy(dtype=float), 1.0)
        self.z = np.asarray(ndtri(sku["service_level"].to_numpy(dtype=float)), dtype=np.float64)
        self.pack = sku["pack_size"].to_numpy(dtype=float)
        self.moq = sku["moq"].to_numpy(dtype=float)

    def levels(self, day: int) -> tuple[FloatArray, FloatArray]:
        """(min, max) of every SKU on ``day``, units."""
        mean, std = trailing_stats(self.data.recorded, self.data.pad + day, self.window)
        safety = np.maximum(self.z * std * np.sqrt(self.lead), 0.0)
        return mean * self.lead + safety, mean * (self.lead + self.review) + safety

    def __call__(self, state: DayState) -> FloatArray:
        low, high = self.levels(state.day)
        position = state.on_hand + state.on_order - state.backorders
        need = np.where(position < low, high - position, 0.0)
        return orders_in_packs(need, self.pack, self.moq)


class ForecastPolicy:
    """``compute_orders`` on the rolled-forward forecast: the pipeline or baseline 2."""

    def __init__(
        self,
        data: ReplayData,
        cfg: SimulationConfig,
        refits: Sequence[RefitForecast],
        baseline: bool,
    ) -> None:
        from replenishment.policy import PARAM_COLUMNS

        self.data = data
        self.cfg = cfg
        self.refits = sorted(refits, key=lambda r: r.day)
        self.baseline = baseline
        self.ids = pd.Index(data.sku_ids)
        base = [c for c in PARAM_COLUMNS if c in data.sku.columns]
        self.params = data.sku[base].copy()
        self.received_at = data.received["received_date"]
        self.last_orders: pd.DataFrame | None = None

    def _refit(self, day: int) -> RefitForecast:
        current = [r for r in self.refits if r.day <= day]
        if not current:
            raise ValueError(f"day {day}: no forecast refitted on or before it")
        return current[-1]

    def _lead_time_std(self, run_date: dt.date) -> FloatArray:
        from replenishment.policy import lead_time_stats

        day = pd.Timestamp(run_date)
        known = (self.received_at < day) & (
            self.received_at >= day - pd.Timedelta(days=LEAD_TIME_DAYS_BACK)
        )
        stats = lead_time_stats(self.data.received[known])
        return np.asarray(
            stats.set_index("sku_id")["lead_time_std_days"].reindex(self.ids).to_numpy(dtype=float),
            dtype=np.float64,
        )

    def __call__(self, state: DayState) -> FloatArray:
        from replenishment.policy import compute_orders

        run_date = self.cfg.date(state.day)
        refit = self._refit(state.day)
        summary = refit.summary.set_index("sku_id").reindex(self.ids)
        params = self.params.copy()
        params["model"] = summary["model"].fillna("no_history").to_numpy()
        if self.baseline:
            _, std = trailing_stats(
                self.data.recorded, self.data.pad + state.day, self.cfg.trailing_days
            )
            params["sigma_daily"] = std
            params["lead_time_std_days"] = np.nan
            policy, target = "periodic", "cycle"
        else:
            params["sigma_daily"] = summary["sigma_daily"].fillna(0.0).to_numpy(dtype=float)
            params["lead_time_std_days"] = self._lead_time_std(run_date)
            policy, target = self.cfg.settings.policy, self.cfg.settings.service_target
        position = pd.DataFrame(
            {
                "sku_id": self.ids,
                "on_hand": state.on_hand,
                "on_order": state.on_order,
                "backorders": state.backorders,
            }
        )
        orders = compute_orders(
            refit.forecast,
            position,
            params,
            run_date,
            policy=policy,
            service_target=target,
            review_schedule=not self.baseline,  # the pipeline orders on review days only
        )
        self.last_orders = orders
        qty = np.asarray(orders["order_qty"].to_numpy(dtype=float), dtype=np.float64)
        if self.cfg.review_schedule and not self.baseline:
            periods = self.data.sku["review_period_days"].to_numpy()
            qty = np.where(review_days(self.data.sku_ids, periods, run_date), qty, 0.0)
        return qty
