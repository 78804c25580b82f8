"""Unit tests of replenishment.loss_functions, .fill_rate and .empirical_loss.

Golden values name their source: stockpyl's tests and doctests (L. V. Snyder's implementation
of Snyder & Shen, *Fundamentals of Supply Chain Theory*, 2nd ed., 2019), the book's
examples, and Silver-Pyke-Thomas's normal loss table. Reference values computed here by
brute-force summation over the pmf say so.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from replenishment import policy
from replenishment.empirical_loss import empirical_expected_shortage, empirical_quantile
from replenishment.fill_rate import (
    order_up_to_for_cycle_service_nb,
    order_up_to_for_fill_rate_nb,
    order_up_to_for_fill_rate_normal,
    reorder_point_for_fill_rate_normal,
    rs_expected_shortage_nb,
    rs_expected_shortage_normal,
    rs_fill_rate_nb,
    rs_fill_rate_normal,
    sq_expected_shortage_normal,
    sq_fill_rate_normal,
)
from replenishment.loss_functions import (
    K_MAX,
    K_MIN,
    k_for_fill_rate,
    nb_cdf,
    nb_expected_shortage,
    nb_parameters,
    nb_pmf,
    nb_quantile,
    normal_expected_shortage,
    normal_loss,
    normal_loss_inverse,
    normal_second_loss,
)

# stockpyl tests/test_loss_functions.py, TestStandardNormalLoss, and the doctest of
# standard_normal_loss (Snyder & Shen (C.22)).
G_PUBLISHED = {
    -1.4: 1.436668142708465,
    0.3: 0.266761242117210,
    1.3: 0.04552796208651397,
    3.1: 2.672490952231408e-04,
}
# stockpyl TestNegativeBinomialLoss: NB with mean 23.33, sd 8.819 (r = 10, p = 0.3) and mean
# 15, sd 6.124 (r = 10, p = 0.4), checked there to 4 places.
NB_A = (23.333333333333336, 8.819171036881968**2)
NB_B = (15.0, 6.123724356957944**2)


def _brute_loss(level: float, pmf: np.ndarray, support: np.ndarray) -> float:
    return float(np.sum(np.maximum(support - level, 0.0) * pmf))


def _nb_pmf_table(mean: float, var: float, top: int) -> tuple[np.ndarray, np.ndarray]:
    support = np.arange(top + 1, dtype=float)
    if var > mean:
        r, p = mean**2 / (var - mean), mean / var
        return support, stats.nbinom.pmf(support, r, p)
    return support, stats.poisson.pmf(support, mean)


# --- golden values ---------------------------------------------------------------------


def test_standard_normal_loss_published_values() -> None:
    ks = np.array(list(G_PUBLISHED))
    np.testing.assert_allclose(np.asarray(normal_loss(ks)), list(G_PUBLISHED.values()), rtol=1e-12)
    # Silver-Pyke-Thomas normal loss table (4 decimals), as in tests/unit/test_policy.py
    np.testing.assert_allclose(
        np.asarray(normal_loss([0.0, 1.0, 2.0])), [0.3989, 0.0833, 0.0085], atol=1e-4
    )


def test_second_order_normal_loss_published_value() -> None:
    # stockpyl doctest of standard_normal_second_loss(1.3) (Snyder & Shen (C.27))
    assert normal_second_loss(1.3) == pytest.approx(0.01880706693657111, rel=1e-12)


def test_normal_loss_with_mean_and_sd_published_values() -> None:
    # stockpyl TestNormalLoss and the normal_loss doctest (Snyder & Shen (C.31))
    levels, means, sds = [11.0, 10.5, 18.6], [8.0, 15.0, 15.0], [3.0, 5.0, 3.0]
    expected = [0.249946411763059, 5.002155685433356, 0.1683073521514889]
    got = np.asarray(normal_expected_shortage(levels, means, sds))
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_negative_binomial_loss_published_values() -> None:
    got = np.asarray(nb_expected_shortage([14, 28], *NB_A))
    np.testing.assert_allclose(got, [9.740089476453932, 1.805485505752903], atol=5e-5)
    assert nb_expected_shortage(10, *NB_B) == pytest.approx(5.533809274622726, abs=5e-5)
    # stockpyl doctest negative_binomial_loss(14, 4, 0.2): r = 4, p = 0.2, mean 16, var 80
    assert nb_expected_shortage(14, 16, 80) == pytest.approx(4.447304632028365, rel=1e-9)


def test_poisson_loss_published_values() -> None:
    # var = mean: the Poisson branch. stockpyl TestDiscreteLoss / TestPoissonLoss.
    got = np.asarray(nb_expected_shortage([220, 5, 11], [200, 7, 7], [200, 7, 7]))
    np.testing.assert_allclose(
        got, [0.536005857158494, 2.292599516747219, 0.102799704109245], atol=5e-5
    )


def test_poisson_quantile_textbook_examples() -> None:
    # Snyder & Shen Example 4.7: Poisson(6) demand, h = 1, p = 4: S* = 8 (critical ratio 0.8);
    # stockpyl newsvendor_poisson(0.18, 0.70, 50) doctest: S* = 56.
    assert nb_quantile(4 / (1 + 4), 6, 6) == 8.0
    assert nb_quantile(0.70 / (0.18 + 0.70), 50, 50) == 56.0


def test_negative_binomial_quantile_reference_values() -> None:
    # No textbook NB quantile example was found; the geometric law (NB with r = 1) has the
    # closed form P(X <= S) = 1 - (1 - p)^(S + 1), so S = ceil(log(1 - q) / log(1 - p)) - 1.
    p = 0.2
    mean, var = (1 - p) / p, (1 - p) / p**2
    for q in (0.5, 0.8, 0.95, 0.99):
        closed = math.ceil(math.log(1 - q) / math.log(1 - p)) - 1
        assert nb_quantile(q, mean, var) == closed
    # stockpyl's NB(r = 10, p = 0.3): the smallest S with F(S) >= q, by summing the pmf.
    support, pmf = _nb_pmf_table(*NB_A, top=400)
    cdf = np.cumsum(pmf)
    for q in (0.5, 0.9, 0.95, 0.99):
        assert nb_quantile(q, *NB_A) == float(np.argmax(cdf >= q))


def test_exact_rs_fill_rate_from_published_losses() -> None:
    # (R, S) exact ESPRC = E[(D_{L+R} - S)^+] - E[(D_L - S)^+] with S = 100,
    # D_{L+R} ~ N(74, 20^2) (k = 1.3) and D_L ~ N(69, 10^2) (k = 3.1), so the two terms are
    # 20 G(1.3) and 10 G(3.1) with G from stockpyl's published values; E[D_R] = 5.
    esprc = 20 * G_PUBLISHED[1.3] - 10 * G_PUBLISHED[3.1]
    assert rs_expected_shortage_normal(100, 74, 20, 69, 10) == pytest.approx(esprc, rel=1e-12)
    assert rs_fill_rate_normal(100, 74, 20, 69, 10) == pytest.approx(1 - esprc / 5, rel=1e-12)
    # The SPT approximation drops the second term and understates the fill rate.
    assert 1 - 20 * G_PUBLISHED[1.3] / 5 < float(rs_fill_rate_normal(100, 74, 20, 69, 10))


def test_exact_rs_fill_rate_negative_binomial() -> None:
    # D_{L+R}: stockpyl's NB(10, 0.3), n(28) = 1.805485505752903 (published, 4 places);
    # D_L: NB(10, 0.4), its loss at 28 by summing the pmf.
    support, pmf = _nb_pmf_table(*NB_B, top=400)
    esprc = 1.805485505752903 - _brute_loss(28, pmf, support)
    assert rs_expected_shortage_nb(28, *NB_A, *NB_B) == pytest.approx(esprc, abs=5e-5)
    mean_r = NB_A[0] - NB_B[0]
    assert rs_fill_rate_nb(28, *NB_A, *NB_B) == pytest.approx(1 - esprc / mean_r, abs=1e-5)


def test_exact_sq_fill_rate_from_published_losses() -> None:
    # (s, Q): ESPRC = sigma_L [G(k) - G(k + Q / sigma_L)]. mean_L = 80, sigma_L = 10,
    # s = 83 (k = 0.3), Q = 10 (k + Q/sigma = 1.3).
    esprc = 10 * (G_PUBLISHED[0.3] - G_PUBLISHED[1.3])
    assert sq_expected_shortage_normal(83, 10, 80, 10) == pytest.approx(esprc, rel=1e-12)
    assert sq_fill_rate_normal(83, 10, 80, 10) == pytest.approx(1 - esprc / 10, rel=1e-12)
    # k = -1.4 and Q / sigma = 1.7 (k + Q/sigma = 0.3): s = 66, Q = 17
    esprc = 10 * (G_PUBLISHED[-1.4] - G_PUBLISHED[0.3])
    assert sq_expected_shortage_normal(66, 17, 80, 10) == pytest.approx(esprc, rel=1e-12)


# --- properties: normal ----------------------------------------------------------------


def test_normal_loss_identities() -> None:
    k = np.linspace(-4, 4, 81)
    g = np.asarray(normal_loss(k))
    assert np.all(np.diff(g) < 0)
    np.testing.assert_allclose(np.asarray(normal_loss(-k)), g + k, atol=1e-12)  # G(-k) = G(k) + k
    h = 1e-5  # dG2/dk = -G(k)
    derivative = (np.asarray(normal_second_loss(k + h)) - np.asarray(normal_second_loss(k - h))) / (
        2 * h
    )
    np.testing.assert_allclose(derivative, -g, atol=1e-7)


def test_normal_loss_and_k_for_fill_rate_match_policy() -> None:
    rng = np.random.default_rng(1)
    beta = np.concatenate([rng.uniform(0.5, 0.999, 200), [0.5, 0.9999999999, 0.95, 0.95, np.nan]])
    q = np.concatenate([rng.uniform(0, 500, 200), [100, 100, 0, 100, 100]])
    sigma = np.concatenate([rng.uniform(0, 100, 200), [10, 10, 10, 0, 10]])
    np.testing.assert_allclose(
        np.asarray(k_for_fill_rate(beta, q, sigma)),
        np.asarray(policy.k_for_fill_rate(beta, q, sigma)),
        atol=1e-12,
    )
    k = rng.normal(0, 2, 100)
    np.testing.assert_array_equal(np.asarray(normal_loss(k)), np.asarray(policy.normal_loss(k)))


def test_normal_loss_inverse_round_trip_and_clipping() -> None:
    k = np.linspace(0.0, 5.0, 41)
    np.testing.assert_allclose(np.asarray(normal_loss_inverse(normal_loss(k))), k, atol=1e-9)
    clipped = np.asarray(normal_loss_inverse([0.5, 1e-12, np.nan]))
    assert clipped[0] == K_MIN and clipped[1] == K_MAX and np.isnan(clipped[2])


def test_rs_normal_solver_meets_target() -> None:
    rng = np.random.default_rng(2)
    n = 500
    mean_l = rng.uniform(0, 500, n)
    mean_lr = mean_l + rng.uniform(1, 300, n)
    sd_l = rng.uniform(0.5, 80, n)
    sd_lr = sd_l + rng.uniform(0.1, 60, n)
    beta = rng.uniform(0.8, 0.999, n)
    s = np.asarray(order_up_to_for_fill_rate_normal(beta, mean_lr, sd_lr, mean_l, sd_l))
    fill = np.asarray(rs_fill_rate_normal(s, mean_lr, sd_lr, mean_l, sd_l))
    k = (s - mean_lr) / sd_lr
    interior = (k > K_MIN + 1e-9) & (k < K_MAX - 1e-9)
    assert interior.sum() > n // 2
    np.testing.assert_allclose(fill[interior], beta[interior], atol=1e-9)
    assert np.all(fill[k <= K_MIN + 1e-9] >= beta[k <= K_MIN + 1e-9] - 1e-9)  # cycle stock suffices
    # Exact S is never above the simple rule's S (that rule overstates the shortage).
    k_simple = np.asarray(k_for_fill_rate(beta, mean_lr - mean_l, sd_lr))
    assert np.all(s <= mean_lr + k_simple * sd_lr + 1e-6)


def test_rs_normal_solver_degenerate_cases() -> None:
    s = np.asarray(
        order_up_to_for_fill_rate_normal(
            [0.95, 0.95, np.nan, 0.95], [0, 40, 40, 40], [0, 0, 5, np.nan], [0, 20, 20, 20], 3
        )
    )
    assert s[0] == 0.0  # zero demand
    assert s[1] == 40.0  # no uncertainty: S = mean over L + R
    assert np.isnan(s[2]) and np.isnan(s[3])


def test_sq_normal_solver_meets_target_and_limits() -> None:
    rng = np.random.default_rng(3)
    n = 500
    mean_l = rng.uniform(0, 500, n)
    sd_l = rng.uniform(0.5, 80, n)
    lot = rng.uniform(1, 400, n)
    beta = rng.uniform(0.8, 0.999, n)
    s = np.asarray(reorder_point_for_fill_rate_normal(beta, lot, mean_l, sd_l))
    k = (s - mean_l) / sd_l
    interior = (k > K_MIN + 1e-9) & (k < K_MAX - 1e-9)
    assert interior.sum() > n // 4
    fill = np.asarray(sq_fill_rate_normal(s, lot, mean_l, sd_l))
    np.testing.assert_allclose(fill[interior], beta[interior], atol=1e-9)
    at_min = k <= K_MIN + 1e-9  # the lot alone meets the target
    assert at_min.any() and np.all(fill[at_min] >= beta[at_min] - 1e-9)
    # Q -> 0: the fill rate tends to Phi(k), so k = Phi^-1(beta); zero demand gives 0.
    limits = np.asarray(
        reorder_point_for_fill_rate_normal(
            [0.95, 0.95, 0.95], [0, 1e-12, 5], [0, 50, 0], [0, 10, 0]
        )
    )
    assert limits[0] == 0.0 and limits[2] == 0.0
    assert limits[1] == pytest.approx(50 + 10 * stats.norm.ppf(0.95), abs=1e-8)


# --- properties: negative binomial -----------------------------------------------------


def test_nb_parameters_and_fallbacks() -> None:
    r, p = nb_parameters([23.333333333333336, 5, 0, -1], [77.77777777777779, 3, 0, 1])
    np.testing.assert_allclose(np.asarray(r)[:1], [10.0])
    np.testing.assert_allclose(np.asarray(p)[:1], [0.3])
    assert np.isinf(np.asarray(r)[1]) and np.isinf(np.asarray(r)[2]) and np.isnan(np.asarray(r)[3])
    # var <= mean: Poisson(mean); the same quantile and loss as scipy's Poisson
    assert nb_quantile(0.9, 5, 3) == stats.poisson.ppf(0.9, 5)
    assert nb_expected_shortage(7, 5, 3) == pytest.approx(nb_expected_shortage(7, 5, 5))


def test_nb_matches_brute_force_on_random_fits() -> None:
    rng = np.random.default_rng(4)
    means = rng.uniform(0.05, 60, 40)
    variances = means * rng.choice([0.5, 1.0, 1.3, 4.0, 25.0], 40)
    for mean, var in zip(means, variances, strict=True):
        support, pmf = _nb_pmf_table(mean, var, top=int(mean + 60 * math.sqrt(var) + 50))
        cdf = np.cumsum(pmf)
        for level in (0.0, 0.4, math.floor(mean), mean + 0.5, mean + 2 * math.sqrt(var)):
            want = _brute_loss(level, pmf, support)
            assert nb_expected_shortage(level, mean, var) == pytest.approx(
                want, rel=1e-8, abs=1e-12
            )
        for q in (0.3, 0.9, 0.99):
            assert nb_quantile(q, mean, var) == float(np.argmax(cdf >= q - 1e-13))
        x = int(mean)
        assert nb_pmf(x, mean, var) == pytest.approx(pmf[x], rel=1e-9)
        assert nb_cdf(x + 0.5, mean, var) == pytest.approx(cdf[x], rel=1e-9)


def test_nb_monotone_and_bounds() -> None:
    levels = np.linspace(-3, 80, 400)
    loss = np.asarray(nb_expected_shortage(levels, *NB_A))
    assert np.all(np.diff(loss) <= 1e-12)
    assert np.all(loss >= np.maximum(NB_A[0] - levels, 0) - 1e-12)  # Jensen
    np.testing.assert_allclose(loss[levels < 0], NB_A[0] - levels[levels < 0])
    qs = np.linspace(0.01, 0.999, 200)
    quantiles = np.asarray(nb_quantile(qs, *NB_A))
    assert np.all(np.diff(quantiles) >= 0)


def test_nb_poisson_and_normal_limits() -> None:
    # var -> mean from above: NB -> Poisson
    near = nb_expected_shortage([8, 12], 10, 10 * (1 + 1e-7))
    np.testing.assert_allclose(
        np.asarray(near), np.asarray(nb_expected_shortage([8, 12], 10, 10)), rtol=1e-5
    )
    # large mean: NB -> normal with the same mean and sd; the skew, and so the gap, falls
    # like 1 / sqrt(mean)
    k = np.array([0.0, 1.0, 2.0])
    gaps = []
    for mean in (1e4, 1e6):
        sd = math.sqrt(2.25 * mean)
        nb = np.asarray(nb_expected_shortage(mean + k * sd, mean, sd**2))
        gaps.append(np.max(np.abs(nb / (sd * np.asarray(normal_loss(k))) - 1)))
        z = stats.norm.ppf([0.9, 0.95])
        np.testing.assert_allclose(
            np.asarray(nb_quantile([0.9, 0.95], mean, sd**2)), mean + z * sd, rtol=2e-3
        )
    assert gaps[1] < 0.006 and gaps[1] < gaps[0] / 5


def test_nb_degenerate_and_nan() -> None:
    assert nb_quantile(0.99, 0, 0) == 0.0
    assert nb_expected_shortage(2.5, 0, 0) == 0.0
    assert nb_expected_shortage(-2.0, 0, 0) == 2.0
    assert order_up_to_for_fill_rate_nb(0.98, 0, 0, 0, 0) == 0.0
    assert order_up_to_for_cycle_service_nb(0.98, 0, 0) == 0.0
    for value in (
        nb_quantile(np.nan, 3, 5),
        nb_quantile(0.9, np.nan, 5),
        nb_quantile(0.9, 3, np.nan),
        nb_quantile(1.0, 3, 5),
        nb_expected_shortage(np.nan, 3, 5),
        nb_expected_shortage(2, 3, np.nan),
        nb_cdf(np.nan, 3, 5),
        nb_pmf(2, np.nan, 5),
        order_up_to_for_fill_rate_nb(np.nan, 10, 20, 4, 8),
        order_up_to_for_fill_rate_nb(0.95, 10, np.nan, 4, 8),
        order_up_to_for_fill_rate_nb(0.95, 10, 20, 12, 24),  # mean over L + R below mean over L
    ):
        assert math.isnan(float(value))


def _smallest_s_by_scan(beta: float, args: tuple[float, float, float, float], top: float) -> float:
    """Linear scan over S = 0 .. top (top must meet the target)."""
    grid = np.arange(0.0, top + 1.0)
    fill = np.asarray(rs_fill_rate_nb(grid, *args))
    assert fill[-1] >= beta
    return float(np.argmax(fill >= beta))


def test_nb_fill_rate_solver_is_smallest_meeting_target() -> None:
    rng = np.random.default_rng(5)
    cases = []
    for _ in range(40):
        mean_l = rng.uniform(0.05, 40)
        ratio = rng.uniform(1.05, 8)  # var / mean
        mean_lr = mean_l * rng.uniform(1.1, 3)
        ratio_lr = ratio if rng.random() < 0.5 else ratio * rng.uniform(1.0, 2.0)
        cases.append((mean_lr, mean_lr * ratio_lr, mean_l, mean_l * ratio))
    beta = rng.uniform(0.8, 0.995, len(cases))
    arr = np.array(cases)
    s = np.asarray(order_up_to_for_fill_rate_nb(beta, *arr.T))
    for s_i, beta_i, case in zip(s, beta, cases, strict=True):
        assert s_i == _smallest_s_by_scan(float(beta_i), case, s_i)


def test_nb_cycle_service_solver_is_the_quantile() -> None:
    support, pmf = _nb_pmf_table(*NB_A, top=400)
    s = float(order_up_to_for_cycle_service_nb(0.95, *NB_A))
    assert np.sum(pmf[: int(s) + 1]) >= 0.95 > np.sum(pmf[: int(s)])


# --- vectorised == scalar, and 10,000 SKUs ---------------------------------------------


def _random_skus(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    mean_l = rng.gamma(0.8, 30.0, n)
    mean_r = rng.gamma(0.8, 15.0, n) + 0.01
    mean_lr = mean_l + mean_r
    dispersion = rng.uniform(0.8, 6.0, n)  # var / mean; <= 1 takes the Poisson branch
    return {
        "beta": rng.uniform(0.85, 0.995, n),
        "mean_lr": mean_lr,
        "var_lr": mean_lr * dispersion,
        "mean_l": mean_l,
        "var_l": mean_l * dispersion,
        "lot": rng.uniform(1, 300, n),
    }


def test_vectorised_equals_scalar() -> None:
    d = _random_skus(25, seed=6)
    sd_lr, sd_l = np.sqrt(d["var_lr"]), np.sqrt(d["var_l"])
    vec_nb = np.asarray(
        order_up_to_for_fill_rate_nb(d["beta"], d["mean_lr"], d["var_lr"], d["mean_l"], d["var_l"])
    )
    vec_rs = np.asarray(
        order_up_to_for_fill_rate_normal(d["beta"], d["mean_lr"], sd_lr, d["mean_l"], sd_l)
    )
    vec_sq = np.asarray(reorder_point_for_fill_rate_normal(d["beta"], d["lot"], d["mean_l"], sd_l))
    vec_q = np.asarray(nb_quantile(d["beta"], d["mean_lr"], d["var_lr"]))
    for i in range(25):
        assert (
            order_up_to_for_fill_rate_nb(
                d["beta"][i], d["mean_lr"][i], d["var_lr"][i], d["mean_l"][i], d["var_l"][i]
            )
            == vec_nb[i]
        )
        assert order_up_to_for_fill_rate_normal(
            d["beta"][i], d["mean_lr"][i], sd_lr[i], d["mean_l"][i], sd_l[i]
        ) == pytest.approx(vec_rs[i], rel=1e-12)
        assert reorder_point_for_fill_rate_normal(
            d["beta"][i], d["lot"][i], d["mean_l"][i], sd_l[i]
        ) == pytest.approx(vec_sq[i], rel=1e-12)
        assert nb_quantile(d["beta"][i], d["mean_lr"][i], d["var_lr"][i]) == vec_q[i]
    assert isinstance(nb_quantile(0.9, 3.0, 5.0), float)


def test_arrays_broadcast_against_scalars() -> None:
    # One array argument among scalars gives an array of that length, in every function.
    s = np.array([10.0, 12.0, 14.0])
    for result in (
        rs_fill_rate_normal(s, 10, 4, 6, 3),
        rs_fill_rate_nb(s, 10, 20, 6, 12),
        sq_fill_rate_normal(s, 10, 6, 3),
        nb_expected_shortage(s, 5, 9),
        nb_cdf(s, 5, 9),
        normal_expected_shortage(s, 5, 2),
        order_up_to_for_fill_rate_nb([0.9, 0.95, 0.99], 10, 20, 6, 12),
        order_up_to_for_fill_rate_normal([0.9, 0.95, 0.99], 10, 4, 6, 3),
        reorder_point_for_fill_rate_normal(0.95, s, 6, 3),
        nb_quantile([0.9, 0.95, 0.99], 5, 9),
    ):
        assert np.shape(result) == (3,)
    assert np.all(np.diff(np.asarray(rs_fill_rate_nb(s, 10, 20, 6, 12))) > 0)


def test_ten_thousand_skus_meet_their_targets() -> None:
    d = _random_skus(10_000, seed=7)
    s = np.asarray(
        order_up_to_for_fill_rate_nb(d["beta"], d["mean_lr"], d["var_lr"], d["mean_l"], d["var_l"])
    )
    assert np.all(np.isfinite(s)) and np.all(s >= 0)
    fill = np.asarray(rs_fill_rate_nb(s, d["mean_lr"], d["var_lr"], d["mean_l"], d["var_l"]))
    before = np.asarray(rs_fill_rate_nb(s - 1, d["mean_lr"], d["var_lr"], d["mean_l"], d["var_l"]))
    assert np.all(fill >= d["beta"] - 1e-12)
    assert np.all((before < d["beta"]) | (s == 0))
    q = np.asarray(nb_quantile(d["beta"], d["mean_lr"], d["var_lr"]))
    assert np.all(np.asarray(nb_cdf(q, d["mean_lr"], d["var_lr"])) >= d["beta"] - 1e-12)
    assert np.all((np.asarray(nb_cdf(q - 1, d["mean_lr"], d["var_lr"])) < d["beta"]) | (q == 0))


# --- empirical --------------------------------------------------------------------------


def test_empirical_quantile_matches_numpy_inverted_cdf() -> None:
    rng = np.random.default_rng(8)
    samples = rng.gamma(1.0, 20.0, (50, 60))
    lengths = rng.integers(1, 61, 50)
    for i, n in enumerate(lengths):
        samples[i, n:] = np.nan
    q = rng.uniform(0.05, 1.0, 50)
    got = empirical_quantile(samples, q)
    for i in range(50):
        row = samples[i, ~np.isnan(samples[i])]
        assert got[i] == np.quantile(row, q[i], method="inverted_cdf")
        level = float(got[i])
        assert empirical_expected_shortage(samples[i : i + 1], level)[0] == pytest.approx(
            float(np.mean(np.maximum(row - level, 0)))
        )


def test_empirical_shift_floor_and_edge_cases() -> None:
    errors = np.array([[-30.0, -5.0, 0.0, 12.0], [np.nan, np.nan, np.nan, np.nan]])
    forecast = np.array([20.0, 10.0])
    assert empirical_quantile(errors, 0.25, shift=forecast)[0] == 0.0  # 20 - 30 floored
    assert empirical_quantile(errors, 0.25, shift=forecast, floor_at_zero=False)[0] == -10.0
    assert empirical_quantile(errors, 1.0, shift=forecast)[0] == 32.0
    assert np.isnan(empirical_quantile(errors, 0.5)[1])  # no samples
    assert np.isnan(empirical_quantile(errors[:1], 0.0)[0])
    assert np.isnan(empirical_quantile(errors[:1], np.nan)[0])
    shortage = empirical_expected_shortage(errors, [25.0, 5.0], shift=forecast)
    assert shortage[0] == pytest.approx((0 + 0 + 0 + 7) / 4) and np.isnan(shortage[1])
    assert np.isnan(empirical_expected_shortage(errors[:1], np.nan)[0])
    with pytest.raises(ValueError, match="2-D"):
        empirical_quantile([1.0, 2.0], 0.5)


def test_integer_search_from_any_guess() -> None:
    # The galloping search finds the smallest integer meeting a monotone test whatever the
    # guess: exact, far below, far above, outside the bracket, or NaN-free extremes.
    from replenishment.loss_functions import _smallest_integer

    rng = np.random.default_rng(9)
    answer = rng.integers(0, 5000, 300).astype(float)
    lo = np.full(300, -1.0)
    hi = answer + rng.integers(0, 10**6, 300)

    def meets(s: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return s >= answer[idx]

    for guess in (answer, answer - 3000, answer + 7, np.full(300, -1e9), np.full(300, 1e12)):
        np.testing.assert_array_equal(_smallest_integer(meets, lo, hi, guess), answer)
    np.testing.assert_array_equal(_smallest_integer(meets, lo, hi), answer)
