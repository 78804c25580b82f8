"""Acceptance bars of issue 14 on a simulation summary, each printed PASS or FAIL.

The simulator prints figures only; whether they meet the bars is judged here, on the
rows of ``inventory_simulation_summary`` (policy x demand class) of one run::

    replenishment simulate ... --summary-csv summary.csv
    python scripts/simulation_bars.py --csv summary.csv [--scenario late]
    python scripts/simulation_bars.py --url sqlite:///.data/warehouse.db --run-id RUN_ID

Bars (the pipeline policy; ``late`` = suppliers delivering later than the master data):

1. every demand class (smooth, erratic, intermittent, lumpy) within 1.5 percentage points
   of its target cycle service level (2 pp late): the class's gap
   ``controlled_service_level_gap`` (mean achieved minus target cycle service level per
   review cycle over its SKUs that are not lot-bound) taken in absolute value, and their
   mean over the classes printed beside (never a signed mean over classes, where one
   class's overshoot hides another's shortfall). Beside each class gap its binomial
   standard error ``controlled_gap_std_error`` is printed (the noise a policy that holds
   every target exactly would show: a class of 8 SKUs with 24 review cycles each at 95 %
   carries 1.6 pp), so a reader can tell a shortfall from a draw; the bar is judged on
   the gap. A lot-bound SKU (its smallest order, max(MOQ, pack), exceeds 2 review
   periods of its demand) holds more than its level after every order whatever the
   level: the supplier's lot, not the policy, sets its service, and the policy already
   orders the smallest lot there is. Its gap is printed beside (the class gap over all
   SKUs, with the count of lot-bound ones). The
   mean absolute per-SKU gap ``service_level_abs_gap`` is printed too: with 12 to 26
   review cycles per SKU in 180 days its binomial noise alone is 3 to 5 pp, so it says
   how uneven the SKUs are, not whether the policy holds its target;
2. fill rate over all SKUs >= 98 % (97 % late);
3. against the ``spreadsheet`` baseline, at equal or better fill rate: at least 15 % less
   average inventory (value at unit cost) or at least 30 % fewer stock-out days.

Exit status 0 when every bar passes, 1 otherwise, 2 on unusable input.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

CLASSES = ("smooth", "erratic", "intermittent", "lumpy")
#: scenario -> (max mean absolute gap, percentage points; min fill rate)
LIMITS = {"on_time": (1.5, 0.98), "late": (2.0, 0.97)}
BASELINE = "spreadsheet"
LESS_INVENTORY = 0.15
FEWER_STOCKOUT_DAYS = 0.30


@dataclass(frozen=True)
class Bar:
    """One acceptance criterion: what it asks, the figures it was judged on, the verdict."""

    name: str
    value: str
    passed: bool


def _row(summary: pd.DataFrame, policy: str, demand_class: str) -> pd.Series | None:
    rows = summary[(summary["policy"] == policy) & (summary["demand_class"] == demand_class)]
    return None if rows.empty else rows.iloc[0]


def _change(value: float, reference: float) -> float:
    """Relative change of ``value`` against ``reference`` (-0.3 = 30 % less)."""
    if reference == 0:
        return 0.0 if value == 0 else math.inf
    return value / reference - 1.0


def class_bars(summary: pd.DataFrame, max_gap_pp: float) -> list[Bar]:
    """Bar 1, one per demand class: the pipeline's absolute class gap; then their mean."""
    bars = []
    gaps: list[float] = []
    for demand_class in CLASSES:
        name = f"{demand_class}: |cycle service level - target| <= {max_gap_pp:g} pp"
        row = _row(summary, "pipeline", demand_class)
        if row is None or pd.isna(row["controlled_service_level_gap"]):
            bars.append(Bar(name, "no SKU of this class the policy controls", False))
            continue
        gap = abs(float(row["controlled_service_level_gap"])) * 100
        gaps.append(gap)
        bound = int(row["lot_bound_skus"])
        noise = row.get("controlled_gap_std_error", math.nan)
        noise_text = "" if pd.isna(noise) else f" (standard error {float(noise) * 100:.1f} pp)"
        value = (
            f"{gap:.1f} pp{noise_text} over the {int(row['skus']) - bound} SKUs the level controls; "
            f"all {int(row['skus_with_cycles'])} SKUs: CSL {float(row['cycle_service_level']):.1%}"
            f" vs target {float(row['target_service_level']):.1%}, "
            f"{float(row['service_level_gap']) * 100:+.1f} pp with {bound} lot-bound; "
            f"mean |per-SKU gap| {float(row['service_level_abs_gap']) * 100:.1f} pp"
        )
        bars.append(Bar(name, value, gap <= max_gap_pp + 1e-9))
    if gaps:
        mean = sum(gaps) / len(gaps)
        name = f"mean of the absolute class gaps <= {max_gap_pp:g} pp"
        bars.append(Bar(name, f"{mean:.2f} pp", mean <= max_gap_pp + 1e-9 and len(gaps) == 4))
    return bars


