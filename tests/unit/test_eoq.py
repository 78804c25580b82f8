"""Unit tests of replenishment.eoq: Snyder & Shen Example 3.1 and the degenerate cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from replenishment import policy
from replenishment.eoq import eoq, eoq_annual_cost, eoq_with_moq


def test_eoq_snyder_shen_example_3_1() -> None:
    # Snyder & Shen, Fundamentals of Supply Chain Theory, 2nd ed., Example 3.1:
    # K = 8, h = 0.225, lambda = 1300 -> Q* = 304.0467800264368, g* = 68.41052550594829
    # (the values of stockpyl's economic_order_quantity doctest).
    assert eoq(1300, 8, 0.225) == pytest.approx(304.0467800264368, rel=1e-12)
    assert eoq_annual_cost(304.0467800264368, 1300, 8, 0.225) == pytest.approx(
        68.41052550594829, rel=1e-12
    )


def test_eoq_minimises_annual_cost() -> None:
    q_star = float(eoq(1300, 8, 0.225))
    grid = np.linspace(0.5 * q_star, 2.0 * q_star, 301)
    costs = np.asarray(eoq_annual_cost(grid, 1300, 8, 0.225))
    assert costs.min() >= float(eoq_annual_cost(q_star, 1300, 8, 0.225)) - 1e-12


def test_eoq_matches_policy_semantics() -> None:
    a = np.array([1000.0, 0.0, 1000.0, -5.0, np.nan, 3650.0])
    k = np.array([100.0, 100.0, 100.0, 100.0, 100.0, 0.0])
    h = np.array([10.0, 10.0, 0.0, 10.0, 10.0, 0.5])
    np.testing.assert_array_equal(np.asarray(eoq(a, k, h)), np.asarray(policy.eoq(a, k, h)))
    assert np.isnan(np.asarray(eoq(a, k, h))[4])


def test_eoq_with_moq() -> None:
    lots = np.asarray(
        eoq_with_moq([1300, 1300, 0, 1300, np.nan], [8, 8, 8, 0, 8], 0.225, [100, 500, 500, 50, 1])
    )
    assert lots[0] == pytest.approx(math.sqrt(2 * 8 * 1300 / 0.225))
    assert lots[1] == 500.0  # EOQ 304 below the MOQ
    assert lots[2] == 0.0  # no demand, no lot
    assert lots[3] == 50.0  # demand without an ordering cost: the MOQ alone
    assert np.isnan(lots[4])
