"""Prophet's regression features and holidays without importing Prophet.

Lives here: :func:`holidays_frame` (the country's public holidays as Prophet's
``make_holidays_df`` builds them) and :func:`feature_matrix` (the columns, prior scales
and changepoint prior scale that ``Prophet.preprocess`` builds for the project's model:
yearly and weekly Fourier terms, one 0/1 column per holiday, the promotion regressor).
May import: numpy, pandas; the ``holidays`` package lazily. Not Prophet: importing it
(with cmdstanpy and matplotlib) costs a worker process about half a CPU-second, and the
batched solver needs only these features. The Stan fallback imports Prophet itself.

The same operations as Prophet 1.x, in the same order, so the values are the same to
the bit (``tests/unit/test_prophet_features.py`` compares them with Prophet's own):
``Prophet.fourier_series``, ``Prophet.make_holiday_features`` (columns sorted by name,
``<holiday>_delim_+0``), seasonalities in the order ``set_auto_seasonalities`` adds them
(yearly, then weekly), extra regressors last.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Prophet's defaults, as the project's model (``models.new_prophet``) leaves them.
SEASONALITY_PRIOR_SCALE = 10.0
HOLIDAYS_PRIOR_SCALE = 10.0
CHANGEPOINT_PRIOR_SCALE = 0.05
#: (period in days, Fourier order) of Prophet's built-in seasonalities, in its order.
YEARLY = (365.25, 10)
WEEKLY = (7.0, 3)
#: Prophet's substitutions of country codes (``prophet.make_holidays``).
_COUNTRY_SUBSTITUTIONS = {"TU": "TR"}


def holidays_frame(country: str, run_date: dt.date, horizon_days: int) -> pd.DataFrame:
    """Public holidays of ``country`` over the history window and the horizon, for Prophet:
    columns ds (datetime64), holiday (English name), one row per holiday and date, as
    ``prophet.make_holidays.make_holidays_df(year_list, country)``.

    >>> frame = holidays_frame("US", dt.date(2026, 7, 1), 28)
    >>> frame[frame["ds"] == "2026-07-04"]["holiday"].tolist()
    ['Independence Day']
    """
    import holidays

    end = run_date + dt.timedelta(days=horizon_days)
    years = list(range(run_date.year - 4, end.year + 1))
    code = _COUNTRY_SUBSTITUTIONS.get(country, country)
    try:
        if not hasattr(holidays, code):
            raise AttributeError(f"Holidays in {code} are not currently supported!")
        days = getattr(holidays, code)(expand=False, language="en_US", years=years)
    except Exception as exc:
        raise ValueError(f"holiday_country {country!r} is not a known country code: {exc}") from exc
    frame = pd.DataFrame([(d, days.get_list(d)) for d in days], columns=["ds", "holiday"])
    frame = frame.explode("holiday").reset_index(drop=True)
    frame["ds"] = pd.to_datetime(frame["ds"])
    return frame


@dataclass(frozen=True)
class FeatureMatrix:
    """Prophet's regression inputs over a day grid: x (days, K), prior scales (K,), the
    promotion column's index (None without) and the changepoint prior scale tau."""

    x: np.ndarray
    sigmas: np.ndarray
    promo_column: int | None
    tau: float


def is_plain(holidays: pd.DataFrame | None) -> bool:
    """Whether :func:`feature_matrix` covers ``holidays``: None, or only ds and holiday
    (no windows or prior scales of its own)."""
    return holidays is None or set(holidays.columns) <= {"ds", "holiday"}


def fourier(days: np.ndarray, period: float, order: int) -> np.ndarray:
    """(len(days), 2 order): sin, cos of (i + 1) 2 pi t / period, t in days since 1970-01-01
    (``Prophet.fourier_series``)."""
    x_t = np.pi * 2 * days.astype(float)
    out = np.empty((days.size, 2 * order))
    for i in range(order):
        c = (i + 1) / period * x_t
        out[:, 2 * i] = np.sin(c)
        out[:, 2 * i + 1] = np.cos(c)
    return out


def holiday_columns(days: np.ndarray, holidays: pd.DataFrame) -> np.ndarray:
    """(len(days), H): 1 on each holiday's dates, one column per holiday name, columns in
    the order of ``sorted(f"{name}_delim_+0")`` (``Prophet.make_holiday_features``)."""
    names = holidays["holiday"].astype(str).to_numpy()
    on = holidays["ds"].to_numpy().astype("datetime64[D]").astype(np.int64)
    order = sorted(set(names), key=lambda name: f"{name}_delim_+0")
    column = {name: j for j, name in enumerate(order)}
    out = np.zeros((days.size, len(order)))
    rows = on - (int(days[0]) if days.size else 0)
    inside = (rows >= 0) & (rows < days.size)
    cols = np.array([column[n] for n in names], dtype=np.int64)
    out[rows[inside], cols[inside]] = 1.0
    return out


def feature_matrix(
    holidays: pd.DataFrame | None,
    first: np.datetime64,
    last: np.datetime64,
    yearly: bool,
    promo: bool,
) -> FeatureMatrix:
    """Prophet's features for every day ``first``..``last`` of the project's model
    (``yearly`` seasonality or not, the promotion regressor or not), with a zero promotion
    column; ``holidays`` must be :func:`is_plain`."""
    if not is_plain(holidays):
        raise ValueError("feature_matrix: holidays with windows or prior scales; use Prophet's")
    start = first.astype("datetime64[D]").astype(np.int64)
    days = np.arange(start, last.astype("datetime64[D]").astype(np.int64) + 1)
    blocks = [fourier(days, *YEARLY)] if yearly else []
    blocks.append(fourier(days, *WEEKLY))
    scales = [SEASONALITY_PRIOR_SCALE] * sum(b.shape[1] for b in blocks)
    if holidays is not None and len(holidays):
        blocks.append(holiday_columns(days, holidays))
        scales += [HOLIDAYS_PRIOR_SCALE] * blocks[-1].shape[1]
    column = None
    if promo:
        column = len(scales)
        blocks.append(np.zeros((days.size, 1)))
        scales.append(HOLIDAYS_PRIOR_SCALE)
    # column-major, as a DataFrame's values: the products over it then sum in the same
    # order as with Prophet's own matrix, and the fits are the same to the bit
    x = np.asfortranarray(np.concatenate(blocks, axis=1))
    return FeatureMatrix(x, np.asarray(scales, dtype=float), column, CHANGEPOINT_PRIOR_SCALE)
