"""Command line: ``replenishment simulate ...`` (the project CLI dispatches here).

Lives here: :func:`main`. May import every other simulate module.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
from pathlib import Path

from replenishment.config import Settings
from replenishment.simulate.config import DEMAND_MODES, SimulationConfig, parse_demand_shock
from replenishment.simulate.report import format_report
from replenishment.simulate.run import run_simulation
from replenishment.simulate.write import SKU_TABLE, SUMMARY_TABLE

log = logging.getLogger(__name__)


def parser() -> argparse.ArgumentParser:
    """The options of ``replenishment simulate``."""
    defaults = SimulationConfig(start=dt.date(2026, 1, 1))
    parser = argparse.ArgumentParser(
        prog="replenishment simulate",
        description="Replay the pipeline's policy and two baselines day by day over a "
        "historical window and compare service, stock and cost.",
    )
    parser.add_argument(
        "--url", default=None, help="SQLAlchemy URL (default: REPLENISHMENT_WAREHOUSE_URL)"
    )
    parser.add_argument(
        "--start", required=True, type=dt.date.fromisoformat, help="first simulated day"
    )
    parser.add_argument("--days", type=int, default=defaults.days, help="simulated days")
    parser.add_argument("--skus", type=int, default=None, help="only the first N SKUs")
    parser.add_argument(
        "--policy",
        choices=("periodic", "continuous"),
        default=None,
        help="the pipeline's policy (default: REPLENISHMENT_POLICY, else periodic)",
    )
    parser.add_argument("--demand-mode", choices=DEMAND_MODES, default=defaults.demand_mode)
    parser.add_argument(
        "--refit-every",
        type=int,
        default=defaults.refit_every,
        help="days between forecast refits; the last forecast is rolled forward in between",
    )
    parser.add_argument(
        "--backtest-every",
        type=int,
        default=defaults.backtest_every,
        help="backtest each SKU on one refit in this many (1 = every refit)",
    )
    parser.add_argument(
        "--holiday-country", default=None, help="default: REPLENISHMENT_HOLIDAY_COUNTRY, else US"
    )
    parser.add_argument(
        "--service-target",
        choices=("cycle", "fill_rate"),
        default=None,
        help="default: REPLENISHMENT_SERVICE_TARGET, else cycle",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="lead-time draws")
    parser.add_argument("--workers", type=int, default=0, help="forecast processes (0 = cores)")
    _output_options(parser)
    return parser


def _output_options(parser: argparse.ArgumentParser) -> None:
    """Scenarios, caching and where the results go."""
    parser.add_argument(
        "--forecast-cache",
        type=Path,
        default=None,
        help="directory keeping each refit's forecast, reused by later runs on the same "
        "warehouse (clear it when the warehouse changes)",
    )
    parser.add_argument(
        "--review-schedule",
        action="store_true",
        help="place the pipeline's orders only on each SKU's review days (every "
        "review_period_days) instead of every day",
    )
    parser.add_argument(
        "--supplier-delay-days",
        type=int,
        default=0,
        help="scenario: suppliers deliver N days later than the receipts the lead times "
        "are drawn from (planned lead times unchanged)",
    )
    parser.add_argument(
        "--stale-lead-time-days",
        type=int,
        default=0,
        help="scenario: the SKU master's planned lead times are N days shorter than the "
        "suppliers deliver, before and during the window (receipts unchanged)",
    )
    parser.add_argument(
        "--demand-shock",
        type=parse_demand_shock,
        default=None,
        metavar="FACTOR@DAY",
        help="scenario: demand multiplied by FACTOR from simulated day DAY on (e.g. 1.5@60)",
    )
    parser.add_argument("--run-id", default=None, help="key of the reporting rows")
    parser.add_argument(
        "--reporting-schema", default=None, help="default: REPLENISHMENT_REPORTING_SCHEMA"
    )
    parser.add_argument(
        "--write", action="store_true", help="write the results to the reporting tables"
    )
    parser.add_argument(
        "--summary-csv",
        type=Path,
        default=None,
        help="also save the summary table (inventory_simulation_summary rows) as CSV, "
        "e.g. for scripts/simulation_bars.py",
    )


def main(argv: list[str] | None = None) -> int:
    """``replenishment simulate --url URL --start YYYY-MM-DD [--days 180] ...``; prints the table."""
    options = parser()
    args = options.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    # one line per simulated day and policy otherwise
    logging.getLogger("replenishment.policy").setLevel(logging.WARNING)
    for noisy in ("cmdstanpy", "prophet"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        settings = Settings.load(
            {
                "policy": args.policy,
                "holiday_country": args.holiday_country,
                "service_target": args.service_target,
                "warehouse_url": args.url,
                "reporting_schema": args.reporting_schema,
            }
        )
        shock = args.demand_shock or (1.0, 0)
        cfg = SimulationConfig.from_settings(
            settings,
            start=args.start,
            days=args.days,
            demand_mode=args.demand_mode,
            refit_every=args.refit_every,
            backtest_every=args.backtest_every,
            max_skus=args.skus,
            seed=args.seed,
            workers=args.workers or max(1, os.cpu_count() or 1),
            run_id=args.run_id,
            review_schedule=args.review_schedule,
            supplier_delay_days=args.supplier_delay_days,
            stale_lead_time_days=args.stale_lead_time_days,
            demand_shock_factor=shock[0],
            demand_shock_day=shock[1],
        )
    except ValueError as exc:
        options.error(str(exc))
    try:
        result, written = run_simulation(
            settings.warehouse_url,
            cfg,
            settings.reporting_schema,
            write=args.write,
            forecast_cache=args.forecast_cache,
        )
    except ValueError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    print(format_report(result))
    if args.summary_csv is not None:
        result.summary.to_csv(args.summary_csv, index=False)
    if written:
        print(
            f"written: {written[SKU_TABLE]} rows to {SKU_TABLE}, "
            f"{written[SUMMARY_TABLE]} rows to {SUMMARY_TABLE} (run_id {cfg.key})"
        )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
