"""Demand classes and the routing table: which models a SKU of each class is given.

Lives here: the Syntetos-Boylan classification of a daily series (:func:`classify`) and
:data:`ROUTES`, demand class -> ordered candidate model names (the first that does not
fail forecasts the SKU; :data:`FALLBACK_MODEL` after them all).
May import: numpy. Models are named here, not imported (see :mod:`.models`).
"""

from __future__ import annotations

import math

import numpy as np

from replenishment.forecast.series import FloatArray

#: Syntetos-Boylan cut-offs: average inter-demand interval (days) and squared
#: coefficient of variation of the demand sizes (Syntetos, Boylan & Croston 2005).
ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49
#: Days of the most recent history the class is measured on.
CLASS_WINDOW_DAYS = 365

#: demand class -> candidate models. The first is the class's incumbent. A SKU backtested
#: in the run is forecast by every candidate and keeps the one (or the blend of the best two)
#: with the lowest holdout error, a challenger replacing the incumbent only by a margin
#: (:mod:`.select`); a SKU without a holdout gets the first candidate that does not fail.
#: A new model is a class (:mod:`.models`, :mod:`.statistical`, :mod:`.global_model`) plus
#: its name here.
ROUTES: dict[str, tuple[str, ...]] = {
    "smooth": ("prophet", "lightgbm", "ets", "theta"),
    "erratic": ("prophet", "lightgbm", "ets", "theta"),
    "intermittent": ("sba", "lightgbm", "tsb", "adida", "imapa"),
    "lumpy": ("sba", "lightgbm", "tsb", "adida", "imapa"),
    # cold start: the global model borrows the category's level and every SKU's shape
    "short": ("lightgbm", "moving_average"),
    "none": ("no_history",),
}
#: Model used when every candidate of a SKU raised (or gave non-finite forecasts).
FALLBACK_MODEL = "seasonal_naive"
#: The intermittent-demand methods (``pipeline_runs.skus_intermittent`` counts their SKUs).
INTERMITTENT_MODELS = ("sba", "tsb", "adida", "imapa")
#: Models that mean "no pattern model": too short a history, no sale, or the fallback.
FALLBACK_MODELS = ("moving_average", "seasonal_naive", "no_history")


def classify(y: FloatArray, min_history_days: int) -> tuple[str, float, float]:
    """Syntetos-Boylan class of a daily series (NaN = censored) over its last year.

    Returns (class, ADI, CV²): ADI is observed days per day with demand, CV² the
    squared coefficient of variation of the non-zero demand sizes. Classes:
    smooth (ADI < 1.32, CV² < 0.49), erratic (ADI < 1.32), intermittent
    (CV² < 0.49), lumpy; "short" below ``min_history_days`` observed days and
    "none" without any sale.

    >>> classify(np.tile([0.0, 0.0, 0.0, 4.0], 50), 56)
    ('intermittent', 4.0, 0.0)
    """
    observed = y[~np.isnan(y)]
    if observed.size == 0 or observed.sum() <= 0:
        return "none", math.nan, math.nan
    recent = y[-CLASS_WINDOW_DAYS:]
    recent = recent[~np.isnan(recent)]
    nonzero = recent[recent > 0]
    adi = recent.size / nonzero.size if nonzero.size else math.inf
    cv2 = float(np.var(nonzero) / np.mean(nonzero) ** 2) if nonzero.size > 1 else 0.0
    if observed.size < min_history_days:
        return "short", adi, cv2
    if adi < ADI_CUTOFF:
        return ("smooth" if cv2 < CV2_CUTOFF else "erratic"), adi, cv2
    return ("intermittent" if cv2 < CV2_CUTOFF else "lumpy"), adi, cv2


def candidates(demand_class: str) -> tuple[str, ...]:
    """The models tried for ``demand_class``, in order, ending with :data:`FALLBACK_MODEL`."""
    routed = ROUTES[demand_class]
    return routed if FALLBACK_MODEL in routed else (*routed, FALLBACK_MODEL)


def model_for_class(demand_class: str) -> str:
    """The first-choice model of ``demand_class``."""
    return ROUTES[demand_class][0]
