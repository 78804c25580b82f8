"""True expected daily demand of the demo SKUs and the integer demand drawn from it."""

from __future__ import annotations

import numpy as np

from replenishment.demo.spec import _WEEKLY_SHAPE, _Calendar, _Promotions, _Spells


def _expected_demand(
    cal: _Calendar, c: dict[str, np.ndarray], promo_day: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """True expected demand (units/day) and its multiplier over base_daily, SKUs x n_ext days."""
    tt = np.arange(cal.n_ext)
    level = np.maximum(0.05, 1.0 + c["trend_per_year"][:, None] * (tt - cal.t_ref) / 365.25)
    weekly = 1.0 + c["weekly_amplitude"][:, None] * _WEEKLY_SHAPE[cal.dow][None, :]
    angle = 2.0 * np.pi * (cal.doy[None, :] - c["yearly_peak_doy"][:, None]) / 365.25
    yearly = np.maximum(
        0.1,
        1.0
        + c["yearly_amplitude"][:, None] * np.cos(angle)
        + c["q4_peak"][:, None] * cal.q4_bump[None, :],
    )
    kind = cal.holiday_kind[None, :]
    holiday = np.where(
        kind == 2,
        c["holiday_multiplier"][:, None],
        np.where(
            kind == 1,
            c["minor_holiday_multiplier"][:, None],
            np.where(cal.pre_holiday[None, :], 1.0 + c["pre_holiday_uplift"][:, None], 1.0),
        ),
    )
    promo = 1.0 + c["promo_uplift"][:, None] * promo_day
    alive = (tt[None, :] >= c["launch"][:, None]) & (tt[None, :] < c["discontinued"][:, None])
    mult = level * weekly * yearly * holiday * promo * alive
    intermittent = c["is_intermittent"][:, None]
    occ = np.nan_to_num(c["occurrence_prob"])[:, None]
    size = np.nan_to_num(c["mean_size"])[:, None]
    expected = np.where(
        intermittent, np.minimum(1.0, occ * mult) * size, c["base_daily"][:, None] * mult
    )
    return expected, mult


def _draw_demand(
    rng: np.random.Generator, c: dict[str, np.ndarray], expected: np.ndarray, mult: np.ndarray
) -> np.ndarray:
    """Integer daily demand with the SKU's noise: negative binomial, or occurrence x size."""
    k = np.nan_to_num(c["dispersion"], nan=1.0)[:, None]
    counts = rng.negative_binomial(k, k / (k + expected))
    occ = np.nan_to_num(c["occurrence_prob"])[:, None]
    occurs = rng.random(expected.shape) < np.minimum(1.0, occ * mult)
    size_mean = np.nan_to_num(c["mean_size"], nan=2.0)[:, None]
    sizes = 1 + rng.negative_binomial(2.0, 2.0 / (2.0 + size_mean - 1.0), size=expected.shape)
    drawn = np.where(c["is_intermittent"][:, None], occurs * sizes, counts)
    return np.asarray(drawn, dtype=np.int64)


def _promo_discount(cal: _Calendar, promos: _Promotions, b0: int, b1: int) -> np.ndarray:
    """Discount percent of the promotion running on each SKU-day of the block (0 = none)."""
    sel = (promos.sku >= b0) & (promos.sku < b1)
    rows = promos.sku[sel] - b0
    diff = np.zeros((b1 - b0, cal.n_ext + 1), dtype=np.int64)
    np.add.at(diff, (rows, np.minimum(promos.start[sel], cal.n_ext)), promos.discount[sel])
    np.add.at(diff, (rows, np.minimum(promos.end[sel] + 1, cal.n_ext)), -promos.discount[sel])
    return np.cumsum(diff, axis=1)[:, : cal.n_ext]


def _blocked_until(cal: _Calendar, spells: _Spells, b0: int, b1: int) -> np.ndarray:
    """Per SKU-day of the block: last day of the supplier failure covering it, else -1."""
    blocked = np.full((b1 - b0, cal.n_days), -1, dtype=np.int64)
    sel = np.flatnonzero((spells.sku >= b0) & (spells.sku < b1))
    for i in sel:  # a few spells per flagged SKU
        blocked[spells.sku[i] - b0, spells.start[i] : spells.end[i] + 1] = spells.end[i]
    return blocked