def baseline_bar(pipe: pd.Series, sheet: pd.Series) -> Bar:
    """Bar 3: less inventory or fewer stock-out days than the spreadsheet, at equal or
    better fill rate."""
    inventory = _change(float(pipe["avg_inventory_value"]), float(sheet["avg_inventory_value"]))
    stockouts = _change(float(pipe["stockout_days"]), float(sheet["stockout_days"]))
    fill_ok = float(pipe["fill_rate"]) >= float(sheet["fill_rate"]) - 1e-12
    return Bar(
        f"vs {BASELINE}: >= {LESS_INVENTORY:.0%} less inventory or >= "
        f"{FEWER_STOCKOUT_DAYS:.0%} fewer stock-out days, at equal or better fill rate",
        f"avg inventory {inventory:+.0%}, stock-out days {stockouts:+.0%}, fill rate "
        f"{float(pipe['fill_rate']):.2%} vs {float(sheet['fill_rate']):.2%}",
        bool(fill_ok and (inventory <= -LESS_INVENTORY or stockouts <= -FEWER_STOCKOUT_DAYS)),
    )


def evaluate(summary: pd.DataFrame, scenario: str = "on_time") -> list[Bar]:
    """The bars of ``scenario`` (``on_time`` or ``late``) on one run's summary rows."""
    max_gap_pp, min_fill = LIMITS[scenario]
    bars = class_bars(summary, max_gap_pp)
    pipe = _row(summary, "pipeline", "all")
    if pipe is None:
        return [*bars, Bar("pipeline rows", "the summary has no pipeline row", False)]
    fill = float(pipe["fill_rate"])
    bars.append(Bar(f"fill rate >= {min_fill:.0%}", f"{fill:.2%}", fill >= min_fill))
    sheet = _row(summary, BASELINE, "all")
    if sheet is None:
        bars.append(Bar(f"vs {BASELINE}", f"the summary has no {BASELINE} row", False))
    else:
        bars.append(baseline_bar(pipe, sheet))
    return bars


def _read(args: argparse.Namespace) -> pd.DataFrame:
    if args.csv is not None:
        summary = pd.read_csv(args.csv)
        if args.run_id:
            summary = summary[summary["run_id"] == args.run_id]
        return summary
    import sqlalchemy as sa

    from replenishment.db import make_engine, schema_prefix

    engine = make_engine(args.url)
    try:
        with engine.connect() as conn:
            prefix = schema_prefix(conn, args.reporting_schema)
            return pd.read_sql_query(
                sa.text(f"SELECT * FROM {prefix}inventory_simulation_summary WHERE run_id = :r"),
                conn,
                params={"r": args.run_id},
            )
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--csv", type=Path, help="summary saved by simulate --summary-csv")
    source.add_argument("--url", help="warehouse holding inventory_simulation_summary")
    parser.add_argument("--run-id", default=None, help="the run (required with --url)")
    parser.add_argument("--reporting-schema", default="reporting")
    parser.add_argument(
        "--scenario",
        choices=sorted(LIMITS),
        default=None,
        help="default: late when the run id names a supplier delay (-late) or stale master "
        "data (-stale), else on_time",
    )
    args = parser.parse_args(argv)
    if args.url is not None and not args.run_id:
        parser.error("--run-id is required with --url")
    summary = _read(args)
    if summary.empty:
        print("simulation_bars: no summary rows", file=sys.stderr)
        return 2
    run_ids = sorted(set(summary["run_id"].astype(str)))
    if len(run_ids) > 1:
        print(f"simulation_bars: several runs {run_ids}; pick one with --run-id", file=sys.stderr)
        return 2
    late = "-late" in run_ids[0] or "-stale" in run_ids[0]
    scenario = args.scenario or ("late" if late else "on_time")
    print(f"bars of run {run_ids[0]} ({scenario}):")
    bars = evaluate(summary, scenario)
    for bar in bars:
        print(f"  {'PASS' if bar.passed else 'FAIL'}  {bar.name}: {bar.value}")
    return 0 if all(bar.passed for bar in bars) else 1


if __name__ == "__main__":
    sys.exit(main())
