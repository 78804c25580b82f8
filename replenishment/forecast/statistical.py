"""Statistical challenger models, hand-written in numpy and batched across SKUs.

Lives here: ETS(A,N,A) (:func:`ets`), the standard Theta method (:func:`theta`), and for
intermittent demand TSB (:func:`tsb`), ADIDA (:func:`adida`) and IMAPA (:func:`imapa`):
batch functions and their :class:`~.models.Model` classes (registered under those names).
May import: numpy, :mod:`.series`, :mod:`.models`. Nothing else of the project.

Each follows Nixtla statsforecast 2.1 (which pins pandas < 3); tests/unit/test_statistical.py
holds its forecasts (scripts/statsforecast_goldens.py). A call pads all its series (backtest
and full fits alike) on the left with NaN (:func:`pad_left`) and runs each recursion once
over time on arrays (series, parameter grid); a NaN day changes no state. :func:`zoom`, a
narrowing grid, stands in for statsforecast's golden-section and Nelder-Mead searches.
Censored days (NaN): the intermittent models drop them, as :func:`~.models.sba` does; ETS
and Theta set each to the same weekday a week earlier (:func:`fill_censored`, the
seasonal-naive value), which keeps the weekly phase. The orchestrator clips forecasts at 0.
"""

from __future__ import annotations

import math
import time
from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from replenishment.forecast.models import (
    Failed,
    Fitted,
    History,
    Horizon,
    Job,
    Model,
    ModelContext,
    Outcome,
    Prediction,
    register,
    residual_sigma,
)
from replenishment.forecast.series import FloatArray

BoolArray = npt.NDArray[np.bool_]
Pair = tuple[FloatArray, FloatArray]
Loss = Callable[[FloatArray], FloatArray]
#: float64, or float32 where a grid search needs no more
Floats = npt.NDArray[np.floating[Any]]
Batch = Pair  # (means (series, steps), in-sample sigmas (series,))
BatchFn = Callable[[Sequence[FloatArray], int], Batch]
SEASON = 7
#: norm.ppf(0.95): Theta's one-sided 90% seasonality test (statsforecast ``auto_theta``)
Z95 = 1.6448536269514722
#: series per batched recursion; longer runs are cut, shortest series first
CHUNK = 512
TSB_ALPHA = 0.1
#: weight of Theta's initial level start y_0 / 2 against the squared errors' curvature
RIDGE = 1e-4
#: zoom rounds of ETS's (alpha, gamma) searches, each followed by a refit of the
#: initial states; the second starts from the first's, a decade either side
ETS_ROUNDS = (5, 3)


def pad_left(rows: Sequence[FloatArray]) -> FloatArray:
    """The rows left-padded with NaN to the longest (at least one column).

    >>> pad_left([np.array([1.0, 2.0]), np.array([3.0])])
    array([[ 1.,  2.],
           [nan,  3.]])
    """
    width = max([r.size for r in rows] + [1])
    out = np.full((len(rows), width), np.nan)
    for i, row in enumerate(rows):
        if row.size:
            out[i, width - row.size :] = row
    return out


