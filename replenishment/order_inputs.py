"""The validated inputs of the order computation, one array per quantity.

What lives here: reading ``params`` and ``position`` frames into :class:`OrderInputs`
(numbers checked, lead time used vs planned, missing stock flagged). Imports only
:mod:`frames` and :mod:`config`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from replenishment.config import POLICIES
from replenishment.frames import (
    FloatOrArray,
    as_float_array,
    float_col,
    sample,
    scalar_or_array,
    text_col,
)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Columns ``compute_orders`` needs in ``params`` (``policy``, ``demand_class`` and the
#: lead_time_* columns of :func:`estimate_lead_times` are optional).
PARAM_COLUMNS: tuple[str, ...] = (
    "sku_id",
    "unit_cost",
    "pack_size",
    "moq",
    "lead_time_days",
    "review_period_days",
    "service_level",
    "holding_cost_rate",
    "order_cost",
    "sigma_daily",
    "model",
    "lead_time_std_days",
)


def inventory_position(
    on_hand: float | npt.ArrayLike,
    on_order: float | npt.ArrayLike,
    backorders: float | npt.ArrayLike,
) -> FloatOrArray:
    """Inventory position ``on_hand + on_order - backorders``, units."""
    result = as_float_array(on_hand) + as_float_array(on_order) - as_float_array(backorders)
    return scalar_or_array(np.asarray(result, dtype=np.float64))


@dataclass(frozen=True)
class OrderInputs:
    """The validated inputs of every SKU, as arrays in the order of ``skus``."""

    skus: pd.Index
    periodic: BoolArray
    unit_cost: FloatArray
    pack: FloatArray
    moq: FloatArray
    lead_planned: FloatArray
    lead: FloatArray
    lead_std: FloatArray
    lead_std_unknown: BoolArray
    review: FloatArray
    service: FloatArray
    holding_rate: FloatArray
    order_cost: FloatArray
    sigma_daily: FloatArray
    demand_class: npt.NDArray[np.object_]
    on_hand: FloatArray
    on_order: FloatArray
    backorders: FloatArray
    on_hand_missing: BoolArray
    lead_times: pd.DataFrame

    @property
    def position(self) -> FloatArray:
        return np.asarray(inventory_position(self.on_hand, self.on_order, self.backorders))

    @property
    def protection(self) -> FloatArray:
        """P: L + R for periodic review (R at least 1), L + 1 for continuous review."""
        return np.where(self.periodic, self.lead + np.maximum(self.review, 1.0), self.lead + 1.0)


def order_inputs(params: pd.DataFrame, position: pd.DataFrame, policy: str) -> OrderInputs:
    skus = pd.Index(params["sku_id"])
    lead_planned = float_col(params, "lead_time_days")
    lead = (
        float_col(params, "lead_time_used_days")
        if "lead_time_used_days" in params
        else lead_planned
    )
    lead = np.where(np.isnan(lead), lead_planned, lead)
    columns = {
        name: float_col(params, column)
        for name, column in (
            ("unit_cost", "unit_cost"),
            ("pack_size", "pack_size"),
            ("moq", "moq"),
            ("review", "review_period_days"),
            ("service", "service_level"),
            ("holding_rate", "holding_cost_rate"),
            ("order_cost", "order_cost"),
            ("sigma_daily", "sigma_daily"),
            ("lead_std", "lead_time_std_days"),
        )
    }
    _validate_params(skus, lead=lead_planned, lead_used=lead, **columns)
    pos = position.set_index("sku_id").reindex(skus)
    raw_on_hand = float_col(pos, "on_hand")
    lead_std = columns["lead_std"]
    return OrderInputs(
        skus=skus,
        periodic=_policy_mask(params, policy, skus),
        unit_cost=columns["unit_cost"],
        pack=columns["pack_size"],
        moq=columns["moq"],
        lead_planned=lead_planned,
        lead=lead,
        lead_std=np.where(np.isnan(lead_std), 0.0, lead_std),
        lead_std_unknown=np.isnan(lead_std),
        review=columns["review"],
        service=columns["service"],
        holding_rate=columns["holding_rate"],
        order_cost=columns["order_cost"],
        sigma_daily=columns["sigma_daily"],
        demand_class=text_col(params, "demand_class", "unknown"),
        on_hand=np.nan_to_num(raw_on_hand, nan=0.0),
        on_order=np.nan_to_num(float_col(pos, "on_order"), nan=0.0),
        backorders=np.nan_to_num(float_col(pos, "backorders"), nan=0.0)
        if "backorders" in pos
        else np.zeros(len(skus)),
        on_hand_missing=np.isnan(raw_on_hand),
        lead_times=_lead_time_frame(params, lead_planned, lead),
    )


def _lead_time_frame(params: pd.DataFrame, planned: FloatArray, used: FloatArray) -> pd.DataFrame:
    """The lead_time_* columns, with defaults for params that carry none."""
    frame = pd.DataFrame(index=range(len(params)))
    frame["lead_time_planned_days"] = planned
    frame["lead_time_used_days"] = used
    defaults: dict[str, Any] = {
        "lead_time_source": "planned",
        "lead_time_receipts": 0,
        "lead_time_late_open": 0,
        "lead_time_bias_days": np.nan,
    }
    for column, default in defaults.items():
        values = params[column].to_numpy() if column in params else np.full(len(params), default)
        frame[column] = pd.Series(values).fillna(default).to_numpy()
    frame["lead_time_receipts"] = frame["lead_time_receipts"].astype(np.int64)
    return frame


def _policy_mask(params: pd.DataFrame, default: str, skus: pd.Index) -> npt.NDArray[np.bool_]:
    """True where a SKU follows the periodic policy."""
    if "policy" not in params:
        return np.full(len(params), default == "periodic")
    chosen = params["policy"].astype(object).where(params["policy"].notna(), default)
    chosen = chosen.astype(str).str.strip().str.lower().replace("", default)
    invalid = ~chosen.isin(POLICIES).to_numpy()
    if invalid.any():
        raise ValueError(
            f"params: {int(invalid.sum())} SKUs with policy not in {POLICIES} "
            f"({sample(skus[invalid])})"
        )
    return np.asarray((chosen == "periodic").to_numpy(), dtype=bool)


def _validate_params(skus: pd.Index, **columns: FloatArray) -> None:
    """Raise one ValueError listing every invalid parameter, with example SKUs."""
    c = columns
    with np.errstate(invalid="ignore"):
        checks = {
            "unit_cost missing or < 0": ~(c["unit_cost"] >= 0),
            "pack_size missing, < 1 or not whole": ~(
                (c["pack_size"] >= 1) & (c["pack_size"] == np.round(c["pack_size"]))
            ),
            "moq missing or < 0": ~(c["moq"] >= 0),
            "lead_time_days missing or <= 0": ~(c["lead"] > 0) | np.isinf(c["lead"]),
            "lead_time_used_days <= 0 or infinite": ~(c["lead_used"] > 0)
            | np.isinf(c["lead_used"]),
            "review_period_days missing or < 0": ~(c["review"] >= 0) | np.isinf(c["review"]),
            "service_level outside (0, 1)": ~((c["service"] > 0) & (c["service"] < 1)),
            "holding_cost_rate missing or < 0": ~(c["holding_rate"] >= 0),
            "order_cost missing or < 0": ~(c["order_cost"] >= 0),
            "sigma_daily missing or < 0": ~(c["sigma_daily"] >= 0) | np.isinf(c["sigma_daily"]),
            "lead_time_std_days < 0": c["lead_std"] < 0,
        }
    problems = [
        f"{int(mask.sum())} SKUs with {what} ({sample(skus[mask])})"
        for what, mask in checks.items()
        if mask.any()
    ]
    if problems:
        raise ValueError("params: " + "; ".join(problems))
