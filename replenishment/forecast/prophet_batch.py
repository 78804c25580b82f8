"""Prophet fits of many SKUs in this process: Prophet's inputs per SKU, one batched MAP solve.

Lives here: :func:`forecast_jobs` (the Prophet model's batch hook: every job's backtest
fit, then its full fit warm-started from it, by :func:`.prophet_map.solve`; Stan for
what the solver does not cover), :func:`stan_inputs` (one SKU's Stan inputs exactly as
Prophet's ``preprocess`` builds them) and :data:`FIT_COUNTS`.
May import: numpy, pandas, :mod:`.models` (types, settings), :mod:`.prophet_features`,
:mod:`.prophet_map`; Prophet only through the Stan fallback (and for holidays frames
with windows of their own).

Prophet's features (Fourier terms, holidays) are functions of the date alone, so they
are built (as Prophet builds them, :mod:`.prophet_features`) once per feature set over
one day grid for the whole call and each SKU takes its rows; its scaling (``y / max|y|``, time from its first to its
last observed day), changepoints (25 at even quantiles of the first 80 % of its observed
days) and promotion column are its own. Predictions are ``trend * (1 + X beta) * y_scale``
(Prophet's ``predict`` without intervals).

A SKU goes to Stan (Prophet's own fit, counted in :data:`FIT_COUNTS` and logged) when
its history is constant (Prophet fits no model then), too short for a changepoint, or
the solver does not reach a verified optimum.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from replenishment.forecast import prophet_features, prophet_map
from replenishment.forecast.models import (
    YEARLY_MIN_DAYS,
    Failed,
    Fitted,
    History,
    Horizon,
    Job,
    ModelContext,
    Outcome,
    Prediction,
    new_prophet,
)

log = logging.getLogger(__name__)

#: Series solved together (larger batches use more memory and are not faster).
BATCH_SIZE = 50
N_CHANGEPOINTS = 25
CHANGEPOINT_RANGE = 0.8
#: fits in this process: "batched" (the solver), "stan" (Prophet's own) and why
FIT_COUNTS: Counter[str] = Counter()

StanRun = Callable[[Job], tuple[Prediction | None, Prediction]]
_DAY = np.timedelta64(1, "D")


@dataclass(frozen=True)
class Features:
    """Prophet's feature matrix over a day grid: x (days, K), prior scales (K,), the
    promotion column's index (None without), the changepoint prior scale."""

    first: np.datetime64
    x: np.ndarray
    sigmas: np.ndarray
    promo_column: int | None
    tau: float

    def rows(self, dates: pd.DatetimeIndex) -> np.ndarray:
        """Row positions of ``dates`` in the grid."""
        return np.asarray((dates.values.astype("datetime64[D]") - self.first) // _DAY)


def features(
    context: ModelContext, first: np.datetime64, last: np.datetime64, yearly: bool, promo: bool
) -> Features:
    """Prophet's features for every day first..last: :func:`.prophet_features.feature_matrix`
    (numpy, no Prophet import) for the run's holidays frame, Prophet's ``preprocess`` for
    a frame with windows or prior scales of its own."""
    if prophet_features.is_plain(context.holidays):
        m = prophet_features.feature_matrix(context.holidays, first, last, yearly, promo)
        return Features(first.astype("datetime64[D]"), m.x, m.sigmas, m.promo_column, m.tau)
    return _prophet_features(context, first, last, yearly, promo)


def _prophet_features(
    context: ModelContext, first: np.datetime64, last: np.datetime64, yearly: bool, promo: bool
) -> Features:
    grid = pd.date_range(first, last, freq="D")
    model = new_prophet(context.holidays, context.interval_width, yearly, promo)
    frame = pd.DataFrame({"ds": grid, "y": np.linspace(0.0, 1.0, len(grid))})
    if promo:
        frame["promo"] = np.zeros(len(grid))
    inputs = model.preprocess(frame)
    column = None
    if promo:
        column = int(np.argmax(model.train_component_cols["promo"].to_numpy()))
    s_a = np.asarray(inputs.s_a, dtype=float)
    if np.any(s_a != 0):
        raise ValueError("prophet_batch: the model has additive components; it expects none")
    return Features(
        np.datetime64(grid[0].date(), "D"),
        np.asarray(inputs.X, dtype=float),
        np.asarray(inputs.sigmas, dtype=float),
        column,
        float(inputs.tau),
    )


@dataclass(frozen=True)
class Prepared:
    """One fit's inputs: observed rows of the grid, scaled y and t, changepoints, the
    scales to undo and the future rows; ``key`` groups fits that share a feature set."""

    rows: np.ndarray
    y: np.ndarray
    t: np.ndarray
    t_change: np.ndarray
    promo: np.ndarray
    y_scale: float
    start_row: int
    t_scale_days: float
    future_rows: np.ndarray
    future_promo: np.ndarray
    key: tuple[bool, bool, int]


def prepare(history: History, horizon: Horizon, grid_first: np.datetime64) -> Prepared | str:
    """The fit's inputs as Prophet's ``preprocess`` makes them, or why the solver cannot fit it."""
    observed = ~np.isnan(history.y)
    n = int(observed.sum())
    y = history.y[observed]
    if n < 2:
        return "fewer than 2 observed days"
    if float(y.max()) == float(y.min()):
        return "constant history"
    hist_size = int(np.floor(n * CHANGEPOINT_RANGE))
    n_cp = min(N_CHANGEPOINTS, hist_size - 1)
    if n_cp < 1:
        return "too short for a changepoint"
    days = (history.dates.values.astype("datetime64[D]") - grid_first) // _DAY
    rows = np.asarray(days[observed], dtype=np.int64)
    start, span = int(rows[0]), float(rows[-1] - rows[0])
    t = (rows - start) / span
    cp = np.linspace(0, hist_size - 1, n_cp + 1).round().astype(int)[1:]
    y_scale = float(np.abs(y).max()) or 1.0
    promo = history.promo[observed].astype(float)
    use_promo = bool(promo.sum() > 0)
    future = (horizon.dates.values.astype("datetime64[D]") - grid_first) // _DAY
    return Prepared(
        rows,
        y / y_scale,
        t,
        np.sort(t[cp]),
        promo,
        y_scale,
        start,
        span,
        np.asarray(future, dtype=np.int64),
        horizon.promo.astype(float),
        (n >= YEARLY_MIN_DAYS, use_promo, n_cp),
    )


def stan_inputs(p: Prepared, f: Features) -> dict[str, object]:
    """The Stan data of fit ``p`` (what Prophet hands Stan, for :func:`.prophet_map.log_posterior`)."""
    x = _x(f, p.rows, p.promo)
    return {
        "y": p.y, "t": p.t, "t_change": p.t_change, "X": x, "sigmas": f.sigmas,
        "tau": f.tau, "s_a": np.zeros(x.shape[1]), "s_m": np.ones(x.shape[1]),
    }  # fmt: skip


def _x(f: Features, rows: np.ndarray, promo: np.ndarray) -> np.ndarray:
    x: np.ndarray = f.x[rows]
    if f.promo_column is not None:
        x[:, f.promo_column] = promo
    return x


@dataclass(frozen=True)
class Fit:
    """A solved fit: forecast (units/day) of its future rows, noise sigma (units/day),
    promotion uplift (NaN without), beta (to warm-start the next fit) and the objective."""

    mean: np.ndarray
    noise_sigma: float
    promo_uplift: float
    beta: np.ndarray
    params: dict[str, object]


def _batch(items: Sequence[Prepared], f: Features) -> prophet_map.Batch:
    lo = min(int(p.rows[0]) for p in items)
    width = max(int(p.rows[-1]) for p in items) - lo + 1
    n = len(items)
    y, w, t = np.zeros((n, width)), np.zeros((n, width)), np.zeros((n, width))
    promo = np.zeros((n, width))
    for i, p in enumerate(items):
        cols = p.rows - lo
        y[i, cols], w[i, cols], promo[i, cols] = p.y, 1.0, p.promo
        t[i] = (np.arange(lo, lo + width) - p.start_row) / p.t_scale_days
    x = np.array(f.x[lo : lo + width])
    if f.promo_column is not None:
        x[:, f.promo_column] = 0.0
    t_change = np.stack([p.t_change for p in items])
    return prophet_map.Batch(y, w, t, t_change, x, promo, f.promo_column, f.sigmas, f.tau)


def solve_group(
    items: Sequence[Prepared], f: Features, beta0: Sequence[np.ndarray | None]
) -> list[Fit | None]:
    """Fit every item (same feature set and changepoint count), batch by batch; None
    where the solver found no verified optimum."""
    out: list[Fit | None] = []
    for lo in range(0, len(items), BATCH_SIZE):
        chunk = items[lo : lo + BATCH_SIZE]
        starts = beta0[lo : lo + BATCH_SIZE]
        init = np.stack([np.zeros(f.x.shape[1]) if b is None else b for b in starts])
        try:
            sol = prophet_map.solve(_batch(chunk, f), init)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError) as exc:
            log.warning("batched Prophet solver failed on %d series (%s): Stan", len(chunk), exc)
            out.extend([None] * len(chunk))
            continue
        for i, p in enumerate(chunk):
            out.append(_fit(p, f, sol, i) if sol.converged[i] else None)
    return out