def zoom(
    loss: Loss, lo: FloatArray, hi: FloatArray, points: int = 9, rounds: int = 7
) -> FloatArray:
    """Per row, the parameters in the box [lo, hi] (rows, dims) that minimise ``loss``.

    A grid of ``points`` (odd) a dimension, then ``rounds - 1`` grids over the cells next to
    the best point. ``loss``: parameters (rows, grid, dims) -> losses (rows, grid), NaN as
    +inf. A row whose losses all tie takes the box's centre, where golden-section search
    (Kiefer 1953; statsforecast ``golden_section_ses``) stops on a tie too.

    >>> target = np.array([[0.123], [0.3]])
    >>> zoom(lambda p: (p[..., 0] - target) ** 2, np.full((2, 1), 0.1), np.full((2, 1), 0.3)).round(5)
    array([[0.123],
           [0.3  ]])
    """
    rows, dims = lo.shape
    axis = np.linspace(0.0, 1.0, points)
    mesh = np.stack(np.meshgrid(*[axis] * dims, indexing="ij"), -1).reshape(-1, dims)
    box_lo, box_hi, point = lo.copy(), hi.copy(), lo.copy()
    for _ in range(rounds):
        grid = box_lo[:, None, :] + (box_hi - box_lo)[:, None, :] * mesh[None]
        value = np.nan_to_num(loss(grid), nan=np.inf)
        best = np.where(value.max(axis=1) <= value.min(axis=1), mesh.shape[0] // 2, value.argmin(1))
        point = grid[np.arange(rows), best]
        step = (box_hi - box_lo) / (points - 1)
        box_lo, box_hi = np.maximum(point - step, lo), np.minimum(point + step, hi)
    return np.round(point, 12)


def fill_censored(y: FloatArray) -> FloatArray:
    """``y`` with each censored (NaN) day set to the same weekday a week earlier; in the
    first week, to the mean of the observed days (0 with none).

    >>> fill_censored(np.array([np.nan, 1, 2, 3, 4, 5, 6, 7, np.nan, np.nan]))
    array([4., 1., 2., 3., 4., 5., 6., 7., 1., 2.])
    """
    out = np.asarray(y, dtype=float).copy()
    missing = np.flatnonzero(np.isnan(out))
    if missing.size == 0:
        return out
    observed = out[~np.isnan(out)]
    head = missing[missing < SEASON]
    out[head] = observed.mean() if observed.size else 0.0
    for i in missing[missing >= SEASON].tolist():
        out[i] = out[i - SEASON]
    return out


def _columns(x: FloatArray) -> Pair:
    """(x with NaN as 0, 1.0 where observed), transposed to (time, rows, 1) for the loops."""
    valid = ~np.isnan(x)
    x0 = np.where(valid, x, 0.0)
    return np.ascontiguousarray(x0.T)[:, :, None], np.ascontiguousarray(valid.T)[:, :, None] * 1.0


def ses_pass(
    x: FloatArray, alpha: FloatArray, keep: bool = False
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """SES of each row of ``x`` (NaN days skipped) for each ``alpha`` (rows, grid): l_0 = the
    row's first value, l_t = l_{t-1} + alpha (x_t - l_{t-1}) (Brown 1959; FPP3 section 8.1;
    statsforecast ``ses_sse``, ``ses_forecast``). Returns (sum of squared one-step errors,
    final level = the forecast, one-step fitted values (rows, time) for grid 1 if ``keep``).

    >>> sse, level, _ = ses_pass(np.array([[2.0, 4.0, 4.0]]), np.array([[0.5]]))
    >>> float(sse[0, 0]), float(level[0, 0])
    (5.0, 3.5)
    """
    xs, valid = _columns(x)
    first = np.nan_to_num(x[np.arange(x.shape[0]), np.argmax(~np.isnan(x), axis=1)])
    level = np.broadcast_to(first[:, None], alpha.shape).copy()
    sse = np.zeros(alpha.shape)
    fitted = np.full(x.shape, np.nan) if keep else None
    err = np.empty(alpha.shape)
    for t in range(x.shape[1]):
        if fitted is not None:
            fitted[:, t] = level[:, 0]
        np.subtract(xs[t], level, out=err)
        err *= valid[t]
        sse += err * err
        level += alpha * err
    return sse, level, fitted


def ses_optimal(x: FloatArray) -> Pair:
    """SES of each row with its alpha in [0.1, 0.3] of least squared one-step error
    (statsforecast ``_optimized_ses_forecast``): (forecast (rows,), fitted (rows, time)).

    >>> forecast, _ = ses_optimal(np.array([[1.0, 3.0]]))
    >>> float(forecast[0])
    1.4
    """
    bounds = np.full((x.shape[0], 1), 0.1), np.full((x.shape[0], 1), 0.3)
    alpha = zoom(lambda p: ses_pass(x, p[..., 0])[0], *bounds)
    _, level, fitted = ses_pass(x, alpha, keep=True)
    assert fitted is not None
    return level[:, 0], fitted


def seasonal_indices(x: FloatArray, multiplicative: BoolArray) -> FloatArray:
    """Weekly indices (rows, 7) of the classical decomposition, column c being weekday
    c % 7: trend = centred 7-day moving average, the ratio (``multiplicative`` rows) or
    difference to it averaged per weekday, normalised to mean 1 (or 0). Kendall & Stuart
    (1983); statsmodels ``seasonal_decompose``, as statsforecast's Theta and ETS use it.

    >>> seasonal_indices(np.tile(np.arange(1.0, 8.0), (1, 3)), np.array([False]))
    array([[-3., -2., -1.,  0.,  1.,  2.,  3.]])
    """
    rows, width = x.shape
    if width < SEASON:
        return np.where(multiplicative[:, None], 1.0, np.zeros((rows, SEASON)))
    valid = ~np.isnan(x)
    sums = np.pad(np.cumsum(np.where(valid, x, 0.0), axis=1), ((0, 0), (1, 0)))
    counts = np.pad(np.cumsum(valid, axis=1), ((0, 0), (1, 0)))
    half = SEASON // 2
    trend = np.full(x.shape, np.nan)
    window = counts[:, SEASON:] - counts[:, :-SEASON]
    moving = (sums[:, SEASON:] - sums[:, :-SEASON]) / SEASON
    trend[:, half : width - half] = np.where(window == SEASON, moving, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        detrended = np.where(multiplicative[:, None], x / trend, x - trend)
    ok = np.isfinite(detrended)
    detrended = np.where(ok, detrended, 0.0)
    phase = np.arange(width) % SEASON
    total = np.stack([detrended[:, phase == p].sum(1) for p in range(SEASON)], 1)
    count = np.stack([ok[:, phase == p].sum(1) for p in range(SEASON)], 1)
    avg = total / np.maximum(count, 1)
    mean = avg.mean(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(multiplicative[:, None], avg / mean, avg - mean), dtype=float)


def seasonality_test(x: FloatArray) -> BoolArray:
    """Rows of two weeks or more with |r_7| > 1.645 sqrt((1 + 2 sum_{k<7} r_k^2) / n), r_k
    the lag-k autocorrelation (Bartlett's variance; the test before Theta of Hyndman &
    Billah 2003 and statsforecast ``auto_theta``).

    >>> week = np.tile([1.0, 1, 1, 1, 1, 5, 9], 8)
    >>> seasonality_test(np.stack([week, np.arange(56.0) % 3]))
    array([ True, False])
    """
    valid = ~np.isnan(x)
    n = valid.sum(axis=1)
    mean = np.where(valid, x, 0.0).sum(1) / np.maximum(n, 1)
    dev = np.where(valid, x - mean[:, None], 0.0)
    width = x.shape[1]
    lags = range(min(SEASON, width - 1) + 1)
    acov = np.stack([(dev[:, k:] * dev[:, : width - k]).sum(1) for k in lags], 1)
    acov /= np.maximum(n, 1)[:, None]
    if acov.shape[1] <= SEASON:
        return np.zeros(x.shape[0], dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(acov[:, :1] > 0, acov[:, 1:] / acov[:, :1], 0.0)
    stat = np.sqrt((1 + 2 * (r[:, :-1] ** 2).sum(1)) / np.maximum(n, 1))
    return np.asarray((np.abs(r[:, -1]) / stat > Z95) & (n >= 2 * SEASON))


def _sigmas(ys: Sequence[FloatArray], fitted: FloatArray) -> FloatArray:
    """:func:`~.models.residual_sigma` of each series and its one-step fitted values."""
    width = fitted.shape[1]
    return np.array(
        [residual_sigma(y, f[width - y.size :]) for y, f in zip(ys, fitted, strict=True)]
    )


def _ets_pass(
    x: FloatArray, alpha: Floats, gamma: Floats, init: Pair, keep: bool = False
) -> tuple[Floats, Floats, Floats, Floats | None]:
    """ETS(A,N,A) over the rows of ``x`` for each (alpha, gamma) (rows, grid) from the
    initial level (rows, grid) and weekly states (7, rows, grid), slot c % 7 for column c:
    (sum of squared errors (NaN where gamma > 1 - alpha), final level, final states, the
    one-step errors (time, rows, grid) when ``keep``). Hyndman et al. (2008), table 2.3:
    e_t = y_t - l_{t-1} - s_{t-7}, l_t = l_{t-1} + alpha e_t, s_t = s_{t-7} + gamma e_t.
    """
    xs, valid = (a.astype(alpha.dtype) for a in _columns(x))
    level = np.broadcast_to(init[0], alpha.shape).astype(alpha.dtype)
    season = np.broadcast_to(init[1], (SEASON, *alpha.shape)).astype(alpha.dtype)
    sse = np.zeros_like(alpha)
    errors = np.empty((x.shape[1], *alpha.shape), alpha.dtype) if keep else None
    ready = int(np.argmax(~np.isnan(x), axis=1).max(initial=0))  # no padding from here on
    for t in range(x.shape[1]):
        s = season[t % SEASON]
        err = xs[t] - level - s
        if t < ready:
            err *= valid[t]
        if errors is not None:
            errors[t] = err
        sse += err * err
        level += alpha * err
        s += gamma * err
    return np.where(gamma <= 1 - alpha, sse, np.nan), level, season, errors


#: offsets of the initial (level, 7 weekly states) probed by :func:`_ets_initial`: none,
#: the level, and each of the first six states against the seventh (the sum stays 0)
_PROBES = np.vstack([np.zeros(8), np.eye(8)[0], np.eye(8)[1:7] - np.eye(8)[7]])


def _ets_initial(
    x: FloatArray, params: FloatArray, init: Pair
) -> tuple[Pair, FloatArray, FloatArray, FloatArray]:
    """The initial states of least squared error for the rows' (alpha, gamma) ``params``:
    the errors are linear in them, so one pass from ``init`` and 7 probes gives the
    least-squares fit (statsforecast's ETS fits them by Nelder-Mead with the parameters).
    Returns (those initial states: level (rows,), states (rows, 7); final level (rows,),
    final states (7, rows), fitted values (rows, time))."""
    level0 = init[0][:, None] + _PROBES[:, 0]
    season0 = init[1].T[:, :, None] + _PROBES[:, 1:].T[:, None, :]
    alpha, gamma = np.repeat(params[:, :1], 8, axis=1), np.repeat(params[:, 1:], 8, axis=1)
    _, level, season, errors = _ets_pass(x, alpha, gamma, (level0, season0), True)
    assert errors is not None
    slope = errors[:, :, :1] - errors[:, :, 1:]
    gram = np.einsum("tsk,tsl->skl", slope, slope)
    ridge = 1e-9 * (1 + np.trace(gram, axis1=1, axis2=2))[:, None, None] * np.eye(7)
    target = np.einsum("tsk,ts->sk", slope, errors[:, :, 0])[:, :, None]
    step = np.linalg.solve(gram + ridge, target)[:, :, 0]
    shift = np.concatenate([1 - step.sum(1, keepdims=True), step], axis=1)
    best = np.einsum("tsk,sk->st", errors, shift)
    fitted = np.where(np.isnan(x), np.nan, x - best)
    start = shift @ _PROBES
    initial = (init[0] + start[:, 0], init[1] + start[:, 1:])
    return initial, (level * shift).sum(1), (season * shift).sum(2), fitted


def ets(ys: Sequence[FloatArray], steps: int) -> Batch:
    """ETS(A,N,A), additive Holt-Winters without trend, season 7 (Hyndman et al. 2008, ch.
    2; forecast l_n + s_{n+h-7k}), as statsforecast's ``AutoETS(7, model="ANA")``, which
    AutoETS(7) picks among all ETS models by AICc: (means, in-sample sigmas). alpha in
    [1e-4, 0.9999] and gamma in [1e-4, 1 - alpha] minimise the squared errors on a log grid
    (:func:`zoom`) from statsforecast's ``initstate`` (additive classical decomposition,
    :func:`seasonal_indices`, from two weeks; level the mean of the first 14 adjusted days),
    then the initial states are refitted by least squares (:func:`_ets_initial`).

    >>> mean, sigma = ets([np.tile(np.arange(1.0, 8.0), 4)], 9)
    >>> mean.round(9), sigma.round(9)
    (array([[1., 2., 3., 4., 5., 6., 7., 1., 2.]]), array([0.]))
    """
    x = pad_left([fill_censored(y) for y in ys])
    rows, width = x.shape
    n = (~np.isnan(x)).sum(axis=1)
    season = seasonal_indices(x, np.zeros(rows, bool))
    season = np.where((n >= 2 * SEASON)[:, None], np.nan_to_num(season), 0.0)
    adjusted = x - season[:, np.arange(width) % SEASON]
    level = [
        np.mean(a[width - k :][: 2 * SEASON]) if k else 0.0
        for a, k in zip(adjusted, n, strict=True)
    ]
    init = (np.array(level), season)
    lo, hi = np.full((rows, 2), -4.0), np.full((rows, 2), math.log10(0.9999))
    sse, means, fits = [], [], []
    for rounds in ETS_ROUNDS:

        def loss(p: FloatArray, start: Pair = init) -> FloatArray:
            grid = (10**p).astype(np.float32)  # float32: enough to rank grid points
            both = (start[0][:, None], start[1].T[:, :, None])
            return _ets_pass(x, grid[..., 0], grid[..., 1], both)[0].astype(float)

        best = zoom(loss, lo, hi, points=5, rounds=rounds)
        init, last, states, fitted = _ets_initial(x, 10**best, init)
        sse.append(np.nansum((x - fitted) ** 2, axis=1))
        means.append(last[:, None] + states[(width + np.arange(steps)) % SEASON].T)
        fits.append(fitted)
        lo, hi = np.maximum(best - 1, lo), np.minimum(best + 1, hi)
    pick = np.argmin(sse, axis=0), np.arange(rows)  # a later search may miss a point
    return np.asarray(means)[pick], _sigmas(ys, np.asarray(fits)[pick])


def _theta_pass(
    x: FloatArray, alpha: FloatArray, trend: Pair, anchor: FloatArray, keep: bool = False
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray | None]:
    """Theta's state space (theta = 2; Fiorucci et al. 2016, eq. 3; statsforecast STM) for
    each alpha (rows, grid): forecast l_{t-1} + (A_n q^t + B_n (1 - q^{t+1}) / alpha) / 2
    (q = 1 - alpha, ``trend`` = (A_n, B_n)), l_t = alpha y_t + q l_{t-1}. l_0 is profiled
    out: l_t = L_t + q^{t+1} l_0 (L from 0), the error r_t - q^t l_0, the best l_0 a
    least-squares ratio with a ridge of :data:`RIDGE` towards ``anchor`` (statsforecast's
    start y_0 / 2). Returns (sum of squared errors from t = 3 on, l_0, L_n, q^n, fitted
    values less q^t l_0 if ``keep``)."""
    xs, valid = _columns(x)
    start = np.argmax(~np.isnan(x), axis=1)[:, None]
    ready = int(start.max(initial=0)) + 3
    q = 1 - alpha
    k0 = 0.5 * trend[1][:, None] / alpha
    k1 = 0.5 * (trend[0][:, None] - trend[1][:, None] * q / alpha)
    level, power = np.zeros(alpha.shape), np.ones(alpha.shape)
    srw, srr = np.zeros(alpha.shape), np.zeros(alpha.shape)
    fitted = np.full(x.shape, np.nan) if keep else None
    for t in range(x.shape[1]):
        base = level + k0 + power * k1
        if fitted is not None:
            fitted[:, t] = base[:, 0]
        r = xs[t] - base
        if t < ready:  # a row's padding, or its first 3 days: out of the sum
            r *= valid[t] * (t - start >= 3)
        srw += r * power
        srr += r * r
        if t < ready:  # the states wait for a row's first day
            level += valid[t] * alpha * (xs[t] - level)
            power += valid[t] * (power * q - power)
        else:
            level += alpha * (xs[t] - level)
            power *= q
    terms = np.maximum(x.shape[1] - start - 3, 0)  # sum of q^(2t), t = 3 .. n - 1
    sww = q**6 * (1 - q ** (2 * terms)) / (1 - q * q)
    l0 = (srw + RIDGE * anchor[:, None]) / (sww + RIDGE)
    return srr - 2 * l0 * srw + l0 * l0 * sww, l0, level, power, fitted


def _linear_trend(x: FloatArray) -> Pair:
    """(A_n, B_n): the least-squares line of each row on t = 1..n (statsforecast STM)."""
    valid = ~np.isnan(x)
    n = valid.sum(axis=1).astype(float)
    t = np.cumsum(valid, axis=1)
    mean = np.where(valid, x, 0.0).sum(1) / np.maximum(n, 1)
    weighted = np.where(valid, x * t, 0.0).sum(1) / np.maximum(n, 1)
    slope = 6 * (2 * weighted - (n + 1) * mean) / np.maximum(n * n - 1, 1)
    return mean - (n + 1) * slope / 2, slope


def theta(ys: Sequence[FloatArray], steps: int) -> Batch:
    """The standard Theta method with weekly seasonal adjustment, as statsforecast's
    ``Theta(season_length=7)``: (means (rows, steps), in-sample sigmas (rows,)).

    Rows passing :func:`seasonality_test` are divided by their multiplicative indices
    (:func:`seasonal_indices`; additive when a day is 0 or an index < 0.01); then SES
    with drift half the slope B_n of the linear trend (Assimakopoulos & Nikolopoulos 2000;
    Hyndman & Billah 2003, eq. 4): alpha in [0.1, 0.99] and l_0 minimise the squared
    one-step errors; the forecast is re-seasonalised with the last week's indices.

    >>> mean, _ = theta([np.arange(1.0, 21.0)], 3)
    >>> mean.round(3)
    array([[20.495, 20.995, 21.495]])
    """
    x = pad_left([fill_censored(y) for y in ys])
    rows, width = x.shape
    seasonal = seasonality_test(x)
    positive = np.nan_to_num(np.nanmin(np.where(np.isnan(x), np.inf, x), axis=1)) > 0
    mult = seasonal & positive & (seasonal_indices(x, positive).min(axis=1) >= 0.01)
    index = seasonal_indices(x, mult)
    add = np.nan_to_num(np.where((seasonal & ~mult)[:, None], index, 0.0))
    scale = np.nan_to_num(np.where(mult[:, None], index, 1.0), nan=1.0)
    phase = np.arange(width) % SEASON
    adjusted = (x - add[:, phase]) / scale[:, phase]
    trend = _linear_trend(adjusted)
    start = np.argmax(~np.isnan(x), axis=1)
    anchor = np.nan_to_num(adjusted[np.arange(rows), start]) / 2
    box = np.full((rows, 1), 0.1), np.full((rows, 1), 0.99)
    alpha = zoom(lambda p: _theta_pass(adjusted, p[..., 0], trend, anchor)[0], *box, rounds=5)
    _, l0, level, power, base = _theta_pass(adjusted, alpha, trend, anchor, keep=True)
    assert base is not None
    t = np.arange(width)[None, :] - start[:, None]
    fitted = (base + (1 - alpha) ** np.maximum(t, 0) * l0) * scale[:, phase] + add[:, phase]
    a, b, q = trend[0][:, None], trend[1][:, None], 1 - alpha
    level, mean = level + power * l0, np.empty((rows, steps))
    for h in range(steps):
        mean[:, h : h + 1] = level + 0.5 * (a * power + b * (1 - power * q) / alpha)
        level, power = alpha * mean[:, h : h + 1] + q * level, power * q
    future = (width + np.arange(steps)) % SEASON
    return mean * scale[:, future] + add[:, future], _sigmas(ys, fitted)


def tsb(
    ys: Sequence[FloatArray], steps: int, alpha_d: float = TSB_ALPHA, alpha_p: float = TSB_ALPHA
) -> Batch:
    """Teunter, Syntetos & Babai (2011), eqs. 3-5: every day the demand probability
    p_t = p_{t-1} + alpha_p (o_t - p_{t-1}) (o_t = 1 on a day with demand), on demand days
    the size z_t = z_{t-1} + alpha_d (y_t - z_{t-1}); forecast p_n z_n. p_0 is the first
    day's o, z_0 the first demand (statsforecast ``TSB``): (means, in-sample sigmas).

    >>> mean, _ = tsb([np.array([0.0, 3.0, np.nan, 0.0, 3.0])], 2)
    >>> mean.round(12)
    array([[0.543, 0.543]])
    """
    obs = [y[~np.isnan(y)] for y in ys]  # censored days dropped, as sba does
    x = pad_left(obs)
    rows = x.shape[0]
    sizes = pad_left([y[y > 0] for y in obs])
    xs, valid = _columns(x)
    p = np.nan_to_num(x[np.arange(rows), np.argmax(~np.isnan(x), axis=1)] != 0) * 1.0
    z = np.nan_to_num(sizes[np.arange(rows), np.argmax(~np.isnan(sizes), axis=1)])
    fitted = np.full(x.shape, np.nan)
    for t in range(x.shape[1]):
        y, v = xs[t, :, 0], valid[t, :, 0]
        fitted[:, t] = p * z
        p += v * alpha_p * ((y != 0) - p)
        z += (y > 0) * alpha_d * (y - z)
    return np.repeat((p * z)[:, None], steps, axis=1), _sigmas(obs, fitted)


def _intervals_mean(y: FloatArray) -> float:
    """Mean interval between demands, the first counted from the start (1 without)."""
    nz = np.flatnonzero(y != 0)
    return float(nz[-1] + 1) / nz.size if nz.size else 1.0


def _aggregated(obs: Sequence[FloatArray], levels: Sequence[int]) -> Pair:
    """Forecast of each series' ``level``-day bucket sums by :func:`ses_optimal`, per day,
    and the one-step fitted values spread over each bucket's days (rows, longest)."""
    sums = [y[y.size % k :].reshape(-1, k).sum(axis=1) for y, k in zip(obs, levels, strict=True)]
    forecast, fitted = ses_optimal(pad_left(sums))
    width = max([y.size for y in obs] + [1])
    daily = np.full((len(obs), width), np.nan)
    for i, (k, s) in enumerate(zip(levels, sums, strict=True)):
        if s.size:
            daily[i, width - s.size * k :] = np.repeat(fitted[i, -s.size :] / k, k)
    return forecast / np.asarray(levels, dtype=float), daily


def adida(ys: Sequence[FloatArray], steps: int) -> Batch:
    """ADIDA (Nikolopoulos et al. 2011): sum the demand over buckets of k = round(mean
    interval between demands) days (dropping the first n mod k days), forecast the sums
    by SES with its alpha in [0.1, 0.3], and divide by k (statsforecast ``ADIDA``).

    >>> mean, _ = adida([np.array([0.0, 2.0, 0.0, 2.0, 0.0, 4.0])], 1)
    >>> mean.round(6)
    array([[1.2]])
    """
    obs = [y[~np.isnan(y)] for y in ys]  # censored days dropped, as sba does
    levels = [max(1, round(_intervals_mean(y))) for y in obs]
    mean, fitted = _aggregated(obs, levels)
    return np.repeat(mean[:, None], steps, axis=1), _sigmas(obs, fitted)


def imapa(ys: Sequence[FloatArray], steps: int) -> Batch:
    """IMAPA (Petropoulos & Kourentzes 2015): the mean of the ADIDA forecasts over every
    bucket size 1..round(mean interval between demands) (statsforecast ``IMAPA``); its
    fitted values are the mean of theirs.

    >>> mean, _ = imapa([np.array([0.0, 2.0, 0.0, 2.0, 0.0, 4.0])], 1)
    >>> mean.round(6)
    array([[1.41903]])
    """
    obs = [y[~np.isnan(y)] for y in ys]  # censored days dropped, as sba does
    top = np.array([max(1, round(_intervals_mean(y))) for y in obs])
    total, count = np.zeros(len(obs)), np.zeros(len(obs))
    width = max([y.size for y in obs] + [1])
    fit_sum, fit_count = np.zeros((len(obs), width)), np.zeros((len(obs), width))
    for k in range(1, int(top.max(initial=1)) + 1):
        rows = np.flatnonzero(top >= k)
        mean, fitted = _aggregated([obs[i] for i in rows], [k] * rows.size)
        total[rows] += mean
        count[rows] += 1
        ok = ~np.isnan(fitted)
        fit_sum[rows, -fitted.shape[1] :] += np.where(ok, fitted, 0.0)
        fit_count[rows, -fitted.shape[1] :] += ok
    with np.errstate(invalid="ignore"):
        fitted_mean = fit_sum / fit_count
    mean = total / np.maximum(count, 1)
    return np.repeat(mean[:, None], steps, axis=1), _sigmas(obs, fitted_mean)


# --------------------------------------------------------------------------- models


def run_batched(fn: BatchFn, ys: Sequence[FloatArray], steps: int) -> Batch:
    """``fn`` over ``ys`` in chunks of :data:`CHUNK` series of similar length (little
    padding), results in the order of ``ys``; a non-finite input gives non-finite outputs
    (:meth:`_BatchedModel.forecast_many` fails its job) without warnings."""
    means, sigmas = np.empty((len(ys), steps)), np.empty(len(ys))
    order = np.argsort([y.size for y in ys], kind="stable")
    for lo in range(0, len(ys), CHUNK):
        rows = order[lo : lo + CHUNK]
        with np.errstate(invalid="ignore", over="ignore"):
            means[rows], sigmas[rows] = fn([ys[i] for i in rows], steps)
    return means, sigmas


class _BatchedModel(Model):
    """A model fitted in batches (:meth:`batch`): an instance's fit + predict is a batch of
    one, :meth:`forecast_many` one batch of all the call's fits (backtests too), or, if
    that raises, one series at a time (each error its own job's :class:`Failed`)."""

    @staticmethod
    @abstractmethod
    def batch(ys: Sequence[FloatArray], steps: int) -> Batch:
        """(means (series, steps), in-sample sigmas (series,)) of ``ys``."""

    def fit(self, history: History) -> None:
        self._y = np.asarray(history.y, dtype=float)

    def predict(self, horizon: Horizon) -> Prediction:
        mean, sigma = run_batched(self.batch, [self._y], len(horizon.dates))
        return Prediction(mean[0], float(sigma[0]))

    @classmethod
    def forecast_many(cls, jobs: Sequence[Job], context: ModelContext) -> list[Outcome]:
        started = time.perf_counter()
        fits = [
            [*([job.holdout] if job.holdout else []), (job.history, job.horizon)] for job in jobs
        ]
        flat = [fit for pairs in fits for fit in pairs]
        steps = max([len(horizon.dates) for _, horizon in flat] + [1])
        try:
            means, sigmas = run_batched(cls.batch, [np.asarray(h.y, float) for h, _ in flat], steps)
        except Exception:  # one series at a time: each error is its own job's
            return super().forecast_many(jobs, context)
        share = (time.perf_counter() - started) / max(len(flat), 1)
        rows = zip(means, sigmas, flat, strict=True)
        preds = [Prediction(m[: len(z.dates)], float(s)) for m, s, (_, z) in rows]
        outcomes: list[Outcome] = []
        for job, pairs in zip(jobs, fits, strict=True):
            mine, preds = preds[: len(pairs)], preds[len(pairs) :]
            seconds = share * len(mine)
            if all(np.isfinite(p.mean).all() and math.isfinite(p.in_sample_sigma) for p in mine):
                outcomes.append(Fitted(mine[0] if job.holdout else None, mine[-1], seconds))
            else:
                outcomes.append(Failed(FloatingPointError(f"{cls.name}: not finite"), seconds))
        return outcomes


def _model(name: str, fn: BatchFn, doc: str) -> type[_BatchedModel]:
    """A registered :class:`_BatchedModel` named ``name`` whose batch is ``fn``."""
    body = {"name": name, "batch": staticmethod(fn), "__doc__": doc, "__module__": __name__}
    return register(type(f"{name.title()}Model", (_BatchedModel,), body))


EtsModel = _model("ets", ets, "Smooth demand: ETS(A,N,A), weekly seasonality (:func:`ets`).")
ThetaModel = _model("theta", theta, "Smooth demand: Theta, weekly-adjusted (:func:`theta`).")
TsbModel = _model("tsb", tsb, "Intermittent demand: TSB, alphas 0.1 (:func:`tsb`).")
AdidaModel = _model("adida", adida, "Intermittent demand: ADIDA (:func:`adida`).")
ImapaModel = _model("imapa", imapa, "Intermittent demand: IMAPA (:func:`imapa`).")
