"""Report: the comparison table printed after a simulation.

Lives here: :func:`format_report`. May import ``config``, ``kpis``.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass

import pandas as pd

from replenishment.simulate.config import ALL_CLASSES, BASELINES
from replenishment.simulate.kpis import SimulationResult

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- bars, report


@dataclass(frozen=True)
class Bar:
    name: str
    value: str
    met: bool


def evaluate_bars(summary: pd.DataFrame) -> list[Bar]:
    """The issue's bars on a summary (all SKUs and smooth SKUs of the pipeline policy).

    1. mean |cycle service level - target| over smooth SKUs <= 2 percentage points
       (the mean signed gap is reported; the bar is on its absolute value);
    2. pipeline fill rate >= 97 %;
    3. against the better baseline (higher fill rate; ties: less inventory), at equal or
       better fill rate: >= 30 % fewer stock-out days or >= 20 % less average inventory
       (value at unit cost).
    """
    total = summary[summary["demand_class"] == ALL_CLASSES].set_index("policy")
    bars: list[Bar] = []
    smooth = summary[(summary["policy"] == "pipeline") & (summary["demand_class"] == "smooth")]
    if len(smooth):
        gap = float(smooth["service_level_gap"].iloc[0]) * 100
        bars.append(
            Bar(
                "smooth SKUs: cycle service level within 2 pp of target",
                f"{float(smooth['cycle_service_level'].iloc[0]):.1%} vs target "
                f"{float(smooth['target_service_level'].iloc[0]):.1%} (mean gap {gap:+.1f} pp)",
                bool(abs(gap) <= 2.0),
            )
        )
    if "pipeline" not in total.index:
        return bars
    pipe = total.loc["pipeline"]
    bars.append(
        Bar(
            "pipeline fill rate >= 97%",
            f"{float(pipe['fill_rate']):.2%}",
            bool(pipe["fill_rate"] >= 0.97),
        )
    )
    present = [b for b in BASELINES if b in total.index]
    if present:
        ranked = sorted(
            present,
            key=lambda b: (
                -float(total.loc[b, "fill_rate"]),
                float(total.loc[b, "avg_inventory_value"]),
            ),
        )
        best = total.loc[ranked[0]]
        so = _change(float(pipe["stockout_days"]), float(best["stockout_days"]))
        inv = _change(float(pipe["avg_inventory_value"]), float(best["avg_inventory_value"]))
        fill_ok = float(pipe["fill_rate"]) >= float(best["fill_rate"]) - 1e-12
        bars.append(
            Bar(
                f"vs better baseline ({ranked[0]}): >= 30% fewer stock-out days or >= 20% "
                "less inventory, at equal or better fill rate",
                f"stock-out days {so:+.0%}, avg inventory {inv:+.0%}, fill rate "
                f"{float(pipe['fill_rate']):.2%} vs {float(best['fill_rate']):.2%}",
                bool(fill_ok and (so <= -0.30 or inv <= -0.20)),
            )
        )
    return bars


def _change(value: float, reference: float) -> float:
    if reference == 0:
        return 0.0 if value == 0 else math.inf
    return value / reference - 1.0


def format_report(result: SimulationResult) -> str:
    """The comparison table (per demand class) and the bars, as printed by ``main``."""
    cfg = result.config
    s = result.summary
    skus = int(s.loc[(s["demand_class"] == ALL_CLASSES), "skus"].iloc[0]) if len(s) else 0
    head = (
        f"replay {cfg.start} .. {cfg.end - dt.timedelta(days=1)} ({cfg.days} days), {skus} SKUs, "
        f"policy {cfg.settings.policy}, {cfg.demand_mode}, refit every {cfg.refit_every} days "
        f"(forecasts {result.forecast_seconds:.0f}s, replay {result.replay_seconds:.0f}s); "
        f"run_id {cfg.key}"
    )
    columns = [
        ("class", 12, "<"),
        ("policy", 12, "<"),
        ("SKUs", 4, ">"),
        ("CSL", 6, ">"),
        ("target", 6, ">"),
        ("gap pp", 6, ">"),
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
            "n/a" if pd.isna(row.service_level_gap) else f"{row.service_level_gap * 100:+.1f}",
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
    lines.append("")
    lines.append("bars:")
    for bar in evaluate_bars(s):
        lines.append(f"  [{'met' if bar.met else 'NOT met'}] {bar.name}: {bar.value}")
    return "\n".join(lines)


def _pct(x: float) -> str:
    return "n/a" if pd.isna(x) else f"{x * 100:.1f}%"
