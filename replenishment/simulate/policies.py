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
import numpy.typing as npt
import pandas as pd
from scipy.special import ndtri

from replenishment.forecast_error import ErrorProfile
from replenishment.lead_time import GROUP_COLUMN, estimate_lead_times, planned_lead_times
from replenishment.policy import ceil_to_packs, compute_orders, plan_orders, review_days
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


def lead_time_inputs(
    sku: pd.DataFrame, purchase_orders: pd.DataFrame, run_date: dt.date
) -> pd.DataFrame:
    """Lead times the policies use on ``run_date``, from the purchase orders known then.

    The pipeline's own estimate (:func:`replenishment.lead_time.estimate_lead_times`:
    recency-weighted receipts and overdue orders, shrunk towards the planned lead time),
    one row per SKU of ``sku`` in its order, so the baselines plan with the same measured
    lead time as the pipeline's policy.
    """
    return estimate_lead_times(planned_lead_times(sku), purchase_orders, run_date)


class SpreadsheetPolicy:
    """Baseline ``spreadsheet``: a competent planner's order-up-to rule (module docstring).

    On each SKU's review days it orders ``S - position``, packed as the pipeline packs,
    when the inventory position is below the order-up-to level

        S = m * P + z * s * sqrt(P),   P = Lm + max(R, 1)

    (the (R, S) level with normal demand over the protection period: Silver, Pyke and
    Thomas, *Inventory and Production Management in Supply Chains*, 4th ed., eq. 7.5 with
    sigma over P as s * sqrt(P)), where m, s are the mean and sample std of the
    ``trailing_days`` (56, eight weeks) days of uncensored daily demand before the day,
    Lm the mean measured lead time of the receipts known before the day
    (:func:`lead_time_inputs`), R the review period and z = Phi^-1(service_level).

    >>> round(float(SpreadsheetPolicy.order_up_to(5.0, 2.0, 0.95, 3.0, 7.0)), 3)
    60.403
    """

    def __init__(self, data: ReplayData, cfg: SimulationConfig) -> None:
        self.data = data
        self.cfg = cfg
        sku = data.sku
        self.review = np.maximum(sku["review_period_days"].to_numpy(dtype=float), 1.0)
        self.service = sku["service_level"].to_numpy(dtype=float)
        self.pack = sku["pack_size"].to_numpy(dtype=float)
        self.moq = sku["moq"].to_numpy(dtype=float)

    @staticmethod
    def order_up_to(
        mean: npt.ArrayLike,
        std: npt.ArrayLike,
        service_level: npt.ArrayLike,
        lead_days: npt.ArrayLike,
        review_days: npt.ArrayLike,
    ) -> FloatArray:
        """S (units) for daily demand mean/std (units/day), lead and review days."""
        protection = np.asarray(lead_days, dtype=float) + np.maximum(
            np.asarray(review_days, dtype=float), 1.0
        )
        z = ndtri(np.asarray(service_level, dtype=float))
        safety = np.maximum(z * np.asarray(std, dtype=float) * np.sqrt(protection), 0.0)
        return np.asarray(np.asarray(mean, dtype=float) * protection + safety, dtype=np.float64)

    def levels(self, day: int, lead_days: FloatArray) -> FloatArray:
        """S of every SKU on ``day`` with mean lead times ``lead_days``, units."""
        mean, std = trailing_stats(self.data.recorded, self.data.pad + day, self.cfg.trailing_days)
        return self.order_up_to(mean, std, self.service, lead_days, self.review)

    def __call__(self, state: DayState) -> FloatArray:
        run_date = self.cfg.date(state.day)
        reviewed = review_days(self.data.sku_ids, self.review, run_date)
        if not reviewed.any():
            return np.zeros(len(self.review))
        lead = lead_time_inputs(self.data.sku, state.purchase_orders(), run_date)
        level = self.levels(state.day, lead["lead_time_used_days"].to_numpy(dtype=float))
        position = state.on_hand + state.on_order - state.backorders
        need = np.where(reviewed & (position < level), level - position, 0.0)
        return orders_in_packs(need, self.pack, self.moq)


