"""Report: the comparison table printed after a simulation.

Lives here: :func:`format_report`. May import ``config``, ``kpis``.
"""

from __future__ import annotations

import datetime as dt
import logging

import pandas as pd

from replenishment.simulate.config import ALL_CLASSES, SimulationConfig
from replenishment.simulate.kpis import SimulationResult

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- report


def format_report(result: SimulationResult) -> str:
    """The comparison table per demand class and policy, as printed by ``main``: figures
    only (the acceptance bars are ``scripts/simulation_bars.py``)."""
    cfg = result.config
    s = result.summary
    skus = int(s.loc[(s["demand_class"] == ALL_CLASSES), "skus"].iloc[0]) if len(s) else 0
    head = (
        f"replay {cfg.start} .. {cfg.end - dt.timedelta(days=1)} ({cfg.days} days), {skus} SKUs, "
        f"policy {cfg.settings.policy}, {cfg.demand_mode}, refit every {cfg.refit_every} days "
        f"(forecasts {result.forecast_seconds:.0f}s, replay {result.replay_seconds:.0f}s); "
        f"run_id {cfg.key}"
    )
    scenarios = _scenarios(cfg)
    if scenarios:
        head += f"\nscenario: {scenarios}"
    head += (
        "\nCSL: cycle service level per review cycle; |gap| pp: mean over SKUs of "
        "|CSL - target|; signed pp: mean of CSL - target (over- and under-shoot cancel); "
        "lot-bound: SKUs whose smallest order (MOQ, pack) exceeds 2 review periods of demand, "
        "ctrl pp: signed pp over the other SKUs, whose service the policy's level sets; "
        "+/- pp: its binomial standard error at the targets (the noise of ctrl pp)"
    )
    columns = [
        ("class", 12, "<"),
        ("policy", 12, "<"),
        ("SKUs", 4, ">"),
        ("CSL", 6, ">"),
        ("target", 6, ">"),
        ("|gap| pp", 8, ">"),
        ("signed pp", 9, ">"),
        ("lot-bound", 9, ">"),
        ("ctrl pp", 7, ">"),
        ("+/- pp", 6, ">"),
        ("fill", 6, ">"),
        ("SO days", 7, ">"),
        ("avg inv u", 9, ">"),
        ("avg inv $", 10, ">"),
        ("turns", 5, ">"),
        ("orders", 6, ">"),
        ("units", 9, ">"),
        ("holding $", 10, ">"),
        ("ordering $", 10, ">"),
        ("total $", 10, ">"),
    ]
    lines = [head, "  ".join(f"{name:{align}{width}}" for name, width, align in columns)]
    previous = None
    for row in s.itertuples(index=False):
        if previous is not None and row.demand_class != previous:
            lines.append("")
        previous = row.demand_class
        cells = [
            row.demand_class,
            row.policy,
            f"{row.skus:d}",
            _pct(row.cycle_service_level),
            _pct(row.target_service_level),
            _pp(row.service_level_abs_gap, "{:.1f}"),
            _pp(row.service_level_gap, "{:+.1f}"),
            f"{row.lot_bound_skus:d}",
            _pp(row.controlled_service_level_gap, "{:+.1f}"),
            _pp(row.controlled_gap_std_error, "{:.1f}"),
            _pct(row.fill_rate),
            f"{row.stockout_days:d}",
            f"{row.avg_on_hand:,.0f}",
            f"{row.avg_inventory_value:,.0f}",
            "n/a" if pd.isna(row.inventory_turns) else f"{row.inventory_turns:.1f}",
            f"{row.orders:d}",
            f"{row.units_ordered:,.0f}",
            f"{row.holding_cost:,.0f}",
            f"{row.ordering_cost:,.0f}",
            f"{row.total_cost:,.0f}",
        ]
        lines.append(
            "  ".join(
                f"{cell:{align}{width}}"
                for cell, (_, width, align) in zip(cells, columns, strict=True)
            )
        )
    return "\n".join(lines)


def _scenarios(cfg: SimulationConfig) -> str:
    parts = []
    if cfg.supplier_delay_days:
        parts.append(f"suppliers {cfg.supplier_delay_days} days later than their receipts")
    if cfg.stale_lead_time_days:
        parts.append(
            f"master data {cfg.stale_lead_time_days} days shorter than the suppliers deliver"
        )
    if cfg.shocked:
        parts.append(
            f"demand x {cfg.demand_shock_factor:g} from day {cfg.demand_shock_day} "
            f"({cfg.date(cfg.demand_shock_day)})"
        )
    return "; ".join(parts)


def _pp(x: float, fmt: str) -> str:
    return "n/a" if pd.isna(x) else fmt.format(x * 100)


def _pct(x: float) -> str:
    return "n/a" if pd.isna(x) else f"{x * 100:.1f}%"
