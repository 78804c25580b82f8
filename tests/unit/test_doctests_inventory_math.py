"""Run the worked-example doctests of the inventory-math modules in the ordinary suite.

pyproject's pytest configuration collects ``tests/`` only, so ``--doctest-modules`` would
otherwise be needed to check the textbook examples in the docstrings.
"""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from replenishment import empirical_loss, eoq, fill_rate, loss_functions


@pytest.mark.parametrize(
    "module", [loss_functions, fill_rate, empirical_loss, eoq], ids=lambda m: m.__name__
)
def test_module_doctests_pass(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