def _fit(p: Prepared, f: Features, sol: prophet_map.Solution, i: int) -> Fit:
    phi, beta = sol.phi[i], sol.beta[i]
    t_future = (p.future_rows - p.start_row) / p.t_scale_days
    g = prophet_map.trend(t_future, phi[0], phi[1], phi[2:], p.t_change)
    mean = g * (1.0 + _x(f, p.future_rows, p.future_promo) @ beta) * p.y_scale
    uplift = float(beta[f.promo_column]) if f.promo_column is not None else float("nan")
    params = {"k": phi[0], "m": phi[1], "delta": phi[2:], "beta": beta, "sigma_obs": sol.sigma[i]}
    return Fit(mean, float(sol.sigma[i]) * p.y_scale, uplift, beta, params)


class _Features:
    """Prophet's features per (yearly, promo), over one grid, built on first use."""

    def __init__(self, context: ModelContext, first: np.datetime64, last: np.datetime64):
        self.context, self.first, self.last = context, first, last
        self._built: dict[tuple[bool, bool], Features] = {}

    def get(self, yearly: bool, promo: bool) -> Features:
        key = (yearly, promo)
        if key not in self._built:
            self._built[key] = features(self.context, self.first, self.last, yearly, promo)
        return self._built[key]


def _grid(jobs: Sequence[Job]) -> tuple[np.datetime64, np.datetime64]:
    firsts = [j.history.dates.values.min() for j in jobs if len(j.history.dates)]
    lasts = [j.horizon.dates.values.max() for j in jobs if len(j.horizon.dates)]
    lasts += [j.history.dates.values.max() for j in jobs if len(j.history.dates)]
    return np.datetime64(min(firsts), "D"), np.datetime64(max(lasts), "D")


