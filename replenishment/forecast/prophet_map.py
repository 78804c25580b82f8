"""Prophet's MAP fit in numpy, many series at once: the objective and a batched solver.

Lives here: :func:`log_posterior` (the log density of Prophet's Stan model,
``prophet/stan_model/prophet.stan``, evaluated in numpy for one series' Stan inputs and
parameters), :class:`Batch` (the scaled inputs of several series on one padded day
grid), :func:`solve` (their MAP estimates) and :func:`trend` (the piecewise-linear trend).
May import: numpy only. The Prophet-specific preparation is :mod:`.prophet_batch`'s.

The model (Taylor & Letham 2018, eq. 1-4; linear growth, every component
multiplicative, as the project's Prophet is configured)::

    y_t ~ Normal(g_t * (1 + X_t beta), sigma)
    g_t = k t + m + sum_j delta_j max(t - c_j, 0)
    k, m ~ Normal(0, 5); delta_j ~ Laplace(0, tau); beta_i ~ Normal(0, s_i);
    sigma ~ Normal+(0, 0.5)

For fixed ``sigma`` the negative log posterior is ``RSS / (2 sigma^2)`` plus a ridge in
``(k, m, beta)`` and a lasso ``|delta|_1 / tau``; ``sigma`` is profiled out in closed
form (the positive root of ``4 sigma^4 + n sigma^2 - RSS = 0``). The solver is a
proximal Newton method: exact Hessian of the smooth part (Gauss-Newton where that is
not positive definite), the lasso sub-problem solved exactly by coordinate descent on
the changepoints after eliminating the other coefficients, a backtracking line search
on the exact objective, and a KKT check at the end. Stan's L-BFGS treats the lasso as
smooth and stops short of this optimum, so the result's log posterior is as high or
higher (checked by the tests and the benchmark).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

#: Prior scales of the trend's slope and offset and of the noise (prophet.stan).
TREND_PRIOR_SCALE = 5.0
SIGMA_PRIOR_SCALE = 0.5
MAX_ITERATIONS = 60
#: Converged when a step changes the objective by less than this, relative.
RELATIVE_TOLERANCE = 1e-13
#: Largest KKT violation accepted, relative to the data term's gradient scale.
KKT_TOLERANCE = 1e-4
#: Feature-sign rounds per changepoint, then coordinate-descent sweeps for what is left.
FEATURE_SIGN_ROUNDS = 4
CD_SWEEPS = 200


def log_posterior(
    data: dict[str, object], k: float, m: float, delta: Array, beta: Array, sigma_obs: float
) -> float:
    """Log density of prophet.stan's model (linear growth) at the given parameters.

    ``data``: the Stan inputs (``y``, ``t``, ``t_change``, ``X``, ``sigmas``, ``tau``,
    ``s_a``, ``s_m``), as Prophet's ``preprocess`` returns them. Every normalising
    constant is included (the half-normal of ``sigma_obs`` with its factor 2), no
    Jacobian (as Stan's optimizer), so two fits of the same data compare directly.
    One day, y = 0, every parameter 0 and sigma_obs 1: log N(0|0,1) for y and beta,
    log N(0|0,5) for k and m, log Laplace(0|0,1) = -log 2, log 2 N(1|0,0.5) for sigma:

    >>> d = {"y": [0.0], "t": [0.0], "t_change": [0.5], "X": [[0.0]], "sigmas": [1.0],
    ...      "tau": 1.0, "s_a": [0.0], "s_m": [1.0]}
    >>> round(log_posterior(d, 0.0, 0.0, np.zeros(1), np.zeros(1), 1.0), 6)
    -9.120421
    """
    y, t = _vec(data["y"]), _vec(data["t"])
    t_change = _vec(data["t_change"])
    x = np.asarray(data["X"], dtype=float).reshape(y.size, -1)
    s_a, s_m = _vec(data["s_a"]), _vec(data["s_m"])
    sigmas, tau = _vec(data["sigmas"]), float(data["tau"])  # type: ignore[arg-type]
    delta, beta = np.asarray(delta, dtype=float).ravel(), np.asarray(beta, dtype=float).ravel()
    g = trend(t, k, m, delta, t_change)
    mean = g * (1 + x @ (beta * s_m)) + x @ (beta * s_a)
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    lp = float(np.sum(-0.5 * ((y - mean) / sigma_obs) ** 2) - y.size * math.log(sigma_obs))
    lp -= y.size * half_log_2pi
    lp += _normal(k, TREND_PRIOR_SCALE) + _normal(m, TREND_PRIOR_SCALE)
    lp += float(np.sum(-np.abs(delta) / tau) - delta.size * math.log(2 * tau))
    lp += _normal(sigma_obs, SIGMA_PRIOR_SCALE) + math.log(2.0)
    lp += float(np.sum(-0.5 * (beta / sigmas) ** 2 - np.log(sigmas) - half_log_2pi))
    return lp


def _vec(value: object) -> Array:
    return np.asarray(value, dtype=float).ravel()


def _normal(x: float, scale: float) -> float:
    return -0.5 * (x / scale) ** 2 - math.log(scale) - 0.5 * math.log(2 * math.pi)


def trend(t: Array, k: float, m: float, delta: Array, t_change: Array) -> Array:
    """Prophet's piecewise-linear trend at scaled times ``t`` (``Prophet.piecewise_linear``).

    >>> trend(np.array([0.0, 0.5, 1.0]), 1.0, 0.0, np.array([2.0]), np.array([0.5])).tolist()
    [0.0, 0.5, 2.0]
    """
    ramps = np.maximum(t[:, None] - t_change[None, :], 0.0)
    return np.asarray(k * t + m + ramps @ delta, dtype=float)


@dataclass(frozen=True)
class Batch:
    """Scaled inputs of B series on one grid of T days (a day a series does not observe
    has weight 0). y, w, t: (B, T); t_change: (B, S); x: (T, K) the features all series
    share (the multiplicative columns; the promotion column, if any, zero); promo: (B, T)
    each series' promotion column and promo_column its index (None: none); sigmas: (K,)
    prior scales; tau: changepoint prior scale."""

    y: Array
    w: Array
    t: Array
    t_change: Array
    x: Array
    promo: Array
    promo_column: int | None
    sigmas: Array
    tau: float
    _outer: list[Array] = field(default_factory=list, repr=False, compare=False)

    @property
    def outer(self) -> Array:
        """(T, K(K+1)/2): x_tk x_tl for k <= l, the shared part of every X' diag(v) X."""
        if not self._outer:
            iu = np.triu_indices(self.x.shape[1])
            self._outer.append(np.ascontiguousarray(self.x[:, iu[0]] * self.x[:, iu[1]]))
        return self._outer[0]

    @property
    def ramps(self) -> Array:
        """(B, S+2, T): rows t, 1 and max(t - c_j, 0): the trend is linear in them."""
        r = np.maximum(self.t[:, None, :] - self.t_change[:, :, None], 0.0)
        return np.concatenate([self.t[:, None, :], np.ones_like(self.t)[:, None, :], r], axis=1)

    def seasonal(self, beta: Array) -> Array:
        """(B, T): 1 + X beta per series."""
        h = 1.0 + beta @ self.x.T
        if self.promo_column is not None:
            h += self.promo * beta[:, self.promo_column, None]
        return np.asarray(h)

    def xt_times(self, v: Array) -> Array:
        """(B, K): X' v per series, v (B, T)."""
        out = v @ self.x
        if self.promo_column is not None:
            out[:, self.promo_column] = np.sum(v * self.promo, axis=1)
        return np.asarray(out)

    def xt_v_x(self, v: Array) -> Array:
        """(B, K, K): X' diag(v) X per series, by one product with the shared outer products."""
        k = self.x.shape[1]
        iu = np.triu_indices(k)
        half = v @ self.outer
        out = np.zeros((v.shape[0], k, k))
        out[:, iu[0], iu[1]] = half
        out[:, iu[1], iu[0]] = half
        if self.promo_column is not None:
            c = self.promo_column
            col = self.xt_times(v * self.promo)
            col[:, c] = np.sum(v * self.promo * self.promo, axis=1)
            out[:, c, :] = col
            out[:, :, c] = col
        return out

    def zt_v_x(self, zt: Array, v: Array) -> Array:
        """(B, S+2, K): Z' diag(v) X per series, zt = Z' (B, S+2, T)."""
        zv = zt * v[:, None, :]
        n, p, t = zv.shape
        out = (zv.reshape(n * p, t) @ self.x).reshape(n, p, -1)
        if self.promo_column is not None:
            out[:, :, self.promo_column] = np.einsum("bpt,bt->bp", zv, self.promo)
        return out

    def subset(self, idx: npt.NDArray[np.intp]) -> Batch:
        """The series ``idx`` of this batch."""
        return Batch(
            self.y[idx], self.w[idx], self.t[idx], self.t_change[idx], self.x,
            self.promo[idx], self.promo_column, self.sigmas, self.tau, self._outer,
        )  # fmt: skip


@dataclass(frozen=True)
class Solution:
    """MAP estimates per series: phi (B, S+2) = (k, m, delta), beta (B, K), sigma (B,),
    the negative log posterior without constants (B,), iterations used and whether the
    KKT conditions hold (False: the caller must not use that series' fit)."""

    phi: Array
    beta: Array
    sigma: Array
    objective: Array
    iterations: int
    converged: npt.NDArray[np.bool_]


@dataclass
class _State:
    """The iterate of a solve: phi, beta; z is Z' (B, S+2, T) of :attr:`Batch.ramps`."""

    b: Batch
    z: Array
    phi: Array
    beta: Array

    def fit(self, phi: Array, beta: Array) -> tuple[Array, Array]:
        g = np.matmul(phi[:, None, :], self.z)[:, 0, :]
        return g, self.b.seasonal(beta)

    def objective(self, phi: Array, beta: Array) -> tuple[Array, Array]:
        """(negative log posterior with sigma profiled out, sigma), per series."""
        g, h = self.fit(phi, beta)
        rss = np.sum(self.b.w * (self.b.y - g * h) ** 2, axis=1)
        n = np.sum(self.b.w, axis=1)
        sigma2 = (-n + np.sqrt(n * n + 16.0 * rss)) / 8.0
        sigma2 = np.maximum(sigma2, 1e-300)
        f = rss / (2 * sigma2) + 0.5 * n * np.log(sigma2) + 2.0 * sigma2
        f += (phi[:, 0] ** 2 + phi[:, 1] ** 2) / (2 * TREND_PRIOR_SCALE**2)
        f += np.sum(np.abs(phi[:, 2:]), axis=1) / self.b.tau
        f += np.sum((beta / self.b.sigmas) ** 2, axis=1) / 2
        return f, np.sqrt(sigma2)


def initial_trend(b: Batch, beta: Array) -> Array:
    """(B, S+2) start: (k, m) by weighted least squares of y on (1 + X beta)(k t + m), delta 0."""
    h = b.seasonal(beta)
    u, v = h * b.t, h
    a11 = np.sum(b.w * u * u, axis=1)
    a12 = np.sum(b.w * u * v, axis=1)
    a22 = np.sum(b.w * v * v, axis=1)
    r1, r2 = np.sum(b.w * u * b.y, axis=1), np.sum(b.w * v * b.y, axis=1)
    det = a11 * a22 - a12 * a12
    det = np.where(np.abs(det) > 1e-300, det, 1.0)
    phi = np.zeros((b.y.shape[0], b.t_change.shape[1] + 2))
    phi[:, 0] = (a22 * r1 - a12 * r2) / det
    phi[:, 1] = (a11 * r2 - a12 * r1) / det
    return phi


def solve(b: Batch, beta0: Array | None = None) -> Solution:
    """MAP of every series of ``b``; ``beta0`` (B, K): seasonal coefficients to start
    from (a warm start; zeros otherwise), the trend starts from least squares."""
    n_series, k_features = b.y.shape[0], b.x.shape[1]
    beta = np.zeros((n_series, k_features)) if beta0 is None else np.array(beta0, dtype=float)
    s = _State(b, b.ramps, initial_trend(b, beta), beta)
    f, sigma = s.objective(s.phi, s.beta)
    active = np.ones(n_series, dtype=bool)
    iterations = 0
    while active.any() and iterations < MAX_ITERATIONS:
        iterations += 1
        idx = np.flatnonzero(active)
        sub = _subset(s, idx)
        phi, beta, f_new, sig = _newton_step(sub, f[idx], sigma[idx])
        small = np.abs(f[idx] - f_new) <= RELATIVE_TOLERANCE * np.maximum(np.abs(f_new), 1.0)
        s.phi[idx], s.beta[idx], f[idx], sigma[idx] = phi, beta, f_new, sig
        active[idx[small]] = False
    converged = _kkt_ok(s, sigma) & ~active
    return Solution(s.phi, s.beta, sigma, f, iterations, converged)


def _subset(s: _State, idx: npt.NDArray[np.intp]) -> _State:
    if idx.size == s.phi.shape[0]:
        return _State(s.b, s.z, s.phi.copy(), s.beta.copy())
    return _State(s.b.subset(idx), s.z[idx], s.phi[idx], s.beta[idx])


def _gradient_hessian(s: _State, sigma: Array, exact: bool) -> tuple[Array, Array]:
    """Gradient (B, P) and Hessian (B, P, P) of the smooth part at (phi, beta), sigma fixed;
    parameter order (k, m, delta, beta)."""
    b, zt = s.b, s.z
    g, h = s.fit(s.phi, s.beta)
    yhat = g * h
    scale = b.w / (sigma**2)[:, None]
    r = scale * (b.y - yhat)
    grad = np.concatenate(
        [-np.matmul(zt, (r * h)[:, :, None])[:, :, 0], -b.xt_times(r * g)],
        axis=1,
    )
    grad[:, :2] += s.phi[:, :2] / TREND_PRIOR_SCALE**2
    p = zt.shape[1]
    grad[:, p:] += s.beta / b.sigmas**2
    h_pp = np.matmul(zt * (scale * h * h)[:, None, :], np.swapaxes(zt, 1, 2))
    h_kk = b.xt_v_x(scale * g * g)
    cross = scale * (2 * yhat - b.y) if exact else scale * yhat
    h_pk = b.zt_v_x(zt, cross)
    top = np.concatenate([h_pp, h_pk], axis=2)
    bottom = np.concatenate([np.swapaxes(h_pk, 1, 2), h_kk], axis=2)
    hess = np.concatenate([top, bottom], axis=1)
    diag = np.zeros(hess.shape[1])
    diag[:2] = 1 / TREND_PRIOR_SCALE**2
    diag[p:] = 1 / b.sigmas**2
    hess += np.diag(diag)[None]
    return grad, hess


def _newton_step(s: _State, f: Array, sigma: Array) -> tuple[Array, Array, Array, Array]:
    """One proximal Newton step with backtracking: (phi, beta, objective, sigma)."""
    grad, hess = _gradient_hessian(s, sigma, exact=True)
    theta = np.concatenate([s.phi, s.beta], axis=1)
    target = _proximal_target(theta, grad, hess, s)
    bad = ~np.all(np.isfinite(target), axis=1)
    if bad.any():  # not positive definite there: Gauss-Newton's Hessian instead
        grad_gn, hess_gn = _gradient_hessian(s, sigma, exact=False)
        target[bad] = _proximal_target(theta[bad], grad_gn[bad], hess_gn[bad], s, bad)
    direction = target - theta
    p = s.phi.shape[1]
    best_f, best_sigma = f.copy(), sigma.copy()
    best = theta.copy()
    pending = np.ones(f.size, dtype=bool)
    step = 1.0
    for _ in range(30):
        cand = theta + step * direction
        f_c, sig_c = s.objective(cand[:, :p], cand[:, p:])
        take = pending & np.isfinite(f_c) & (f_c <= f)
        best[take], best_f[take], best_sigma[take] = cand[take], f_c[take], sig_c[take]
        pending &= ~take
        if not pending.any():
            break
        step /= 2
    return best[:, :p], best[:, p:], best_f, best_sigma


def _proximal_target(
    theta: Array, grad: Array, hess: Array, s: _State, rows: npt.NDArray[np.bool_] | None = None
) -> Array:
    """argmin_u  grad.(u - theta) + (u - theta)' hess (u - theta) / 2 + |u_delta|_1 / tau.

    The coefficients without a lasso (k, m, beta) are eliminated (Schur complement), the
    changepoints solved by coordinate descent, the rest back-substituted. Rows whose
    Hessian is not positive definite come back as NaN.
    """
    n_changepoints = s.phi.shape[1] - 2
    d_idx = np.arange(2, 2 + n_changepoints)
    f_idx = np.r_[0, 1, np.arange(2 + n_changepoints, theta.shape[1])]
    c = np.einsum("bpq,bq->bp", hess, theta) - grad
    h_ff = hess[:, f_idx][:, :, f_idx]
    h_fd = hess[:, f_idx][:, :, d_idx]
    h_dd = hess[:, d_idx][:, :, d_idx]
    out = np.full_like(theta, np.nan)
    ok = np.ones(theta.shape[0], dtype=bool)
    try:
        chol: Array = np.asarray(np.linalg.cholesky(h_ff), dtype=float)
    except np.linalg.LinAlgError:
        chol, ok = _cholesky_rows(h_ff)
    solve_rhs = np.concatenate([h_fd, c[:, f_idx, None]], axis=2)
    sol = _chol_solve(chol[ok], solve_rhs[ok])
    q = h_dd[ok] - np.matmul(np.swapaxes(h_fd[ok], 1, 2), sol[:, :, :-1])
    lin = c[ok][:, d_idx] - np.einsum("bfd,bf->bd", h_fd[ok], sol[:, :, -1])
    pd_ok = np.all(np.linalg.eigvalsh(q) > 0, axis=1) if q.shape[1] else np.ones(len(q), bool)
    u_d = lasso_cd(q, lin, 1.0 / s.b.tau, theta[ok][:, d_idx])
    u_f = sol[:, :, -1] - np.einsum("bfd,bd->bf", sol[:, :, :-1], u_d)
    res = np.empty((int(ok.sum()), theta.shape[1]))
    res[:, f_idx], res[:, d_idx] = u_f, u_d
    res[~pd_ok] = np.nan
    out[ok] = res
    return out


def _cholesky_rows(a: Array) -> tuple[Array, npt.NDArray[np.bool_]]:
    chol = np.zeros_like(a)
    ok = np.ones(a.shape[0], dtype=bool)
    for i in range(a.shape[0]):
        try:
            chol[i] = np.linalg.cholesky(a[i])
        except np.linalg.LinAlgError:
            ok[i] = False
    return chol, ok


def _chol_solve(chol: Array, rhs: Array) -> Array:
    """Solve (L L') x = rhs for each row's lower factor L."""
    y = np.linalg.solve(chol, rhs)
    return np.asarray(np.linalg.solve(np.swapaxes(chol, 1, 2), y))


def lasso_cd(q: Array, lin: Array, lam: float, start: Array) -> Array:
    """argmin_u u' q u / 2 - lin.u + lam |u|_1 per row, q positive definite, from ``start``.

    Feature-sign search (Lee, Battle, Raina & Ng 2007, algorithm 1): solve exactly on a
    support with fixed signs; where a sign would flip, stop at the first zero crossing and
    drop that coefficient; where the signs hold, add the coefficient that violates the
    optimality condition most. Rows it leaves unfinished get cyclic coordinate descent
    (Friedman, Hastie & Tibshirani 2010, eq. 5).

    >>> lasso_cd(np.array([[[2.0]]]), np.array([[3.0]]), 1.0, np.zeros((1, 1))).tolist()
    [[1.0]]
    """
    u = np.array(start, dtype=float)
    signs = np.sign(u)
    todo = np.arange(u.shape[0])
    rows = np.arange(u.shape[0])
    for _ in range(FEATURE_SIGN_ROUNDS * max(u.shape[1], 1)):
        if todo.size == 0:
            return u
        qs, ls, us, ss = q[todo], lin[todo], u[todo], signs[todo]
        x, grad = _on_support(qs, ls, lam, ss)
        on = ss != 0
        flips = on & (np.sign(x) != ss)
        viol = np.where(on, -np.inf, np.abs(grad) - lam)
        tol = 1e-9 * (lam + np.max(np.abs(ls), axis=1))
        done = ~flips.any(axis=1) & (viol.max(axis=1, initial=-np.inf) <= tol)
        grow = ~flips.any(axis=1) & ~done
        us[done | grow] = x[done | grow]
        j = np.argmax(viol, axis=1)
        ss[grow, j[grow]] = np.sign(grad[grow, j[grow]])
        shrink = flips.any(axis=1)
        if shrink.any():
            step = np.where(flips, us / np.where(us - x == 0, 1.0, us - x), np.inf)[shrink]
            first = np.argmin(step, axis=1)
            alpha = np.clip(step[np.arange(first.size), first], 0.0, 1.0)[:, None]
            moved = us[shrink] + alpha * (x[shrink] - us[shrink])
            moved[np.arange(first.size), first] = 0.0
            us[shrink] = moved
            sub = ss[shrink]
            sub[np.arange(first.size), first] = 0.0
            ss[shrink] = sub
        u[todo], signs[todo] = us, ss
        todo = todo[~done]
    rows = todo
    return _coordinate_descent(q, lin, lam, u, rows)


def _on_support(q: Array, lin: Array, lam: float, signs: Array) -> tuple[Array, Array]:
    """The minimiser with ``signs`` fixed (0: held at 0), and lin - q x there."""
    on = signs != 0
    both = on[:, :, None] & on[:, None, :]
    eye = np.broadcast_to(np.eye(signs.shape[1]), q.shape)
    rhs = np.where(on, lin - lam * signs, 0.0)
    x = np.linalg.solve(np.where(both, q, eye), rhs[:, :, None])[:, :, 0]
    return x, lin - np.einsum("bij,bj->bi", q, x)


def _coordinate_descent(
    q: Array, lin: Array, lam: float, u: Array, rows: npt.NDArray[np.intp]
) -> Array:
    qs, ls, us = q[rows], lin[rows], u[rows]
    ds = np.einsum("bjj->bj", qs)
    for _ in range(CD_SWEEPS):
        for j in range(us.shape[1]):
            z = ls[:, j] - np.sum(qs[:, j] * us, axis=1) + ds[:, j] * us[:, j]
            us[:, j] = np.sign(z) * np.maximum(np.abs(z) - lam, 0.0) / ds[:, j]
    u[rows] = us
    return u


def _kkt_ok(s: _State, sigma: Array) -> npt.NDArray[np.bool_]:
    """Whether the first-order conditions hold: zero gradient of the smooth part for
    (k, m, beta); for each changepoint |grad| <= 1/tau at 0, grad = -sign/tau elsewhere."""
    grad, _ = _gradient_hessian(s, sigma, exact=False)
    lam = 1.0 / s.b.tau
    n_cp = s.phi.shape[1] - 2
    g_d, d = grad[:, 2 : 2 + n_cp], s.phi[:, 2:]
    viol_d = np.where(d == 0, np.maximum(np.abs(g_d) - lam, 0.0), np.abs(g_d + lam * np.sign(d)))
    free = np.concatenate([grad[:, :2], grad[:, 2 + n_cp :]], axis=1)
    worst = np.maximum(np.max(np.abs(free), axis=1), np.max(viol_d, axis=1, initial=0.0))
    return np.asarray(worst <= KKT_TOLERANCE * max(lam, 1.0))