class ForecastPolicy:
    """The rolled-forward forecast turned into orders: the pipeline or ``forecast_net``.

    The pipeline's policy is :func:`replenishment.policy.plan_orders`, exactly as
    ``pipeline.stage_replenish`` calls it: lead times learned from the purchase orders of
    the day state, the error profile of the refit's own backtest. ``forecast_net`` is
    ``compute_orders`` with the trailing demand spread and the same measured lead time
    (:func:`lead_time_inputs`), no lead-time spread and no error profile.
    """

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
        master = [c for c in (*PARAM_COLUMNS, "policy", GROUP_COLUMN) if c in data.sku.columns]
        self.master = data.sku[[c for c in master if c not in ("sigma_daily", "model")]].copy()
        self._profiles: dict[int, ErrorProfile] = {}
        self.last_orders: pd.DataFrame | None = None

    def _refit(self, day: int) -> RefitForecast:
        current = [r for r in self.refits if r.day <= day]
        if not current:
            raise ValueError(f"day {day}: no forecast refitted on or before it")
        return current[-1]

    def _params(self, state: DayState, refit: RefitForecast) -> pd.DataFrame:
        """compute_orders' params of the day: the SKU master, the forecast's model and
        spread (the trailing demand spread for ``forecast_net``), the lead times."""
        run_date = self.cfg.date(state.day)
        summary = refit.summary.set_index("sku_id").reindex(self.ids)
        lead = lead_time_inputs(self.data.sku, state.purchase_orders(), run_date)
        params = self.params.copy()
        params["model"] = summary["model"].fillna("no_history").to_numpy()
        _, std = trailing_stats(
            self.data.recorded, self.data.pad + state.day, self.cfg.trailing_days
        )
        params["sigma_daily"] = std
        params["lead_time_days"] = lead["lead_time_used_days"].to_numpy(dtype=float)
        params["lead_time_std_days"] = np.nan
        return params

    def _orders(
        self, state: DayState, refit: RefitForecast, position: pd.DataFrame
    ) -> pd.DataFrame:
        """The day's recommendations: the pipeline's plan_orders (lead times from the day's
        purchase orders, the refit's error profile), or compute_orders for forecast_net."""
        run_date = self.cfg.date(state.day)
        settings = self.cfg.settings
        if self.baseline:
            return compute_orders(
                refit.forecast,
                position,
                self._params(state, refit),
                run_date,
                policy="periodic",
                service_target=settings.service_target,
                review_schedule=True,  # periodic orders on review days only
            )
        if refit.day not in self._profiles:
            sigma = refit.summary.set_index("sku_id")["sigma_daily"]
            self._profiles[refit.day] = ErrorProfile.measure(refit.backtest_errors, sigma)
        return plan_orders(
            self.master,
            refit.summary,
            refit.forecast,
            position,
            state.purchase_orders(),
            run_date,
            policy=settings.policy,
            service_target=settings.service_target,
            errors=self._profiles[refit.day],
        )

    def __call__(self, state: DayState) -> FloatArray:
        run_date = self.cfg.date(state.day)
        refit = self._refit(state.day)
        position = pd.DataFrame(
            {
                "sku_id": self.ids,
                "on_hand": state.on_hand,
                "on_order": state.on_order,
                "backorders": state.backorders,
            }
        )
        orders = self._orders(state, refit, position)
        self.last_orders = orders
        qty = np.asarray(orders["order_qty"].to_numpy(dtype=float), dtype=np.float64)
        if self.cfg.review_schedule and not self.baseline:
            periods = self.data.sku["review_period_days"].to_numpy()
            qty = np.where(review_days(self.data.sku_ids, periods, run_date), qty, 0.0)
        return qty
