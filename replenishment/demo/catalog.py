"""The demo catalogue: SKUs with master data and the true parameters of demand and supply,
their promotions and supplier failure spells."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd

from replenishment.demo.frames import _format_ids
from replenishment.demo.spec import (
    _ADJECTIVES,
    _CATEGORY_NAMES,
    _CATEGORY_NOUNS,
    _CATEGORY_SEASONS,
    _DISCOUNTS,
    _NO_DATE,
    _PACK_SIZES,
    _PATTERN_SHARES,
    _SERVICE_LEVELS,
    PATTERNS,
    SKU_MASTER_VALUES,
    DemoSpec,
    _Calendar,
    _Promotions,
    _Spells,
)


def _assign_exact(rng: np.random.Generator, n: int, shares: tuple[float, ...]) -> np.ndarray:
    """Class labels in exact proportions (every class present once n allows), shuffled."""
    counts = np.floor(np.asarray(shares) * n).astype(np.int64)
    if n >= len(shares):
        counts = np.maximum(counts, 1)
    counts[0] += n - counts.sum()
    return rng.permutation(np.repeat(np.arange(len(shares)), counts))


def _pick(
    rng: np.random.Generator, candidates: np.ndarray, share: float, n_total: int
) -> np.ndarray:
    """A boolean mask over n_total choosing round(share * n_total) of ``candidates`` (>= 1 if possible)."""
    k = int(round(share * n_total))
    if n_total >= 10:
        k = max(k, 1)
    k = min(k, candidates.size)
    mask = np.zeros(n_total, dtype=bool)
    mask[rng.choice(candidates, size=k, replace=False)] = True
    return mask


def _uniform_in(rng: np.random.Generator, ranges: np.ndarray, code: np.ndarray) -> np.ndarray:
    lo, hi = ranges[code, 0], ranges[code, 1]
    return np.asarray(lo + rng.random(code.size) * (hi - lo))


def _draw_master(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Pattern, category, names and master data of every SKU (fixed use of the stream)."""
    pattern = _assign_exact(rng, n, _PATTERN_SHARES)
    weights = np.array([_CATEGORY_SEASONS[name][0] for name in _CATEGORY_NAMES])
    category = rng.choice(len(_CATEGORY_NAMES), size=n, p=weights / weights.sum())
    noun = rng.integers(0, 5, n)
    adjective = rng.integers(0, len(_ADJECTIVES), n)
    unit_cost = np.clip(rng.lognormal(math.log(12.0), 1.0, n), 1.0, 200.0).round(2)
    pack = rng.choice(_PACK_SIZES, n)
    moq = np.where(rng.random(n) < 0.55, 0, pack * rng.integers(2, 7, n))
    lead = rng.integers(3, 22, n)
    review = rng.choice(np.array([1, 7, 3, 14]), n, p=[0.45, 0.45, 0.05, 0.05])
    return {
        "pattern": pattern,
        "category": category,
        "noun": noun,
        "adjective": adjective,
        "unit_cost": unit_cost,
        "pack_size": pack,
        "moq": moq,
        "lead_time_days": lead,
        "review_period_days": review,
        "review_phase": rng.integers(0, 14, n) % review,
        "service_level": rng.choice(_SERVICE_LEVELS, n),
        "holding_cost_rate": rng.uniform(0.15, 0.35, n).round(3),
        "order_cost": rng.uniform(20.0, 150.0, n).round(2),
        "markup": rng.uniform(1.3, 2.2, n).round(3),
    }


