"""A deterministic demo warehouse: the five source tables of the contract plus ``demo_truth``.

``generate(engine, DemoSpec(...))`` invents a catalogue of SKUs, their true daily
demand (trend, weekly and yearly seasonality, public holidays, promotions, four
demand patterns), simulates a store that replenishes them with an (s, S) rule
under noisy supplier lead times, and writes what such a store's systems would
hold: sales lines (censored by stock-outs), end-of-day stock, purchase orders and
promotions, past and planned. The parameters behind every SKU go to
``demo_truth`` (documented in ``include/sql/create_demo_truth.sql``) so that a
forecaster can be checked against what really drove the data.

Everything is drawn from ``numpy.random.Generator(PCG64(...))`` seeded by
``DemoSpec.seed``: the same spec gives the same rows on every database. The work
is vectorised over SKUs, which are processed in blocks of ``_SKU_BLOCK`` to bound
memory; only the inventory simulation loops, over days.

Day indices: day 0 is the first day of history, day ``n_days - 1`` is
``end_date``; the run date of the demo is ``end_date + 1`` (day ``n_days``).
"""

from replenishment.demo.generate import generate, main
from replenishment.demo.spec import (
    PATTERNS,
    SOURCE_TABLES,
    TRUTH_HORIZON_DAYS,
    TRUTH_TABLE,
    DemoSpec,
)

__all__ = [
    "PATTERNS",
    "SOURCE_TABLES",
    "TRUTH_HORIZON_DAYS",
    "TRUTH_TABLE",
    "DemoSpec",
    "generate",
    "main",
]
