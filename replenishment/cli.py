"""Command line: the same pipeline as the DAG, without Airflow.

replenishment demo-warehouse [--url URL] [--skus N] [--years Y] [--seed S]
replenishment run --date 2026-07-01 [--url URL] [--horizon-days 28] [--holiday-country US]
replenishment summary --date 2026-07-01 [--url URL]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from typing import Any

from replenishment.config import Settings, parse_run_date


def _add_settings_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", dest="warehouse_url", help="SQLAlchemy URL of the warehouse")
    for field in dataclasses.fields(Settings):
        if field.name == "warehouse_url":
            continue
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            default=None,
            help=f"(default {field.default!r}; env REPLENISHMENT_{field.name.upper()})",
        )


def _settings(args: argparse.Namespace) -> Settings:
    names = {f.name for f in dataclasses.fields(Settings)}
    return Settings.load({k: v for k, v in vars(args).items() if k in names})


def summary_text(summary: dict[str, Any], settings: Settings) -> str:
    """A short human summary of a finished run."""
    from replenishment.reporting import view_statements

    where = settings.warehouse_url.split("@")[-1]
    schema = (
        settings.reporting_schema if not settings.warehouse_url.startswith("sqlite") else "main"
    )
    return "\n".join(
        [
            f"run date {summary['run_date']}: {summary['skus_total']} SKUs forecast "
            f"(prophet {summary['skus_prophet']}, intermittent {summary['skus_intermittent']}, "
            f"fallback {summary['skus_fallback']}, failed {summary['skus_failed']})",
            f"orders recommended: {summary['orders_placed']} "
            f"worth {summary['order_value']:,.2f} at unit cost",
            f"backtest WAPE {summary['wape'] if summary['wape'] is None else round(summary['wape'], 3)}"
            f" vs seasonal-naive {summary['baseline_wape'] if summary['baseline_wape'] is None else round(summary['baseline_wape'], 3)}",
            f"tables demand_forecast, replenishment_orders, forecast_accuracy, "
            f"data_quality_results, pipeline_runs in {where} (schema {schema})",
            "views for BI tools: " + ", ".join(name for name, _ in view_statements()),
            f"report: {summary.get('report_path') or '-'}",
        ]
    )


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("cmdstanpy", "prophet", "great_expectations"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["simulate"]:
        from replenishment.simulate import main as simulate_main

        _logging(False)
        return simulate_main(argv[1:])
    if argv[:1] == ["backtest"]:
        from replenishment.backtest import main as backtest_main

        _logging(False)
        return backtest_main(argv[1:])
    if argv[:1] == ["demo-warehouse"]:
        from replenishment.demo import main as demo_main

        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        return demo_main(argv[1:])
    parser = argparse.ArgumentParser(prog="replenishment", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the pipeline for one run date")
    run.add_argument("--date", required=True, help="run date D (YYYY-MM-DD)")
    _add_settings_options(run)
    summ = sub.add_parser("summary", help="print the stored run summary of a date")
    summ.add_argument("--date", required=True)
    summ.add_argument("--json", action="store_true", help="the whole pipeline_runs row as JSON")
    _add_settings_options(summ)
    sub.add_parser("demo-warehouse", help="create the demo warehouse (see demo-warehouse --help)")
    sub.add_parser("backtest", help="rolling-origin backtest (see backtest --help)")
    sub.add_parser("simulate", help="replay simulator of the policy (see simulate --help)")
    args = parser.parse_args(argv)
    _logging(args.verbose)

    settings = _settings(args)
    run_date = parse_run_date(args.date)
    if args.command == "run":
        from replenishment.pipeline import run_pipeline
        from replenishment.validate import DataQualityError

        try:
            summary = run_pipeline(settings, run_date)
        except DataQualityError as exc:
            print(f"validation failed for {run_date}:\n{exc}", file=sys.stderr)
            return 2
        print(summary_text(summary, settings))
        return 0

    from replenishment.db import make_engine
    from replenishment.load import read_output

    frame = read_output(
        make_engine(settings.warehouse_url), settings.reporting_schema, "pipeline_runs", run_date
    )
    if frame.empty:
        print(f"no run stored for {run_date}", file=sys.stderr)
        return 1
    row = {k: (None if v is None or v != v else v) for k, v in frame.iloc[0].to_dict().items()}
    if args.json:
        print(json.dumps(row, default=str, indent=2))
    else:
        print(summary_text(row, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
