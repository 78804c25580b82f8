"""Choosing a SKU's forecast among its candidates by their holdout errors.

Lives here: :func:`select` (one SKU's candidates' holdout forecasts in, the winner out:
a candidate or the blend of the best two), the error it ranks by (:func:`holdout_wape`),
the stability rule (:data:`SELECTION_MARGIN`) and the text the accuracy table stores
(:func:`describe`).
May import: numpy, :mod:`.models`. Nothing that fits.

The rule, per SKU backtested in the run (the last ``backtest_days`` days before the run
date held out, every candidate fitted on the days before them):

1. each candidate's WAPE over the observed held-out days (censored days are not scored);
2. the default is the blend of the class's own model and the global model (the first two
   of ``ROUTES``: ``prophet+lightgbm``, ``sba+lightgbm``), the plain mean of their
   forecasts: a simple combination of strong, different models is hard to beat (the M4
   and M5 results, Makridakis, Spiliotis & Assimakopoulos 2020, IJF 36(1), and 2022, IJF
   38(4)), and on the demo's rolling backtest it beat each of them in every demand class;
   the blend of the two best candidates is a candidate too;
3. the lowest error wins, but replaces the default only when it is at least
   :data:`SELECTION_MARGIN` lower (relative): one holdout of four weeks is noisy, and
   a SKU should not flip models on noise (on the demo, choosing the lowest holdout error
   with no margin was worse than the default on the following four weeks).

Without the global model or its fit, the default is the class's own model. A holdout with
no observed demand keeps the default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from replenishment.forecast.models import Fitted, Prediction
from replenishment.forecast.series import FloatArray

#: Relative error reduction a challenger needs to replace the default.
SELECTION_MARGIN = 0.2
#: What decided a SKU's model (the accuracy table's ``selection`` column): ``default`` (the
#: default blend kept), ``incumbent`` (the class's own model kept: no global model),
#: ``backtest`` (a candidate beat the default by the margin), ``not_backtested``,
#: ``fallback``.
SELECTIONS = ("default", "incumbent", "backtest", "not_backtested", "fallback")


@dataclass(frozen=True)
class Selection:
    """The winner of one SKU's contest: its name (``a+b`` for a blend), its fit, how it
    was chosen (one of :data:`SELECTIONS`), and every candidate's holdout WAPE."""

    model: str
    fitted: Fitted
    selection: str
    errors: Mapping[str, float]


def holdout_wape(actual: FloatArray, forecast: FloatArray) -> float:
    """sum |f - a| / sum a over the observed days of ``actual`` (NaN = censored); NaN when
    the observed days sum to 0.

    >>> holdout_wape(np.array([2.0, np.nan, 2.0]), np.array([1.0, 9.0, 4.0]))
    0.75
    """
    mask = ~np.isnan(actual)
    total = float(actual[mask].sum())
    if total <= 0:
        return math.nan
    return float(np.abs(forecast[mask] - actual[mask]).sum()) / total


def blend(a: Fitted, b: Fitted) -> Fitted:
    """The plain mean of two fits (holdout and horizon); its in-sample sigma is the mean of
    theirs (an upper bound of the blend's), its promotion uplift the mean where both have one.

    >>> f = Fitted(Prediction(np.array([2.0]), 1.0), Prediction(np.array([4.0]), 1.0, 0.5), 1.0)
    >>> g = Fitted(Prediction(np.array([4.0]), 3.0), Prediction(np.array([2.0]), 3.0), 2.0)
    >>> m = blend(f, g)
    >>> float(m.backtest.mean[0]), float(m.future.mean[0]), m.future.in_sample_sigma, m.seconds
    (3.0, 3.0, 2.0, 3.0)
    """

    def mean(p: Prediction | None, q: Prediction | None) -> Prediction | None:
        if p is None or q is None:
            return None
        return Prediction(
            (p.mean + q.mean) / 2,
            (p.in_sample_sigma + q.in_sample_sigma) / 2,
            (p.promo_uplift + q.promo_uplift) / 2,
        )

    future = mean(a.future, b.future)
    assert future is not None
    return Fitted(mean(a.backtest, b.backtest), future, a.seconds + b.seconds)


def select(
    default: str,
    fits: Mapping[str, Fitted],
    actual: FloatArray,
    margin: float = SELECTION_MARGIN,
) -> Selection:
    """The winner among ``fits`` (candidate name -> fit with a holdout prediction) on the
    held-out ``actual``. ``default`` (a candidate, or ``a+b``: the blend of two) is kept
    unless beaten by ``margin`` (relative); a default that failed gives way to the best.

    >>> hold = np.array([10.0, 10.0])
    >>> fit = lambda v: Fitted(Prediction(np.array(v), 1.0), Prediction(np.array(v), 1.0), 0.0)
    >>> s = select("prophet", {"prophet": fit([8.0, 8.0]), "ets": fit([12.5, 12.5])}, hold)
    >>> s.model, s.selection, s.errors["prophet+ets"]
    ('prophet+ets', 'backtest', 0.025)
    >>> select("prophet", {"prophet": fit([9.0, 9.0]), "ets": fit([9.15, 9.15])}, hold).model
    'prophet'
    >>> s = select("prophet+ets", {"prophet": fit([9.0, 9.0]), "ets": fit([12.0, 12.0])}, hold)
    >>> s.model, s.selection, float(s.fitted.future.mean[0])
    ('prophet+ets', 'default', 10.5)
    """
    fits = dict(fits)
    if "+" in default:
        parts = default.split("+")
        if all(p in fits for p in parts):
            fits[default] = blend(fits[parts[0]], fits[parts[1]])
        else:  # a part failed: the other part is the default
            default = next((p for p in parts if p in fits), parts[0])
    errors = {
        name: holdout_wape(actual, f.backtest.mean)
        for name, f in fits.items()
        if f.backtest is not None
    }
    ranked = sorted((e, n) for n, e in errors.items() if math.isfinite(e) and "+" not in n)
    if len(ranked) >= 2:
        (_, first), (_, second) = ranked[0], ranked[1]
        name = f"{first}+{second}"
        if name not in fits and f"{second}+{first}" not in fits:
            mixed = blend(fits[first], fits[second])
            assert mixed.backtest is not None
            fits[name] = mixed
            errors[name] = holdout_wape(actual, mixed.backtest.mean)
    ranked = sorted((e, n) for n, e in errors.items() if math.isfinite(e))
    kept = "default" if "+" in default else "incumbent"
    if default not in fits:  # the default failed: the best of the rest
        best = ranked[0][1] if ranked else next(iter(fits))
        return Selection(best, fits[best], "backtest", errors)
    base = errors.get(default, math.nan)
    if not ranked or not math.isfinite(base):
        return Selection(default, fits[default], kept, errors)
    best_error, best = ranked[0]
    if best != default and best_error < (1 - margin) * base:
        return Selection(best, fits[best], "backtest", errors)
    return Selection(default, fits[default], kept, errors)


def describe(errors: Mapping[str, float]) -> str:
    """The candidates' holdout WAPEs, best first, as the accuracy table stores them.

    >>> describe({"prophet": 0.25, "ets": 0.2, "theta": float("nan")})
    'ets 0.200; prophet 0.250; theta n/a'
    """
    finite = sorted((e, n) for n, e in errors.items() if math.isfinite(e))
    missing = sorted(n for n, e in errors.items() if not math.isfinite(e))
    return "; ".join([f"{n} {e:.3f}" for e, n in finite] + [f"{n} n/a" for n in missing])