def _draw_levels(n: int, pattern: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Demand level and noise by pattern (all drawn for every SKU: fixed use of the stream)."""
    smooth_base = np.exp(rng.uniform(math.log(5), math.log(80), n))
    smooth_k = rng.uniform(8.0, 40.0, n)
    erratic_base = np.exp(rng.uniform(math.log(2), math.log(40), n))
    erratic_k = rng.uniform(0.6, 2.0, n)
    occurrence = rng.uniform(0.05, 0.40, n)
    mean_size = rng.uniform(1.5, 10.0, n)
    new_base = np.exp(rng.uniform(math.log(3), math.log(40), n))
    new_k = rng.uniform(5.0, 20.0, n)
    is_int = pattern == 2
    return {
        "is_intermittent": is_int,
        "base_daily": np.choose(
            pattern, [smooth_base, erratic_base, occurrence * mean_size, new_base]
        ),
        "dispersion": np.choose(pattern, [smooth_k, erratic_k, np.full(n, np.nan), new_k]),
        "occurrence_prob": np.where(is_int, occurrence, np.nan),
        "mean_size": np.where(is_int, mean_size, np.nan),
    }


def _draw_shape(n: int, category: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Trend, weekly and yearly seasonality, holidays and promotion uplift of every SKU."""
    seasons = [_CATEGORY_SEASONS[name] for name in _CATEGORY_NAMES]
    trend = rng.uniform(-0.30, 0.40, n)
    weekly = rng.uniform(0.05, 0.50, n) * np.where(rng.random(n) < 0.6, 1.0, -1.0)
    yearly_ranges = np.array([season[1] for season in seasons])
    peak_ranges = np.array([season[2] for season in seasons], dtype=float)
    q4_share = np.array([season[3] for season in seasons])
    q4_ranges = np.array([season[4] for season in seasons])
    yearly = _uniform_in(rng, yearly_ranges, category)
    peak = np.mod(_uniform_in(rng, peak_ranges, category), 365.25)
    q4 = np.where(rng.random(n) < q4_share[category], _uniform_in(rng, q4_ranges, category), 0.0)
    holiday_mult = rng.uniform(0.2, 0.7, n)
    pre_uplift = rng.uniform(0.1, 0.5, n)
    promoted = _pick(rng, np.arange(n), 0.40, n)
    return {
        "trend_per_year": trend,
        "weekly_amplitude": weekly,
        "yearly_amplitude": yearly,
        "yearly_peak_doy": peak,
        "q4_peak": q4,
        "holiday_multiplier": holiday_mult,
        "minor_holiday_multiplier": 1.0 - 0.3 * (1.0 - holiday_mult),
        "pre_holiday_uplift": pre_uplift,
        "promo_uplift": np.where(promoted, rng.uniform(0.3, 1.5, n), 0.0),
    }


def _draw_life(
    n: int, n_days: int, pattern: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Launch and discontinuation days, forced stock-outs and late suppliers."""
    launch = np.where(pattern == 3, np.maximum(0, n_days - rng.integers(21, 57, n)), 0)
    inactive = _pick(rng, np.flatnonzero(pattern != 3), 0.03, n)
    discontinued = np.where(
        inactive, np.maximum(n_days // 2, n_days - rng.integers(60, 366, n)), _NO_DATE
    )
    forced = _pick(rng, np.flatnonzero((pattern <= 1) & ~inactive), 0.10, n)
    late = _pick(rng, np.arange(n), 0.20, n)
    return {
        "active": ~inactive,
        "launch": launch,
        "discontinued": discontinued,
        "forced_stockouts": forced.astype(np.int64),
        "late_supplier": late.astype(np.int64),
    }


def _make_catalog(spec: DemoSpec, cal: _Calendar, rng: np.random.Generator) -> pd.DataFrame:
    """One row per SKU: master data and the true parameters of its demand and supply."""
    n = spec.n_skus
    master = _draw_master(n, rng)
    pattern, category = master.pop("pattern"), master.pop("category")
    noun, adjective = master.pop("noun"), master.pop("adjective")
    levels = _draw_levels(n, pattern, rng)
    shape = _draw_shape(n, category, rng)
    life = _draw_life(n, cal.n_days, pattern, rng)
    service = master["service_level"]
    z_of = {float(s): NormalDist().inv_cdf(float(s)) for s in np.unique(service)}
    descriptions = [
        f"{_ADJECTIVES[a]} {_CATEGORY_NOUNS[_CATEGORY_NAMES[c]][w]}"
        + (f" {p}-pack" if p > 1 else "")
        for a, c, w, p in zip(adjective, category, noun, master["pack_size"], strict=True)
    ]
    columns = {
        "sku_id": _format_ids("SKU-", [(np.arange(1, n + 1), 6)]),
        "description": descriptions,
        "category": np.array(_CATEGORY_NAMES, dtype=object)[category],
        **{k: master[k] for k in SKU_MASTER_VALUES},
        "active": life["active"],
        "pattern_code": pattern,
        "pattern": np.array(PATTERNS, dtype=object)[pattern],
        **levels,
        **shape,
        "markup": master["markup"],
        **{k: v for k, v in life.items() if k != "active"},
        "review_phase": master["review_phase"],
        "z": np.array([z_of[float(s)] for s in service]),
    }
    return pd.DataFrame(columns)


def _make_promotions(
    spec: DemoSpec, cal: _Calendar, catalog: pd.DataFrame, rng: np.random.Generator
) -> _Promotions:
    """2-5 non-overlapping promotions a year for promoted SKUs, past and planned."""
    skus = np.flatnonzero(catalog["promo_uplift"].to_numpy() > 0)
    lo = catalog["launch"].to_numpy()[skus]
    hi = np.minimum(catalog["discontinued"].to_numpy()[skus], cal.n_days + spec.planned_promo_days)
    cycle = 365.0 / rng.uniform(2.0, 5.0, skus.size)
    cur = lo + np.floor(rng.random(skus.size) * cycle).astype(np.int64)
    parts: list[tuple[np.ndarray, ...]] = []
    while skus.size and (cur < hi).any():
        length = rng.integers(4, 15, skus.size)
        discount = rng.choice(_DISCOUNTS, skus.size)
        end = cur + length - 1
        ok = end < hi
        parts.append((skus[ok], cur[ok], end[ok], discount[ok]))
        gap = np.maximum(7, np.round((cycle - length) * rng.uniform(0.5, 1.5, skus.size)))
        cur = end + 1 + gap.astype(np.int64)
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return _Promotions(empty, empty, empty, empty)
    sku, start, end, discount = (np.concatenate(p) for p in zip(*parts, strict=True))
    order = np.lexsort((start, sku))
    return _Promotions(sku[order], start[order], end[order], discount[order])


def _make_spells(cal: _Calendar, catalog: pd.DataFrame, rng: np.random.Generator) -> _Spells:
    """1-3 supplier failures of 25-50 days for the SKUs flagged forced_stockouts."""
    skus = np.flatnonzero(catalog["forced_stockouts"].to_numpy() == 1)
    n_spells = int(np.clip(round(cal.n_days / 365), 1, 3))
    window_lo, window_hi = 30, cal.n_days - 10
    segment = (window_hi - window_lo) // n_spells
    parts: list[tuple[np.ndarray, ...]] = []
    for j in range(n_spells):
        length = np.minimum(rng.integers(25, 51, skus.size), max(segment - 1, 1))
        start = window_lo + j * segment + np.floor(rng.random(skus.size) * (segment - length))
        start = start.astype(np.int64)
        parts.append((skus, start, start + length - 1))
    sku, start, end = (np.concatenate(p) for p in zip(*parts, strict=True))
    return _Spells(sku, start, end)
