"""Supplier lead times learned from receipts, with the planned value as the prior.

What lives here: one concept, the lead time a replenishment decision should use for a
SKU on a run date, estimated from the purchase orders known before that date. Pure
pandas/numpy; imports nothing of the project but nothing at all of Airflow or a database.

Notation (days throughout)
--------------------------
L_p
    Planned lead time: ``lead_time_days`` of the SKU master (the prior).
L_i
    Observed lead time of purchase order i: ``received_date - order_date`` for a
    receipt known before the run date D. An order still open on D whose
    ``expected_date`` has passed is *late evidence*: its lead time is at least
    ``D - order_date``, and enters at that lower bound (one overdue past ``STALE_FACTOR``
    (3) times its promised lead time is lost or stale data and left out, as are
    cancelled orders; the bound is only ever an
    underestimate, so the estimate errs on the side of the receipts seen so far).
a_i
    Age of the evidence, days: ``D - received_date`` (0 for late open orders).
w_i
    Weight ``0.5 ** (a_i / half_life_days)``: a receipt half a year old counts half
    as much as today's (default half-life 90 days), so a supplier that has started to
    deliver late moves the estimate within weeks, not years.
k
    ``prior_receipts``: the weight of the planned value, in receipts (default 3).

Estimate (a conjugate-style shrinkage: the planned value acts as ``k`` receipts of
age 0, in the manner of a normal prior with known variance; see Gelman et al.,
*Bayesian Data Analysis*, 3rd ed., section 2.5, the posterior mean as a precision-weighted
average of prior and data)::

    W      = sum(w_i)
    mean   = (k * L_p + sum(w_i * L_i)) / (k + W)
    var    = (k * (cv_p * L_p)**2 + sum(w_i * (L_i - mean)**2)) / (k + W)

with ``cv_p`` (default 0.15) the spread assumed for a planned value no receipt has
confirmed. The prior's share ``k / (k + W)`` names the source: ``planned`` without any
evidence, ``measured`` when the prior's share is below ``measured_below`` (0.25: more
than 9 fresh receipts' worth of evidence), ``blended`` in between. ``lead_time_bias_days``
is the weighted mean of ``L_i - planned_i`` (``planned_i = expected_date - order_date``
of the order itself, else L_p): how late the supplier is against what was promised.

A planned value its SKU's own evidence contradicts (at least 3 pieces, a mean at least
4.5 standard errors, 1 day and 10 % from the plan: the level-shift test's thresholds)
no longer pulls the mean either: master data that was never right is not a prior.

Level shifts: a supplier whose lead time changed (a new route, a new carrier) is found by
:func:`level_shifts`; the estimate then uses only the evidence since the shift, and the
planned value keeps its weight in the spread but not in the mean (it is contradicted).
``lead_time_shift_receipts`` counts the receipts since the shift (0: no shift).

Pooled evidence: lead time is a property of the supplier more than of the SKU, and a SKU
that orders once a month sees a supplier turn late only after three of its own receipts,
a quarter of a year. When ``planned`` carries ``lead_time_group`` (the pipeline passes
the SKU master's ``category``, the nearest thing to a supplier it has), the level-shift
test also runs on the lateness ``L_i - planned_i`` of the group's orders past their
promised date, received or overdue, in the order placed (:func:`group_shifts`, with
``group_min_receipts`` and ``group_t``). When a group's lateness (clipped to a week each
way) rose by Delta days, each of its SKUs that did not shift on its own evidence counts
its orders from before the group's change, and its planned value, as Delta days longer:
its own offset from the group kept, the group's new level learned from many SKUs'
orders. ``lead_time_group_shift_days`` is the Delta applied (0: none).

>>> import datetime as dt
>>> pos = pd.DataFrame({
...     "sku_id": ["A"] * 4,
...     "order_date": pd.to_datetime(["2026-05-01", "2026-05-08", "2026-05-15", "2026-06-20"]),
...     "expected_date": pd.to_datetime(["2026-05-08", "2026-05-15", "2026-05-22", "2026-06-27"]),
...     "received_date": pd.to_datetime(["2026-05-11", "2026-05-18", "2026-05-25", None]),
... })
>>> planned = pd.DataFrame({"sku_id": ["A", "B"], "lead_time_days": [7.0, 5.0]})
>>> est = estimate_lead_times(planned, pos, dt.date(2026, 7, 1)).set_index("sku_id")
>>> a, b = est.loc["A"], est.loc["B"]
>>> a["lead_time_source"], int(a["lead_time_receipts"]), int(a["lead_time_late_open"])
('measured', 3, 1)
>>> round(float(a["lead_time_used_days"]), 2), round(float(a["lead_time_bias_days"]), 2)
(10.32, 3.32)
>>> describe(a)
'supplier 3.3 days late on average over 3 receipts and 1 overdue order; lead time 10.3 days used (planned 7, measured)'
>>> b["lead_time_source"], float(b["lead_time_used_days"]), describe(b)
('planned', 5.0, 'lead time 5 days planned (no receipts yet)')
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from replenishment.frames import sample, to_naive_datetime

logger = logging.getLogger(__name__)
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Columns of :func:`estimate_lead_times`' result.
LEAD_TIME_COLUMNS: tuple[str, ...] = (
    "sku_id",
    "lead_time_planned_days",
    "lead_time_used_days",
    "lead_time_std_days",
    "lead_time_source",
    "lead_time_receipts",
    "lead_time_late_open",
    "lead_time_bias_days",
    "lead_time_shift_receipts",
    "lead_time_group_shift_days",
)

SOURCES = ("planned", "blended", "measured")
#: An open order overdue by more than this many times its promised lead time is taken as
#: lost or stale data, not as late evidence.
STALE_FACTOR = 3.0


@dataclass(frozen=True)
class LeadTimeRule:
    """How much receipts count against the planned lead time (see the module docstring).

    prior_receipts: k, weight of the planned value in receipts, > 0.
    half_life_days: age, days, at which a receipt counts half, > 0.
    prior_cv: coefficient of variation assumed for an unconfirmed planned lead time, >= 0.
    measured_below: the source is "measured" when the prior's share k / (k + W) is below this.
    shift_min_receipts, shift_t, shift_min_days, shift_min_share: a level shift is
    taken when both segments hold at least ``shift_min_receipts`` pieces of evidence,
    the split's two-sample t statistic is at least ``shift_t`` and the means differ by
    at least ``shift_min_days`` and ``shift_min_share`` of the earlier mean (see
    :func:`level_shifts`).
    group_min_receipts, group_t: the same test on a group's pooled lateness
    (:func:`group_shifts`), with more receipts and a higher t asked of it (a group has
    many receipts; a false shift would move all its SKUs).
    group_window_days: the group test reads the orders placed in this many days before
    the run date, > 0.
    """

    prior_receipts: float = 3.0
    half_life_days: float = 90.0
    prior_cv: float = 0.15
    measured_below: float = 0.25
    shift_min_receipts: int = 3
    shift_t: float = 4.5
    shift_min_days: float = 1.0
    shift_min_share: float = 0.1
    group_min_receipts: int = 5
    group_t: float = 5.0
    group_window_days: float = 365.0

    def __post_init__(self) -> None:
        if self.prior_receipts <= 0 or self.half_life_days <= 0:
            raise ValueError("prior_receipts and half_life_days must be > 0")
        if self.prior_cv < 0 or not 0 < self.measured_below < 1:
            raise ValueError("prior_cv must be >= 0 and measured_below in (0, 1)")
        if min(self.shift_min_receipts, self.group_min_receipts) < 2:
            raise ValueError("shift_min_receipts and group_min_receipts must be >= 2")
        if self.shift_t <= 0 or self.group_t <= 0 or self.group_window_days <= 0:
            raise ValueError("shift_t, group_t and group_window_days must be > 0")


#: Variance floor of the shift tests, days squared (lead times are whole days).
_MIN_VARIANCE = 0.25


def _material(difference: FloatArray, base: FloatArray, rule: LeadTimeRule) -> BoolArray:
    """At least ``shift_min_days`` and ``shift_min_share`` of ``base``: the tests' size bar."""
    return np.asarray(
        np.abs(difference) >= np.maximum(rule.shift_min_days, rule.shift_min_share * base)
    )