def solve_fits(
    fits: Sequence[tuple[History, Horizon]],
    grid: _Features,
    beta0: Sequence[np.ndarray | None],
) -> list[Fit | str]:
    """Each fit solved (grouped by feature set), or the reason it was not."""
    prepared = [prepare(h, z, grid.first) for h, z in fits]
    out: list[Fit | str] = [p if isinstance(p, str) else "not converged" for p in prepared]
    groups: dict[tuple[bool, bool, int], list[int]] = {}
    for i, p in enumerate(prepared):
        if not isinstance(p, str):
            groups.setdefault(p.key, []).append(i)
    for (yearly, promo, _), members in groups.items():
        f = grid.get(yearly, promo)
        k = f.x.shape[1]
        starts = [b if b is not None and b.size == k else None for b in (beta0[i] for i in members)]
        items = [prepared[i] for i in members]
        assert all(not isinstance(p, str) for p in items)
        solved = solve_group(items, f, starts)  # type: ignore[arg-type]
        for i, fit in zip(members, solved, strict=True):
            if fit is not None:
                out[i] = fit
    return out


def forecast_jobs(jobs: Sequence[Job], context: ModelContext, stan: StanRun) -> list[Outcome]:
    """One outcome per job: backtest fits batched first, then the full fits, each
    warm-started from its backtest fit's seasonal coefficients; ``stan(job)`` for the
    jobs the solver does not cover (counted in :data:`FIT_COUNTS`, logged)."""
    started = time.perf_counter()
    if not jobs:
        return []
    first, last = _grid(jobs)
    grid = _Features(context, first, last)
    with_holdout = [i for i, j in enumerate(jobs) if j.holdout is not None]
    back = solve_fits([jobs[i].holdout for i in with_holdout], grid, [None] * len(with_holdout))  # type: ignore[misc]
    backtest: dict[int, Fit | str] = dict(zip(with_holdout, back, strict=True))
    warm = [_beta(backtest.get(i)) for i in range(len(jobs))]
    full = solve_fits([(j.history, j.horizon) for j in jobs], grid, warm)
    per_job = (time.perf_counter() - started) / len(jobs)
    before = FIT_COUNTS.copy()
    outcomes = [
        _outcome(job, backtest.get(i), full[i], per_job, stan) for i, job in enumerate(jobs)
    ]
    _log_counts(FIT_COUNTS - before, len(jobs))
    return outcomes


def _log_counts(counts: Counter[str], n_jobs: int) -> None:
    reasons = {k: v for k, v in counts.items() if k.startswith("stan: ")}
    level = logging.WARNING if counts["stan"] else logging.INFO
    log.log(
        level,
        "prophet: %d SKUs, %d by the batched solver, %d by Stan %s",
        n_jobs,
        counts["batched"],
        counts["stan"],
        reasons or "",
    )


def _beta(fit: Fit | str | None) -> np.ndarray | None:
    return fit.beta if isinstance(fit, Fit) else None


def _prediction(fit: Fit) -> Prediction:
    return Prediction(fit.mean, fit.noise_sigma, fit.promo_uplift)


def _outcome(
    job: Job, back: Fit | str | None, full: Fit | str, seconds: float, stan: StanRun
) -> Outcome:
    reason = next((r for r in (back, full) if isinstance(r, str)), None)
    if reason is None:
        FIT_COUNTS["batched"] += 1
        backtest = _prediction(back) if isinstance(back, Fit) else None
        assert isinstance(full, Fit)
        return Fitted(backtest, _prediction(full), seconds)
    FIT_COUNTS["stan"] += 1
    FIT_COUNTS[f"stan: {reason}"] += 1
    log.info("SKU %s: Prophet by Stan (%s)", job.sku_id, reason)
    started = time.perf_counter()
    try:
        backtest_p, future_p = stan(job)
    except Exception as exc:  # reported per job; the orchestrator falls back
        return Failed(exc, time.perf_counter() - started)
    return Fitted(backtest_p, future_p, time.perf_counter() - started)