def _days(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return (later - earlier) / pd.Timedelta(days=1)


def _naive(values: pd.Series) -> pd.Series:
    return to_naive_datetime(values).astype("datetime64[ns]")


#: The SKU master column whose SKUs pool their lateness evidence: the master has no
#: supplier column, and a category is most often bought from few suppliers.
GROUP_COLUMN = "category"


def planned_lead_times(master: pd.DataFrame) -> pd.DataFrame:
    """The ``planned`` frame of :func:`estimate_lead_times` from SKU master rows:
    sku_id, lead_time_days and, when the master has :data:`GROUP_COLUMN`, lead_time_group."""
    planned = master[["sku_id", "lead_time_days"]].copy()
    if GROUP_COLUMN in master:
        planned["lead_time_group"] = master[GROUP_COLUMN].to_numpy()
    return planned


def lead_time_evidence(purchase_orders: pd.DataFrame, run_date: dt.date) -> pd.DataFrame:
    """One row per piece of lead-time evidence known before ``run_date``.

    purchase_orders: sku_id, order_date, received_date (NaT while open) and optionally
    expected_date and status, as :file:`include/sql/extract_purchase_orders.sql` reads
    them. Cancelled orders, orders placed on or after the run date, receipts on or after
    it, open orders overdue past :data:`STALE_FACTOR` times their promised lead time, and
    receipts dated before their order are ignored (the last with a warning).

    Returns sku_id, lead_days (observed, or the lower bound of a late open order),
    promised_days (``expected_date - order_date``, NaN when unknown), age_days, late_open.
    """
    missing = [c for c in ("sku_id", "order_date", "received_date") if c not in purchase_orders]
    if missing:
        raise ValueError(f"purchase_orders: missing columns {missing}")
    day = pd.Timestamp(run_date)
    ordered = _naive(purchase_orders["order_date"])
    received = _naive(purchase_orders["received_date"])
    received = received.where(received < day)
    expected = (
        _naive(purchase_orders["expected_date"])
        if "expected_date" in purchase_orders
        else pd.Series(pd.NaT, index=purchase_orders.index, dtype="datetime64[ns]")
    )
    placed = ordered < day
    if "status" in purchase_orders:
        placed &= purchase_orders["status"].astype(str).str.lower().ne("cancelled").to_numpy()
    lead = _days(received, ordered)
    backwards = placed & (lead < 0)
    if backwards.any():
        logger.warning(
            "purchase_orders: %d receipts dated before their order ignored (SKUs %s)",
            int(backwards.sum()),
            ", ".join(purchase_orders.loc[backwards, "sku_id"].astype(str).unique()[:5]),
        )
    receipt = placed & lead.notna() & ~backwards
    promised = _days(expected, ordered)
    overdue = _days(pd.Series(day, index=ordered.index), ordered)
    # an order overdue past STALE_FACTOR x its promised lead time is lost or stale data,
    # not evidence of how late the supplier delivers
    late_open = (
        placed
        & received.isna()
        & expected.notna()
        & (expected < day)
        & (overdue <= STALE_FACTOR * promised.clip(lower=1.0))
    )
    lead = lead.where(receipt, overdue)
    age = _days(pd.Series(day, index=ordered.index), received).where(receipt, 0.0)
    keep = receipt | late_open
    return pd.DataFrame(
        {
            "sku_id": purchase_orders.loc[keep, "sku_id"].astype(str).to_numpy(),
            "lead_days": lead[keep].astype(float).to_numpy(),
            "promised_days": promised[keep].astype(float).to_numpy(),
            "age_days": age[keep].astype(float).to_numpy(),
            "late_open": late_open[keep].to_numpy(dtype=bool),
        }
    )


def level_shifts(
    rows: npt.NDArray[np.intp],
    lead: npt.NDArray[np.float64],
    age: npt.NDArray[np.float64],
    n: int,
    rule: LeadTimeRule,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Which evidence belongs to each SKU's current lead-time level, and which SKUs shifted.

    rows: the SKU (0 .. n - 1) of each piece of evidence; lead, age: its lead_days and
    age_days (:func:`lead_time_evidence`). Per SKU, the evidence oldest first,
    x_1 .. x_N, is split after every j that leaves at least m = ``shift_min_receipts``
    pieces on each side, with the two-sample statistic

        t_j = (mean(x_j+1..x_N) - mean(x_1..x_j)) / (s_j * sqrt(1/j + 1/(N - j)))

    (s_j the pooled standard deviation, floored at half a day: lead times are whole
    days). The split with the largest ``|t_j|`` is a level shift when ``|t_j| >= shift_t``
    and the means differ by at least ``shift_min_days`` and ``shift_min_share`` of the
    earlier mean: the maximum-t test for one change in the mean (Hawkins, "Testing a
    sequence of observations for a shift in location", JASA 72, 1977). A supplier that
    turned late weeks ago is then planned from its receipts since, instead of waiting
    for the half-life to wash out years of on-time history.

    Returns (current: per piece of evidence, False for what precedes a shift;
    shifted: per SKU).
    """
    m = rule.shift_min_receipts
    order = np.lexsort((-age, rows))
    r, x = rows[order], lead[order]
    count = np.bincount(r, minlength=n)
    start = np.concatenate(([0], np.cumsum(count)[:-1]))
    j = np.arange(r.size) - start[r] + 1
    total = count[r]
    c1 = np.concatenate(([0.0], np.cumsum(x)))
    c2 = np.concatenate(([0.0], np.cumsum(x * x)))
    s1 = c1[1:] - c1[start[r]]
    q1 = c2[1:] - c2[start[r]]
    s_all = c1[start[r] + total] - c1[start[r]]
    q_all = c2[start[r] + total] - c2[start[r]]
    valid = (j >= m) & (total - j >= m)
    n1 = np.where(valid, j, 1).astype(float)
    n2 = np.where(valid, total - j, 1).astype(float)
    mean1, mean2 = s1 / n1, (s_all - s1) / n2
    ss = (q1 - s1 * s1 / n1) + ((q_all - q1) - (s_all - s1) ** 2 / n2)
    sd = np.sqrt(np.maximum(ss / np.maximum(n1 + n2 - 2.0, 1.0), _MIN_VARIANCE))
    t = np.abs(mean2 - mean1) / (sd * np.sqrt(1.0 / n1 + 1.0 / n2))
    big = _material(mean2 - mean1, mean1, rule)
    score = np.where(valid & big, t, 0.0)
    best = np.zeros(n)
    np.maximum.at(best, r, score)
    shifted = best >= rule.shift_t
    split = np.zeros(n, dtype=np.int64)
    at = (score == best[r]) & shifted[r]
    np.maximum.at(split, r[at], j[at])
    current = np.empty(r.size, dtype=bool)
    current[order] = j > split[r]
    return current, shifted


def group_shifts(
    group: npt.NDArray[np.intp],
    lateness: npt.NDArray[np.float64],
    age: npt.NDArray[np.float64],
    n_groups: int,
    rule: LeadTimeRule,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """A change in each group's lateness, from the orders of all its SKUs.

    group: the group (0 .. n_groups - 1) of each order; lateness: its lead time minus the
    lead time promised for it, days (for an order still open, its lower bound: days past
    its expected date); age: days since it was placed. The test is :func:`level_shifts`
    on the group's orders in the order they were placed, with ``group_min_receipts`` and
    ``group_t`` in place of the SKU's thresholds.
    Returns (before: per order, True when it precedes its group's shift; delta: per
    group, mean lateness after the shift minus before, 0 without a shift).

    >>> g = np.zeros(20, dtype=np.intp)
    >>> late = np.r_[np.zeros(10), np.full(10, 3.0)] + np.tile([-0.5, 0.5], 10)
    >>> before, delta = group_shifts(g, late, np.arange(20.0)[::-1], 1, LeadTimeRule())
    >>> int(before.sum()), float(delta[0])
    (10, 3.0)
    """
    test = replace(rule, shift_min_receipts=rule.group_min_receipts, shift_t=rule.group_t)
    after, shifted = level_shifts(group, lateness, age, n_groups, test)
    before = shifted[group] & ~after

    def mean(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
        total = np.bincount(group[mask], weights=lateness[mask], minlength=n_groups)
        count = np.bincount(group[mask], minlength=n_groups)
        return np.divide(total, count, out=np.zeros(n_groups), where=count > 0)

    delta = np.where(shifted, mean(~before) - mean(before), 0.0)
    return before, delta


def _pooled_drift(
    planned: pd.DataFrame,
    rows: npt.NDArray[np.intp],
    ev: pd.DataFrame,
    promised: npt.NDArray[np.float64],
    own_shift: npt.NDArray[np.bool_],
    rule: LeadTimeRule,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Days to add to each piece of evidence and to each SKU's planned value for its
    group's shift (:func:`group_shifts`); zeros without ``lead_time_group``. SKUs that
    shifted on their own evidence (``own_shift``) keep their own."""
    n = len(planned)
    add, per_sku = np.zeros(len(rows)), np.zeros(n)
    if "lead_time_group" not in planned or not len(rows):
        return add, per_sku
    codes, names = pd.factorize(planned["lead_time_group"].astype("string"))
    lead = ev["lead_days"].to_numpy()
    placed_age = ev["age_days"].to_numpy() + lead  # days since the order was placed
    # an order past its promised date is received or overdue: none is missing for being
    # late, as orders not yet due, or without an expected date, would be
    known = ~np.isnan(ev["promised_days"].to_numpy())
    # and only the last group_window_days: the far edge of the look-back is where an
    # extract's cut can leave a biased sample (cut by receipt date, only the slow ones)
    recent = placed_age <= rule.group_window_days
    grouped = codes[rows] >= 0
    due = np.flatnonzero(known & recent & (placed_age >= promised) & grouped)
    # lateness clipped to a week each way: one order weeks late (a lost shipment) must not
    # read as the level of a whole group; only a group turned later moves its SKUs (one
    # turned early is left to each SKU's own receipts: too much stock, not a stock-out)
    lateness = np.clip(lead[due] - promised[due], -7.0, 7.0)
    before, delta = group_shifts(codes[rows[due]], lateness, placed_age[due], len(names), rule)
    delta = np.maximum(delta, 0.0)
    before &= delta[codes[rows[due]]] > 0
    per_sku = np.where((codes >= 0) & ~own_shift, delta[np.maximum(codes, 0)], 0.0)
    older = np.concatenate([due[before], np.flatnonzero(~recent & grouped)])
    add[older] = per_sku[rows[older]]
    if delta.any():
        logger.info(
            "lead times: lateness shifted in %d groups (%s)",
            int((delta != 0).sum()),
            ", ".join(f"{names[g]} {delta[g]:+.1f} d" for g in np.flatnonzero(delta)[:5]),
        )
    return add, per_sku


def _contradicted(
    rows: npt.NDArray[np.intp],
    lead: npt.NDArray[np.float64],
    prior: npt.NDArray[np.float64],
    n: int,
    rule: LeadTimeRule,
) -> npt.NDArray[np.bool_]:
    """SKUs whose evidence contradicts the planned value: at least ``shift_min_receipts``
    pieces whose mean differs from the plan by ``shift_t`` standard errors (spread floored
    at half a day) and by ``shift_min_days`` and ``shift_min_share`` of the plan, the
    level-shift test's thresholds. A master-data lead time that was never right (the
    supplier has always been 3 days late) then no longer pulls the mean, as after a shift.
    """
    count = np.bincount(rows, minlength=n).astype(float)
    gap = lead - prior[rows]
    total = np.bincount(rows, weights=gap, minlength=n)
    mean = np.divide(total, count, out=np.zeros(n), where=count > 0)
    ss = np.bincount(rows, weights=(gap - mean[rows]) ** 2, minlength=n)
    sd = np.sqrt(np.maximum(ss / np.maximum(count - 1.0, 1.0), _MIN_VARIANCE))
    t = np.abs(mean) * np.sqrt(count) / sd
    big = _material(mean, prior, rule)
    return np.asarray((count >= rule.shift_min_receipts) & (t >= rule.shift_t) & big)


def estimate_lead_times(
    planned: pd.DataFrame,
    purchase_orders: pd.DataFrame,
    run_date: dt.date,
    rule: LeadTimeRule = LeadTimeRule(),
) -> pd.DataFrame:
    """The lead time to plan with, per SKU of ``planned``, as known before ``run_date``.

    planned: sku_id, lead_time_days (planned supplier lead time, days, > 0), one row per
        SKU; optionally lead_time_group (SKUs whose suppliers move together, e.g. the
        category: their receipts are pooled to find a change, see the module docstring).
    purchase_orders: as for :func:`lead_time_evidence`.
    Returns :data:`LEAD_TIME_COLUMNS`, rows in the order of ``planned``:
    lead_time_used_days (the shrunk mean), lead_time_std_days (its spread), lead_time_source
    (planned / blended / measured), lead_time_receipts (receipts used), lead_time_late_open
    (open orders past their expected date), lead_time_bias_days (weighted mean lateness
    against the promised lead time; NaN without evidence).
    """
    ids = planned["sku_id"].astype(str)
    prior = pd.to_numeric(planned["lead_time_days"]).astype(float).to_numpy()
    ev = lead_time_evidence(purchase_orders, run_date)
    ev = ev[ev["sku_id"].isin(set(ids))]
    n = len(ids)
    all_rows = pd.Index(ids).get_indexer(ev["sku_id"])
    current, shifted = level_shifts(
        all_rows, ev["lead_days"].to_numpy(), ev["age_days"].to_numpy(), n, rule
    )
    promised_all = np.where(
        np.isnan(ev["promised_days"].to_numpy()), prior[all_rows], ev["promised_days"]
    )
    drift, group_shift = _pooled_drift(planned, all_rows, ev, promised_all, shifted, rule)
    ev, rows, promised = ev[current], all_rows[current], promised_all[current]
    w = np.power(0.5, ev["age_days"].to_numpy() / rule.half_life_days)
    lead = ev["lead_days"].to_numpy() + drift[current]
    weight = np.bincount(rows, weights=w, minlength=n)
    k = rule.prior_receipts
    # after a level shift the planned value is contradicted: it keeps its weight in the
    # spread (k receipts of spread cv_p * L_p) but no longer pulls the mean
    prior_mean = prior + group_shift
    k_mean = np.where(shifted | _contradicted(rows, lead, prior_mean, n, rule), 0.0, k)
    mean = (k_mean * prior_mean + np.bincount(rows, weights=w * lead, minlength=n)) / (
        k_mean + weight
    )
    mean = np.maximum(mean, np.minimum(prior, 1.0))  # never below a day (or the plan)
    spread = np.bincount(rows, weights=w * (lead - mean[rows]) ** 2, minlength=n)
    var = (k * (rule.prior_cv * prior) ** 2 + spread) / (k + weight)
    late = np.bincount(rows, weights=w * (lead - promised), minlength=n)
    share = k_mean / (k_mean + weight)
    source = np.where(
        (weight == 0) & (group_shift == 0),
        "planned",
        np.where(share < rule.measured_below, "measured", "blended"),
    )
    late_open = ev["late_open"].to_numpy()
    result = pd.DataFrame(
        {
            "sku_id": ids.to_numpy(),
            "lead_time_planned_days": prior,
            "lead_time_used_days": mean,
            "lead_time_std_days": np.sqrt(var),
            "lead_time_source": source,
            "lead_time_receipts": np.bincount(rows[~late_open], minlength=n).astype(np.int64),
            "lead_time_late_open": np.bincount(rows[late_open], minlength=n).astype(np.int64),
            "lead_time_bias_days": np.divide(
                late, weight, out=np.full(n, np.nan), where=weight > 0
            ),
            "lead_time_shift_receipts": np.where(
                shifted, np.bincount(rows[~late_open], minlength=n), 0
            ).astype(np.int64),
            "lead_time_group_shift_days": group_shift,
        },
        columns=list(LEAD_TIME_COLUMNS),
    )
    _log_estimate(result, run_date)
    return result


def _log_estimate(result: pd.DataFrame, run_date: dt.date) -> None:
    counts = result["lead_time_source"].value_counts().to_dict()
    logger.info(
        "lead times for %s: %d SKUs (%s), %d receipts, %d late open orders, %d level shifts",
        run_date.isoformat(),
        len(result),
        ", ".join(f"{s} {counts.get(s, 0)}" for s in SOURCES),
        int(result["lead_time_receipts"].sum()),
        int(result["lead_time_late_open"].sum()),
        int((result["lead_time_shift_receipts"] > 0).sum()),
    )


def describe(row: Mapping[str, Any]) -> str:
    """A buyer's sentence on the lead time used, e.g. "supplier 3.1 days late on average
    over 24 receipts; lead time 10.1 days used (planned 7, measured)"."""
    used, plan = float(row["lead_time_used_days"]), float(row["lead_time_planned_days"])
    receipts = int(row["lead_time_receipts"])
    late_open = int(row["lead_time_late_open"])
    group = float(row.get("lead_time_group_shift_days", 0.0) or 0.0)
    pooled = (
        f"; the suppliers of its group {abs(group):.1f} days "
        f"{'later' if group > 0 else 'earlier'} than before on their recent orders"
        if group
        else ""
    )
    if row["lead_time_source"] == "planned":
        return f"lead time {_num(plan)} days planned (no receipts yet)"
    if receipts + late_open == 0:
        return f"lead time {_num(used)} days used (planned {_num(plan)}, no receipts yet{pooled})"
    bias = float(row["lead_time_bias_days"])
    evidence = f"{receipts} receipts" + (
        f" and {late_open} overdue order{'s' if late_open > 1 else ''}" if late_open else ""
    )
    if int(row.get("lead_time_shift_receipts", 0) or 0) > 0:
        evidence = f"the {evidence} since its lead time changed"
    if abs(bias) >= 0.5:
        word = "late" if bias > 0 else "early"
        head = f"supplier {abs(bias):.1f} days {word} on average over {evidence}"
    else:
        head = f"supplier on time over {evidence}"
    return (
        f"{head}; lead time {_num(used)} days used "
        f"(planned {_num(plan)}, {row['lead_time_source']}{pooled})"
    )


def _num(x: float) -> str:
    return f"{x:.0f}" if abs(x - round(x)) < 0.05 else f"{x:.1f}"


def lead_time_stats(purchase_orders: pd.DataFrame, min_samples: int = 5) -> pd.DataFrame:
    """Measured supplier lead times per SKU from received purchase orders.

    purchase_orders: columns sku_id, order_date, received_date (dates, datetimes or ISO
    strings); only received orders should be passed. The lead time of a PO is
    ``received_date - order_date`` in days (fractional if the inputs carry times).
    Rows without a received date are ignored; rows received before they were ordered
    are dropped with a warning.

    Returns one row per sku_id (sorted) with ``lead_time_mean_days``,
    ``lead_time_std_days`` (sample std, ddof=1, NaN for SKUs with fewer than
    ``min_samples`` receipts) and ``lead_time_samples`` (int).
    """
    missing = [c for c in ("sku_id", "order_date", "received_date") if c not in purchase_orders]
    if missing:
        raise ValueError(f"purchase_orders: missing columns {missing}")
    ordered = to_naive_datetime(purchase_orders["order_date"])
    received = to_naive_datetime(purchase_orders["received_date"])
    days = (received - ordered) / pd.Timedelta(days=1)
    negative = days < 0
    if negative.any():
        bad = purchase_orders.loc[negative, "sku_id"].astype(str).unique()
        logger.warning(
            "purchase_orders: %d received rows with received_date < order_date ignored (%s)",
            int(negative.sum()),
            sample(bad),
        )
    keep = days.notna() & ~negative
    frame = pd.DataFrame(
        {"sku_id": purchase_orders.loc[keep, "sku_id"], "lead_time": days[keep].astype(float)}
    )
    stats = (
        frame.groupby("sku_id", sort=True)["lead_time"]
        .agg(["mean", "std", "size"])
        .reset_index()
        .rename(
            columns={
                "mean": "lead_time_mean_days",
                "std": "lead_time_std_days",
                "size": "lead_time_samples",
            }
        )
    )
    stats["lead_time_samples"] = stats["lead_time_samples"].astype("int64")
    stats["lead_time_mean_days"] = stats["lead_time_mean_days"].astype(float)
    stats["lead_time_std_days"] = stats["lead_time_std_days"].astype(float)
    stats.loc[stats["lead_time_samples"] < min_samples, "lead_time_std_days"] = np.nan
    return stats[["sku_id", "lead_time_mean_days", "lead_time_std_days", "lead_time_samples"]]
